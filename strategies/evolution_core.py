"""Multi-objective evolution over an NNI HPO search space: the algorithm shared by both NNI adapters.

Ranking and survival are NSGA-II's (Deb, Pratap, Agarwal and Meyarivan, "A fast and elitist multiobjective
genetic algorithm: NSGA-II", IEEE Trans. Evol. Comput. 6(2):182-197, 2002): fast non-dominated sorting,
crowding distance and constrained domination (a candidate within every budget and constraint dominates
one outside; two outside compare by their total violation), as Optuna's ``NSGAIISampler`` does for its
``constraints_func``. NNI trials finish one at a time and in any order, so that the search does not
depend on that order the loop is generational: proposals are numbered, a generation of
``population_size`` proposals is made once every result of the previous one is in, and the survivors take
those results in by proposal number (docs/ARCHITECTURE.md, "Determinism"). Parents come from binary
tournaments on (front, crowding) and a child already proposed is redrawn. Generation 0 is a Latin hypercube
after any initial population; each later one is chosen among many candidates by a Parzen density ratio of
good over bad results (:mod:`.parzen`; docs/ARCHITECTURE.md, "Proposal model"), or, with
``proposals="nsga2"``, is NSGA-II's offspring as bred.

Variation, gene by gene:

- ``choice`` (and nested values of any JSON type): uniform crossover, mutation to another value.
- bounded numbers (``randint``, ``uniform``, ``quniform``, ``loguniform``, ``qloguniform``): simulated
  binary crossover (SBX; Deb and Agrawal, "Simulated binary crossover for continuous search space",
  Complex Systems 9:115-148, 1995) and polynomial mutation (Deb and Goyal, 1996), both in the bounded
  form of the NSGA-II reference code, on the value (log of the value for the ``log`` types).
- unbounded numbers (``normal``, ``qnormal``, ``lognormal``, ``qlognormal``): SBX without bounds and a
  Gaussian step of half the prior's ``sigma``, in the normal space (the log of the value for the ``log``
  types); nothing is truncated.

Values are sampled and quantised as NNI defines them (``nni/parameter_expressions.py``): ``randint`` is an
integer in ``[lower, upper)``; ``q`` types are ``round(x / q) * q``, clipped to ``[low, high]`` for the
bounded ones; ``log`` types are ``exp`` of a uniform/normal draw. A candidate is a tuple of genes: the
value index for ``choice``, the integer for ``randint``, the (quantised) value for the others, so
duplicates are detected after quantisation and the whole state (``state_dict``) is plain JSON.
Pure Python, no NNI imports.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from numbers import Real
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy.stats import qmc

from tnas_plugin.pareto import hypervolume_subset, non_dominated_sort

from .parzen import Dimension, density_ratio, sample

_logger = logging.getLogger(__name__)
_STANDARD_NORMAL = NormalDist()

Genome = tuple  # of int (choice index, randint value) and float (other numeric values)
STATE_VERSION = 3  # 1, 2: the steady-state search (refused); 3: generations of numbered proposals

NUMERIC_TYPES = ("randint", "uniform", "quniform", "loguniform", "qloguniform",
                 "normal", "qnormal", "lognormal", "qlognormal")
HPO_TYPES = ("choice", *NUMERIC_TYPES)
PROPOSALS = ("model", "nsga2")  # EvolutionOptions.proposals
INITIAL_DESIGNS = ("lhs", "random")  # EvolutionOptions.initial_design
GOOD_SPLITS = ("hypervolume", "crowding")  # EvolutionOptions.model_good


# An adapter told that a trial ended successfully without its final result yet waits this long for the
# result (NNI may deliver the end first) before recording the trial as failed.
LATE_RESULT_GRACE_S = 30.0


class SearchExhausted(Exception):
    """No candidate is left that has not been proposed already (or none was found within the retries)."""


class AwaitingResults(Exception):
    """The current generation is all handed out and the next one is bred from its results, some still pending."""


# ----------------------------------------------------------------------------------------------------
# NSGA-II ranking (Deb et al. 2002, sections III-A, III-B and IV-A): domination and sorting in tnas_plugin.pareto


def crowding_distance(objectives: Sequence[Sequence[float]]) -> list[float]:
    """Crowding distance of each point within one front (boundary points get infinity)."""
    distance = [0.0] * len(objectives)
    if not objectives:
        return distance
    for m in range(len(objectives[0])):
        order = sorted(range(len(objectives)), key=lambda i: objectives[i][m])
        low, high = objectives[order[0]][m], objectives[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(order, order[1:], order[2:]):
            distance[here] += (objectives[after][m] - objectives[before][m]) / (high - low)
    return distance


# ----------------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class EvolutionOptions:
    """Settings of the search; validated on construction (NNI swallows tuner exceptions later on).

    Parameters
    ----------
    objectives
        Metric keys to optimise and their direction, ``"max"`` or ``"min"``; default WAR and UAR, both
        maximised. Add e.g. ``"synops": "min"`` for a third objective.
    log_scale
        Objective keys (positive costs spanning orders of magnitude: energy, SynOps) whose crowding distance
        is measured on the logarithm of the value, so that halving the cost counts the same anywhere on the
        axis; on the raw scale the cheap end of the front looks crowded and its members are dropped first.
        Ranking is unchanged (the logarithm is monotonic); values are floored at 1e-12 before it.
    budgets
        Hard upper bounds on metric keys, e.g. ``{"synops": 1e6, "latency_steps": 200}``. A candidate over
        a budget is constraint-dominated (never on the Pareto front while one within budget exists); its
        violation is ``value / bound - 1``.
    constraints
        Two-sided bounds on metric keys, Optuna-style: ``{"params": [None, 1e5], "latency_ms": [1, 20]}``
        (``None`` leaves a side open). A candidate outside is constraint-dominated like one over budget;
        its violation is the distance to the interval, ``max(0, low - value) + max(0, value - high)``.
    population_size
        Survivors kept for breeding, and the size of each generation: generation 0 is
        ``initial_population`` (all of it) then the ``initial_design`` up to ``population_size`` proposals.
    mutation_prob
        Per-gene probability of mutation; ``None`` = 1 / number of genes.
    crossover_prob
        Probability that a child is a crossover of two parents rather than a copy of one.
    crossover_eta
        Distribution index of SBX for numeric genes: larger keeps children closer to their parents.
    mutation_eta
        Distribution index of polynomial mutation for bounded numeric genes: larger = smaller steps. The
        default is the value that kept the ends of a concave front best on ZDT2, of the tuning set of
        ``benchmarks/bench_tuner.py`` (figures in benchmarks/README.md); the NSGA-II paper's 20 lost them there.
    dedup_retries
        Redraws of an already-proposed child before falling back to random sampling (then giving up).
    seed
        Seed of the search's random generator (``None``: from the OS).
    initial_population
        Parameter dicts proposed first, before the space-filling design (e.g. known good architectures).
    proposals
        How generations after the first are chosen (docs/ARCHITECTURE.md, "Proposal model"): ``"model"``
        makes ``model_candidates`` candidates per place (drawn from the good results' density or bred, see
        ``model_sampled``) and proposes the one with the highest Parzen density ratio of good over bad
        results (:mod:`.parzen`); ``"nsga2"`` proposes NSGA-II's offspring as bred.
    model_candidates
        Candidates scored per proposal with ``proposals="model"``.
    model_gamma
        Share of the results the model takes as good: the best ``ceil(model_gamma * results)``, at most
        ``population_size`` (see ``model_good``); every other result (failures included) is bad.
    model_good
        How the good results are picked: ``"hypervolume"``, from all results by constrained front, the
        front that does not fit whole thinned by hypervolume contribution
        (:func:`tnas_plugin.pareto.hypervolume_subset`, as MOTPE splits); ``"crowding"``, from the
        survivors by (front, crowding distance), as before. Chosen on the tuning set (``model_sampled``).
    model_sampled
        Share of the scored candidates drawn from the good results' density ``l(x)`` itself (as TPE draws
        them) rather than bred by crossover and mutation. The defaults (24 candidates, all drawn, γ 0.25,
        ``model_until`` 300) were chosen on the tuning set of ``benchmarks/bench_tuner.py`` (ZDT1-3).
    model_until
        With ``proposals="model"``: once this many results are recorded, later generations are NSGA-II's
        offspring as bred (a model-based start handing over to evolution); ``None``: the model throughout.
        The default, 300, was chosen on the tuning set (the model alone fell behind plain NSGA-II at 1,000).
    initial_design
        How generation 0 is filled after ``initial_population``: ``"lhs"``, a Latin hypercube over the genes'
        prior quantiles (``scipy.stats.qmc.LatinHypercube``; every value of a ``choice`` appears once the
        design has at least twice as many points as values), or ``"random"``, independent draws.
    """

    objectives: Mapping[str, str] = field(default_factory=lambda: {"war": "max", "uar": "max"})
    log_scale: Sequence[str] = ()
    budgets: Mapping[str, float] = field(default_factory=dict)
    constraints: Mapping[str, Sequence[float | None]] = field(default_factory=dict)
    population_size: int = 20
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    crossover_eta: float = 15.0
    mutation_eta: float = 2.0
    dedup_retries: int = 100
    seed: int | None = None
    initial_population: Sequence[Mapping[str, Any]] = ()
    proposals: str = "model"
    model_candidates: int = 24
    model_gamma: float = 0.25
    model_sampled: float = 1.0
    model_good: str = "hypervolume"
    model_until: int | None = 300
    initial_design: str = "lhs"

    def __post_init__(self):
        def fail(message):
            raise ValueError(f"TNAS-ER evolution: {message}")

        if not isinstance(self.objectives, Mapping) or not self.objectives:
            fail(f"objectives must be a non-empty mapping of metric key -> 'max' | 'min', got {self.objectives!r}")
        for key, direction in self.objectives.items():
            if not isinstance(key, str) or direction not in ("max", "min"):
                fail(f"objective {key!r} must map a metric key to 'max' or 'min', got {direction!r}")
        if (isinstance(self.log_scale, (str, Mapping)) or not isinstance(self.log_scale, Sequence)
                or not all(key in self.objectives for key in self.log_scale)):
            fail(f"log_scale must be a list of objective keys ({sorted(self.objectives)}), got {self.log_scale!r}")
        if not isinstance(self.budgets, Mapping):
            fail(f"budgets must be a mapping of metric key -> upper bound, got {self.budgets!r}")
        for key, bound in self.budgets.items():
            if not isinstance(key, str) or not _is_number(bound) or not 0 < bound < math.inf:
                fail(f"budget {key!r} must be a positive finite number, got {bound!r}")
        if not isinstance(self.constraints, Mapping):
            fail(f"constraints must be a mapping of metric key -> [low, high], got {self.constraints!r}")
        for key, interval in self.constraints.items():
            if (not isinstance(key, str) or isinstance(interval, (str, Mapping)) or not isinstance(interval, Sequence)
                    or len(interval) != 2 or interval == [None, None] or list(interval) == [None, None]
                    or not all(side is None or (_is_number(side) and math.isfinite(side)) for side in interval)
                    or (None not in interval and interval[0] > interval[1])):
                fail(f"constraint {key!r} must be [low, high] with finite numbers, low <= high, one of them "
                     f"possibly null, got {interval!r}")
        if not _is_int(self.population_size) or self.population_size < 2:
            fail(f"population_size must be an integer >= 2, got {self.population_size!r}")
        if self.mutation_prob is not None and (not _is_number(self.mutation_prob) or not 0 < self.mutation_prob <= 1):
            fail(f"mutation_prob must be in (0, 1] or None, got {self.mutation_prob!r}")
        if not _is_number(self.crossover_prob) or not 0 <= self.crossover_prob <= 1:
            fail(f"crossover_prob must be in [0, 1], got {self.crossover_prob!r}")
        for name in ("crossover_eta", "mutation_eta"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value < math.inf:
                fail(f"{name} must be a non-negative finite number, got {value!r}")
        if not _is_int(self.dedup_retries) or self.dedup_retries < 1:
            fail(f"dedup_retries must be a positive integer, got {self.dedup_retries!r}")
        if self.seed is not None and not _is_int(self.seed):
            fail(f"seed must be an integer or None, got {self.seed!r}")
        if self.proposals not in PROPOSALS:
            fail(f"proposals must be one of {list(PROPOSALS)}, got {self.proposals!r}")
        if not _is_int(self.model_candidates) or self.model_candidates < 1:
            fail(f"model_candidates must be a positive integer, got {self.model_candidates!r}")
        if not _is_number(self.model_gamma) or not 0 < self.model_gamma < 1:
            fail(f"model_gamma must be in (0, 1), got {self.model_gamma!r}")
        if not _is_number(self.model_sampled) or not 0 <= self.model_sampled <= 1:
            fail(f"model_sampled must be in [0, 1], got {self.model_sampled!r}")
        if self.model_until is not None and (not _is_int(self.model_until) or self.model_until < 0):
            fail(f"model_until must be a non-negative integer or None, got {self.model_until!r}")
        if self.model_good not in GOOD_SPLITS:
            fail(f"model_good must be one of {list(GOOD_SPLITS)}, got {self.model_good!r}")
        if self.initial_design not in INITIAL_DESIGNS:
            fail(f"initial_design must be one of {list(INITIAL_DESIGNS)}, got {self.initial_design!r}")
        if isinstance(self.initial_population, (str, Mapping)) or not all(
            isinstance(params, Mapping) for params in self.initial_population
        ):
            fail("initial_population must be a list of parameter dicts")
        object.__setattr__(self, "objectives", dict(self.objectives))
        object.__setattr__(self, "log_scale", list(self.log_scale))
        object.__setattr__(self, "budgets", {key: float(bound) for key, bound in self.budgets.items()})
        object.__setattr__(self, "constraints", {
            key: [None if side is None else float(side) for side in interval] for key, interval in self.constraints.items()
        })
        object.__setattr__(self, "initial_population", [dict(params) for params in self.initial_population])

    @classmethod
    def from_dict(cls, arguments: Mapping[str, Any]) -> "EvolutionOptions":
        """Options from keyword arguments (NNI ``classArgs``), naming any unknown key in the error."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(arguments) - set(known))
        if unknown:
            raise ValueError(f"TNAS-ER evolution: unknown option(s) {unknown}; the options are {known}")
        return cls(**arguments)

    def to_dict(self) -> dict:
        return asdict(self)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _plain(value):
    """JSON fallback for numpy scalars and the like (``json.dumps(default=...)``)."""
    return value.item() if hasattr(value, "item") else str(value)


# ----------------------------------------------------------------------------------------------------
# Genes: one per search-space label, NNI's HPO types


class Gene:
    """One label of an NNI HPO search space: how its values are sampled, varied and checked.

    Parameters
    ----------
    label
        The search-space key.
    entry
        Its ``{"_type": ..., "_value": [...]}`` as NNI defines it (``docs/source/hpo/search_space.rst``):
        ``choice [values]``, ``randint [lower, upper)``, ``(q)uniform`` and ``(q)loguniform [low, high(, q)]``,
        ``(q)normal`` and ``(q)lognormal [mu, sigma(, q)]``.

    A gene value is the index of the value for ``choice``, the integer for ``randint`` and the
    (quantised, clipped) float for the others. Variation happens in the gene's *space*: the value, or
    its logarithm for the ``log`` types (and ``randint`` as a real in ``[lower - 0.5, upper - 0.5]``).
    """

    def __init__(self, label: str, entry: Mapping):
        kind = entry.get("_type") if isinstance(entry, Mapping) else type(entry).__name__
        spec = entry.get("_value") if isinstance(entry, Mapping) else None

        def fail(message):
            raise ValueError(f"search-space entry {label!r} ({kind!r}): {message}")

        if kind not in HPO_TYPES:
            fail(f"unknown type; TNAS-ER evolution explores NNI's {', '.join(HPO_TYPES)}")
        if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec:
            fail(f"needs a non-empty '_value' list, got {spec!r}")
        self.label, self.type, self.spec = label, kind, list(spec)
        self.categorical = kind == "choice"
        self.log = "log" in kind
        self.q: float | None = None
        self.low = self.high = None  # value bounds (bounded types)
        self.lo, self.hi = -math.inf, math.inf  # bounds in the gene's space
        self.sigma = 1.0
        if kind == "choice":
            if all(isinstance(v, Mapping) and "_name" in v for v in spec):
                fail("nested search spaces are not supported")
            self.size = len(spec)
            return
        arity = 3 if kind.startswith("q") else 2
        if len(spec) != arity or not all(_is_number(v) and math.isfinite(v) for v in spec):
            fail(f"needs {arity} finite numbers, got {spec!r}")
        if arity == 3:
            self.q = float(spec[2])
            if self.q <= 0:
                fail(f"q must be positive, got {spec[2]!r}")
        if kind == "randint":
            if not all(float(v).is_integer() for v in spec) or spec[0] >= spec[1]:
                fail(f"needs integers lower < upper, got {spec!r}")
            self.low, self.high = int(spec[0]), int(spec[1]) - 1
            self.lo, self.hi = self.low - 0.5, self.high + 0.5
            self.size = self.high - self.low + 1
        elif "uniform" in kind:
            self.low, self.high = float(spec[0]), float(spec[1])
            if self.low >= self.high or (self.log and self.low <= 0):
                fail(f"needs low < high{' and low > 0' if self.log else ''}, got {spec!r}")
            self.lo, self.hi = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
            self.size = round(self.high / self.q) - round(self.low / self.q) + 1 if self.q else math.inf
        else:
            self.mu, self.sigma = float(spec[0]), float(spec[1])
            if self.sigma <= 0:
                fail(f"needs sigma > 0, got {spec!r}")
            self.size = math.inf

    @property
    def bounded(self) -> bool:
        return self.lo > -math.inf

    def sample(self, rng: random.Random):
        """A gene value drawn from NNI's distribution of the entry."""
        if self.categorical:
            return rng.randrange(self.size)
        if self.type == "randint":
            return rng.randint(self.low, self.high)
        if self.bounded:
            return self.from_space(rng.uniform(self.lo, self.hi))
        return self.from_space(rng.gauss(self.mu, self.sigma))

    def from_space(self, x: float):
        """The gene value at ``x`` of the gene's space: exp for log types, then quantised and clipped as NNI does."""
        if self.type == "randint":
            return min(max(int(round(x)), self.low), self.high)
        value = math.exp(min(x, 709.0)) if self.log else x  # 709: exp's float range (not a search bound)
        if self.q is not None:
            value = round(value / self.q) * self.q
        if self.bounded:
            value = min(max(value, self.low), self.high)
        return float(value)

    def to_space(self, value) -> float:
        """Where a gene value lies in the gene's space (for a quantised 0 of qlognormal: inside its cell)."""
        if self.log:
            return math.log(value) if value > 0 else math.log(self.q / 4)
        return float(value)

    def dimension(self) -> Dimension:
        """The gene as a coordinate of the proposal model (:mod:`.parzen`)."""
        return Dimension(self.size if self.categorical else None, self.bounded)

    def unit(self, value) -> float:
        """The model coordinate of a gene value: the index for ``choice``; for numbers the position in the
        gene's space scaled to ``[0, 1]`` (bounded) or standardised by the prior (unbounded)."""
        if self.categorical:
            return float(value)
        y = self.to_space(value)
        return (y - self.lo) / (self.hi - self.lo) if self.bounded else (y - self.mu) / self.sigma

    def from_unit(self, u: float):
        """The gene value nearest to model coordinate ``u`` (the inverse of :meth:`unit`)."""
        if self.categorical:
            return min(max(int(round(u)), 0), self.size - 1)
        y = self.lo + u * (self.hi - self.lo) if self.bounded else self.mu + u * self.sigma
        return self.from_space(min(max(y, self.lo), self.hi))

    def at_quantile(self, u: float):
        """The gene value at quantile ``u`` in [0, 1) of the prior NNI samples from (the inverse of its CDF)."""
        if self.categorical:
            return min(int(u * self.size), self.size - 1)
        if self.type == "randint":
            return min(self.low + int(u * self.size), self.high)
        if self.bounded:
            return self.from_space(self.lo + u * (self.hi - self.lo))
        return self.from_space(self.mu + self.sigma * _STANDARD_NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12)))

    def canonical(self, value):
        """The gene value of a parameter value; ValueError if it is outside the entry."""
        if self.categorical:
            try:
                return self.spec.index(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a choice of {self.label!r} ({self.spec!r})") from None
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number ({self.label!r} is {self.type})")
        if self.type == "randint":
            if not float(value).is_integer() or not self.low <= value <= self.high:
                raise ValueError(f"{value!r} is not an integer in [{self.low}, {self.high + 1}) ({self.label!r})")
            return int(value)
        if self.bounded and not self.low <= value <= self.high:
            raise ValueError(f"{value!r} is outside [{self.low}, {self.high}] ({self.label!r})")
        if self.log and value < 0 or (self.log and value == 0 and self.q is None):
            raise ValueError(f"{value!r} is not positive ({self.label!r} is {self.type})")
        if self.q is not None:
            value = round(value / self.q) * self.q
            if self.bounded:
                value = min(max(value, self.low), self.high)
        return float(value)

    def decode(self, gene_value):
        return self.spec[gene_value] if self.categorical else gene_value

    def fingerprint(self) -> list:
        """Identifies the entry in a saved state. Numeric bounds compare as floats: NNI's manager (Node)
        hands the tuner ``1`` for a ``1.0`` written in the search-space file."""
        return [self.type, [repr(v) if self.categorical else repr(float(v)) for v in self.spec]]

    # -- variation (in the gene's space) ---------------------------------------------------------------

    def crossover(self, rng: random.Random, a, b, eta: float):
        """One child of parents' gene values ``a`` and ``b``: uniform for ``choice``, else SBX.

        SBX as in the NSGA-II reference code (Deb et al.): the spread factor's distribution is
        truncated so that both children stay within the bounds; with no bounds it is the original
        unbounded SBX. One of the two children is returned at random.
        """
        if self.categorical:
            return a if rng.random() < 0.5 else b
        y1, y2 = sorted((self.to_space(a), self.to_space(b)))
        if y2 - y1 < 1e-14:
            return a
        u = rng.random()
        children = []
        for distance_to_bound in (y1 - self.lo, self.hi - y2):
            beta = 1 + 2 * distance_to_bound / (y2 - y1)
            alpha = 2 - beta ** -(eta + 1)
            betaq = (u * alpha) ** (1 / (eta + 1)) if u <= 1 / alpha else (1 / (2 - u * alpha)) ** (1 / (eta + 1))
            children.append(betaq)
        c1 = 0.5 * ((y1 + y2) - children[0] * (y2 - y1))
        c2 = 0.5 * ((y1 + y2) + children[1] * (y2 - y1))
        child = c1 if rng.random() < 0.5 else c2
        return self.from_space(min(max(child, self.lo), self.hi))

    def mutate(self, rng: random.Random, value, eta: float):
        """A mutated gene value: another value for ``choice``, polynomial mutation for bounded numbers
        (the NSGA-II reference code's form), a Gaussian step of ``sigma / 2`` for unbounded ones."""
        if self.categorical:
            draw = rng.randrange(self.size - 1)
            return draw + (draw >= value)
        y = self.to_space(value)
        if not self.bounded:
            return self.from_space(rng.gauss(y, self.sigma / 2))
        width = self.hi - self.lo
        u, power = rng.random(), 1 / (eta + 1)
        if u < 0.5:
            xy = 1 - (y - self.lo) / width
            deltaq = (2 * u + (1 - 2 * u) * xy ** (eta + 1)) ** power - 1
        else:
            xy = 1 - (self.hi - y) / width
            deltaq = 1 - (2 * (1 - u) + 2 * (u - 0.5) * xy ** (eta + 1)) ** power
        return self.from_space(min(max(y + deltaq * width, self.lo), self.hi))


def parse_space(search_space: Mapping[str, Mapping]) -> list[Gene]:
    """The genes of an NNI HPO search space (every type of NNI, nested choices excepted)."""
    if not isinstance(search_space, Mapping) or not search_space:
        raise ValueError(f"the search space must be a non-empty dict in NNI's HPO format, got {search_space!r}")
    return [Gene(label, entry) for label, entry in search_space.items()]


# ----------------------------------------------------------------------------------------------------
# The search


@dataclass
class _Record:
    genome: Genome
    metrics: dict | None  # None = failed
    objectives: tuple[float, ...] = ()  # minimised
    violation: float = 0.0


class ParetoEvolution:
    """Generational NSGA-II over ``search_space`` (an NNI HPO dict; every NNI type, see :class:`Gene`).

    ``ask()`` proposes parameters; ``tell(params, metrics)`` records a result: a metric dict (or a bare
    number, taken as ``{"default": number}``), or ``None`` for a failed trial. A failed candidate is
    kept in the history, never proposed again, and never stops the search. ``pareto_front()`` lists the
    non-dominated candidates within budgets and constraints; ``state_dict()`` / ``load_state_dict()``
    save and restore the search exactly, and ``requeue_pending()`` hands the asks a stopped search left
    unanswered out again.

    The search is reproducible whatever the order and timing of the results (docs/ARCHITECTURE.md,
    "Determinism"). Proposals are numbered and come in generations: generation 0 is ``initial_population``
    then a Latin hypercube up to ``population_size``; generation ``g + 1`` is ``population_size`` proposals
    bred once every candidate of generation ``g`` has a result, after the survivors have taken in those
    results in proposal order. So each proposal depends only on the seed and on the results of earlier
    generations, never on when they arrived. Several asks may be outstanding at once (parallel trials);
    an ask that would need a result still pending raises :class:`AwaitingResults`.

    Parameters
    ----------
    search_space
        NNI HPO search space, ``{label: {"_type": ..., "_value": [...]}}``.
    options
        :class:`EvolutionOptions` (defaults if ``None``).
    canonical
        ``canonical(params) -> params``: the representative of every sample that builds the same model (e.g.
        ``TTFSEyeSpace.canonical_sample``, which resets inert labels). Proposals and results are mapped
        to it, so no model is proposed twice however its inert labels differ.
    """

    def __init__(self, search_space: Mapping[str, Mapping], options: EvolutionOptions | None = None,
                 canonical: Callable[[dict], dict] | None = None):
        self.options = options or EvolutionOptions()
        self._canonical = canonical
        self.genes = parse_space(search_space)
        self.labels = [gene.label for gene in self.genes]
        self.size = math.prod(gene.size for gene in self.genes)
        self.mutation_prob = self.options.mutation_prob or 1 / len(self.genes)
        self._rng = random.Random(self.options.seed)
        self._records: list[_Record] = []  # results in arrival order
        self._index: dict[Genome, int] = {}  # genome -> position in _records
        self._proposals: list[Genome] = []  # every candidate bred, by proposal index
        self._number: dict[Genome, int] = {}  # genome -> proposal index
        self._generations: list[int] = []  # first proposal index of each generation
        self._handed = 0  # proposals handed out by ask(), in proposal order
        self._pending: list[Genome] = []
        self._requeued: list[Genome] = []
        self._imported: list[int] = []  # positions in _records of results for unproposed candidates, not admitted yet
        self._population: list[int] = []  # positions in _records: the survivors
        self._initial = [self.encode(params) for params in self.options.initial_population]
        self._unit_rows: dict[Genome, list[float]] = {}  # the proposal model's coordinates of recorded genomes

    # -- encoding -------------------------------------------------------------------------------------

    def encode(self, params: Mapping[str, Any]) -> Genome:
        """The genome of ``params`` (extra keys are ignored; numbers are quantised as NNI does);
        ValueError if it is not in the space. With ``canonical``, the genome of the canonical form."""
        if self._canonical is not None:
            params = self._canonical(dict(params))
        genome = []
        for gene in self.genes:
            if gene.label not in params:
                raise ValueError(f"parameters {dict(params)!r} lack the search-space label {gene.label!r}")
            genome.append(gene.canonical(params[gene.label]))
        return tuple(genome)

    def decode(self, genome: Genome) -> dict[str, Any]:
        return {gene.label: gene.decode(value) for gene, value in zip(self.genes, genome)}

    # -- ask / tell -----------------------------------------------------------------------------------

    def ask(self) -> dict[str, Any]:
        """Parameters of a new candidate, never proposed before.

        Candidates put back by :meth:`requeue_pending` come first, then the proposals in their order,
        generation after generation. Raises :class:`AwaitingResults` when the current generation is all
        handed out and some of its results are still pending, :class:`SearchExhausted` when no new
        candidate is left.
        """
        genome = self._requeued.pop(0) if self._requeued else self._next_proposal()
        self._pending.append(genome)
        return self.decode(genome)

    def records(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` has a record: a result, or a failure."""
        try:
            return self.encode(params) in self._index
        except ValueError:  # not a point of this space: no record of it
            return False

    def tell(self, params: Mapping[str, Any], metrics: Mapping[str, Any] | Real | None) -> None:
        """Record the result of ``params`` (``None`` = failed). Results for unasked candidates are imported:
        the survivors take them in at the next generation, in arrival order."""
        genome = self.encode(params)
        if genome in self._pending:
            self._pending.remove(genome)
        if genome in self._requeued:
            self._requeued.remove(genome)
        record = self._make_record(genome, metrics)
        known = self._index.get(genome)
        if known is not None:
            if self._records[known].metrics is not None:
                _logger.warning("Ignoring a second result for %s: it already has one.", self.decode(genome))
                return
            if record.metrics is None:
                return
            _logger.info("A result arrived for %s after it had been recorded as failed.", self.decode(genome))
            self._records[known] = record
            if self._number.get(genome, math.inf) < self._admitted_until() or (
                    genome not in self._number and known not in self._imported):
                self._admit(known)
            return
        self._index[genome] = len(self._records)
        self._records.append(record)
        if genome not in self._number:
            self._imported.append(len(self._records) - 1)

    def claim(self, params: Mapping[str, Any]) -> None:
        """``params``, put back by :meth:`requeue_pending`, runs again elsewhere (NNI restarted its trial on
        resume): take it out of the queue and keep it pending, so that it is not proposed twice."""
        genome = self.encode(params)
        if genome in self._requeued:
            self._requeued.remove(genome)
            self._pending.append(genome)

    def requeue_pending(self) -> list[dict[str, Any]]:
        """Put every unanswered ask back in front of the queue; return their parameters.

        This is the resume mechanism for orphaned candidates. Call it when the asks still pending will
        never be answered: typically right after :meth:`load_state_dict` in a new process, because
        the trials that were running when the search stopped died with it. Those candidates are
        neither left pending forever nor recorded as failed: the next :meth:`ask` calls return them
        first, in their original order, before anything new. A result that arrives for one of them
        in the meantime (e.g. NNI re-importing a trial that had finished) is recorded as usual and
        takes it out of the queue. Both NNI adapters call this on resume (the nnictl tuner after
        reloading its checkpoint, the NAS strategy in ``load_state_dict``).
        """
        self._requeued.extend(self._pending)
        self._pending = []
        return [self.decode(genome) for genome in self._requeued]

    def pareto_front(self) -> list[dict[str, Any]]:
        """Non-dominated evaluated candidates within every budget and constraint, best first by the
        first objective (ties in proposal order).

        Each entry is ``{"params": ..., "metrics": ...}`` (the whole metric dict the trial reported).
        """
        feasible = [r for r in self._ordered_records() if r.metrics is not None and r.violation == 0]
        if not feasible:
            return []
        front = [feasible[i] for i in non_dominated_sort([(r.objectives, 0.0) for r in feasible])[0]]
        front.sort(key=lambda r: r.objectives)
        return [{"params": self.decode(r.genome), "metrics": r.metrics} for r in front]

    def history(self) -> list[dict[str, Any]]:
        """Every recorded result, ``{"params": ..., "metrics": dict | None}``: the proposals in proposal
        order, then results for candidates the search did not propose (imports) in arrival order."""
        return [{"params": self.decode(r.genome), "metrics": r.metrics} for r in self._ordered_records()]

    def has_result(self, params: Mapping[str, Any]) -> bool:
        """Whether a result (a failure included) is recorded for ``params``; False for parameters outside the space."""
        try:
            return self.encode(params) in self._index
        except ValueError:
            return False

    def awaiting_results(self) -> bool:
        """Whether the next :meth:`ask` would raise :class:`AwaitingResults` (it uses no random draw to tell)."""
        if self._requeued or not self._generations or any(
                genome not in self._index for genome in self._proposals[self._handed:]):
            return False
        return any(genome not in self._index for genome in self._proposals[self._generations[-1]:])

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Asked candidates without a result yet."""
        return [self.decode(genome) for genome in self._pending]

    @property
    def requeued(self) -> list[dict[str, Any]]:
        """Candidates :meth:`requeue_pending` put back, not yet proposed again."""
        return [self.decode(genome) for genome in self._requeued]

    @property
    def generation(self) -> int:
        """The number of the latest generation bred (-1 before the first ask)."""
        return len(self._generations) - 1

    # -- state ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The search's state as plain JSON data (results, proposals, survivors, pending asks, generator state)."""
        version, internal, gauss = self._rng.getstate()
        return {
            "version": STATE_VERSION,
            "space": self._fingerprint(),
            "rng": [version, list(internal), gauss],
            "records": [[list(r.genome), r.metrics] for r in self._records],
            "proposals": [list(genome) for genome in self._proposals],
            "generations": list(self._generations),
            "handed": self._handed,
            "pending": [list(genome) for genome in self._pending],
            "requeued": [list(genome) for genome in self._requeued],
            "imported": list(self._imported),
            "population": list(self._population),
            "initial": [list(genome) for genome in self._initial],
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore a :meth:`state_dict` taken from a search over the same space (version 3).

        Versions 1 and 2 come from the steady-state search of earlier releases, whose course depended on
        the order results arrived in; they are refused. Pending asks stay pending: call
        :meth:`requeue_pending` if they will never be answered.
        """
        version = state.get("version")
        if version != STATE_VERSION:
            raise ValueError(f"unsupported state version {version!r} (expected {STATE_VERSION}; versions 1 and 2 "
                             "were written by the steady-state search of earlier releases: start a new search)")
        if state["space"] != self._fingerprint():
            raise ValueError("the saved state belongs to a different search space")
        rng_version, internal, gauss = state["rng"]
        self._rng.setstate((rng_version, tuple(internal), gauss))
        self._records = [self._make_record(tuple(genome), metrics) for genome, metrics in state["records"]]
        self._index = {r.genome: i for i, r in enumerate(self._records)}
        self._proposals = [tuple(genome) for genome in state["proposals"]]
        self._number = {genome: i for i, genome in enumerate(self._proposals)}
        self._generations = list(state["generations"])
        self._handed = int(state["handed"])
        self._pending = [tuple(genome) for genome in state["pending"]]
        self._requeued = [tuple(genome) for genome in state["requeued"]]
        self._imported = list(state["imported"])
        self._population = list(state["population"])
        self._initial = [tuple(genome) for genome in state["initial"]]

    # -- internals ------------------------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, list]:
        return {gene.label: gene.fingerprint() for gene in self.genes}

    def _make_record(self, genome: Genome, metrics) -> _Record:
        if metrics is None:
            return _Record(genome, None)
        if _is_number(metrics):
            metrics = {"default": metrics}
        if not isinstance(metrics, Mapping):
            _logger.error("Result %r of %s is neither a dict nor a number: recorded as failed.", metrics, self.decode(genome))
            return _Record(genome, None)
        metrics = json.loads(json.dumps(dict(metrics), default=_plain))
        for key in [*self.options.objectives, *self.options.budgets, *self.options.constraints]:
            value = metrics.get(key)
            if not _is_number(value) or not math.isfinite(value):
                _logger.error("Result of %s has no finite %r (%r): recorded as failed.", self.decode(genome), key, value)
                return _Record(genome, None)
        objectives = tuple(
            (math.log(max(metrics[key], 1e-12)) if key in self.options.log_scale else metrics[key])
            * (-1 if direction == "max" else 1)
            for key, direction in self.options.objectives.items()
        )
        violation = sum(max(0.0, metrics[key] / bound - 1) for key, bound in self.options.budgets.items())
        for key, (low, high) in self.options.constraints.items():
            if low is not None:
                violation += max(0.0, low - metrics[key])
            if high is not None:
                violation += max(0.0, metrics[key] - high)
        return _Record(genome, metrics, objectives, violation)

    def _ordered_records(self) -> list[_Record]:
        """The results of the proposals in proposal order, then the imported ones in arrival order."""
        return [self._records[i] for i in self._ordered_indices()]

    def _ordered_indices(self) -> list[int]:
        """Positions in ``_records`` of :meth:`_ordered_records`."""
        last = len(self._proposals)
        return sorted(range(len(self._records)), key=lambda i: (self._number.get(self._records[i].genome, last), i))

    def _admitted_until(self) -> int:
        """Proposals numbered below this have been taken in by the survivors (all but the latest generation)."""
        return self._generations[-1] if self._generations else 0

    def _admit(self, index: int) -> None:
        """Add a result to the survivors and drop the worst one if the population overflows."""
        if self._records[index].metrics is None:
            return
        self._population.append(index)
        if len(self._population) > self.options.population_size:
            ranks, crowding = self._rank(self._population)
            worst = max(range(len(self._population)), key=lambda i: (ranks[i], -crowding[i]))
            del self._population[worst]

    def _rank(self, members: Sequence[int]) -> tuple[list[int], list[float]]:
        """Front number and crowding distance of each member (by position in ``members``)."""
        records = [self._records[i] for i in members]
        ranks, crowding = [0] * len(records), [0.0] * len(records)
        for rank, front in enumerate(non_dominated_sort([(r.objectives, r.violation) for r in records])):
            for position, distance in zip(front, crowding_distance([records[i].objectives for i in front])):
                ranks[position], crowding[position] = rank, distance
        return ranks, crowding

    def _seen(self, genome: Genome) -> bool:
        return genome in self._number or genome in self._index

    def _next_proposal(self) -> Genome:
        """The next proposal not answered yet (a result may have been imported for one), breeding as needed."""
        while True:
            if self._handed == len(self._proposals):
                self._breed()
            genome = self._proposals[self._handed]
            self._handed += 1
            if genome not in self._index:
                return genome

    def _breed(self) -> None:
        """Append the next generation to the proposals, once the current one has all its results.

        The survivors first take in the current generation's results in proposal order, then the imported
        ones in arrival order; the generator is used here only, so the proposals depend on the seed and on
        those results, not on when they arrived.
        """
        start = len(self._proposals)
        if self._generations and self._generations[-1] == start:
            raise SearchExhausted("no new candidate is left: the latest generation found none")
        if self._generations:
            current = self._proposals[self._generations[-1]:]
            missing = sum(genome not in self._index for genome in current)
            if missing:
                raise AwaitingResults(f"generation {self.generation} awaits {missing} result(s) before the next is bred")
            for genome in current:
                self._admit(self._index[genome])
        for index in self._imported:
            self._admit(index)
        self._imported = []
        self._generations.append(start)
        if start == 0:
            for genome in self._initial:
                if not self._seen(genome):
                    self._propose(genome)
            self._initial = []
        target = start + self.options.population_size
        generators = [self._random_genome]
        if self._population and start:
            ranks, crowding = self._rank(self._population)
            generators.insert(0, functools.partial(self._offspring, ranks, crowding))
            if self.options.proposals == "model" and (self.options.model_until is None
                                                      or len(self._records) < self.options.model_until):
                self._propose_by_model(target - start, generators, ranks, crowding)
        elif start == 0 and self.options.initial_design == "lhs":
            self._propose_design(target - len(self._proposals))
        while len(self._proposals) < target and (genome := self._draw(generators, set())) is not None:
            self._propose(genome)
        if len(self._proposals) == start:
            raise SearchExhausted(f"all {self.size} candidates of the space have been proposed"
                                  if len(self._number) + len(self._imported_genomes()) >= self.size
                                  else f"no new candidate found in {self.options.dedup_retries} draws")

    def _imported_genomes(self) -> set[Genome]:
        return {genome for genome in self._index if genome not in self._number}

    def _draw(self, generators: Sequence[Callable[[], Genome]], taken: set[Genome]) -> Genome | None:
        """A candidate neither seen before nor in ``taken``, from the first generator that finds one within
        ``dedup_retries`` draws; None when none does."""
        if self.size < math.inf and len(self._number) + len(self._imported_genomes()) + len(taken) >= self.size:
            return None
        for generate in generators:
            for _ in range(self.options.dedup_retries):
                genome = self._settle(generate())
                if not self._seen(genome) and genome not in taken:
                    return genome
        return None

    def _propose_design(self, count: int) -> None:
        """Propose up to ``count`` points of a Latin hypercube over the genes' prior quantiles (McKay, Beckman
        and Conover, Technometrics 21(2), 1979), skipping those already seen."""
        if count <= 0:
            return
        design = qmc.LatinHypercube(d=len(self.genes), rng=self._rng.getrandbits(64)).random(count)
        for row in design:
            genome = self._settle(tuple(gene.at_quantile(u) for gene, u in zip(self.genes, row)))
            if not self._seen(genome):
                self._propose(genome)

    def _propose_by_model(self, count: int, generators: Sequence[Callable[[], Genome]],
                          ranks: Sequence[int], crowding: Sequence[float]) -> None:
        """Propose up to ``count`` candidates, each the best of ``model_candidates`` fresh candidates by the
        density ratio of good over bad results (:mod:`.parzen`; docs/ARCHITECTURE.md, "Proposal model").

        Good: the best ``ceil(model_gamma * results)`` results, at most ``population_size``, picked as
        ``model_good`` says; bad: every other result, failures included. Once some results are failures or
        outside a budget or constraint, the score adds the density ratio of the other results over those
        (c-TPE: Watanabe and Hutter, IJCAI 2023). Candidates are made first and scored together, and place
        ``j`` takes the best of candidates ``j, j + count, ...``, so the places keep their different parents.
        """
        ordered = self._ordered_indices()
        good_count = min(self.options.population_size, math.ceil(self.options.model_gamma * len(ordered)))
        if good_count >= len(ordered):
            return
        good = self._good_results(ordered, good_count, ranks, crowding)
        dims = [gene.dimension() for gene in self.genes]
        good_units = self._units(self._records[i].genome for i in ordered if i in good)
        wanted = count * self.options.model_candidates
        taken: set[Genome] = set()
        pool: list[Genome] = []
        for row in sample(good_units, dims, np.random.default_rng(self._rng.getrandbits(64)),
                          round(wanted * self.options.model_sampled)):
            genome = self._settle(tuple(gene.from_unit(u) for gene, u in zip(self.genes, row)))
            if not self._seen(genome) and genome not in taken:
                taken.add(genome)
                pool.append(genome)
        while len(pool) < wanted and (genome := self._draw(generators, taken)) is not None:
            taken.add(genome)
            pool.append(genome)
        if not pool:
            return
        candidates = self._units(pool)
        score = density_ratio(good_units, self._units(self._records[i].genome for i in ordered if i not in good),
                              dims, candidates)
        outside = {i for i in ordered if self._records[i].metrics is None or self._records[i].violation > 0}
        if outside and len(outside) < len(ordered):  # c-TPE: also the density ratio of feasible over infeasible
            score += density_ratio(self._units(self._records[i].genome for i in ordered if i not in outside),
                                   self._units(self._records[i].genome for i in outside), dims, candidates)
        places = min(count, len(pool))
        for place in range(places):
            self._propose(pool[max(range(place, len(pool), places), key=lambda i: score[i])])

    def _good_results(self, ordered: Sequence[int], count: int,
                      ranks: Sequence[int], crowding: Sequence[float]) -> set[int]:
        """Positions in ``_records`` of the proposal model's ``count`` good results (``model_good``)."""
        if self.options.model_good == "crowding":
            best_first = sorted(range(len(self._population)), key=lambda i: (ranks[i], -crowding[i], i))
            return {self._population[i] for i in best_first[:count]}
        scored = [i for i in ordered if self._records[i].metrics is not None]
        good: list[int] = []
        for front in non_dominated_sort([(self._records[i].objectives, self._records[i].violation) for i in scored]):
            members = [scored[j] for j in front]
            if len(good) + len(members) > count:
                kept = hypervolume_subset([self._records[i].objectives for i in members], count - len(good))
                members = [members[j] for j in kept]
            good += members
            if len(good) == count:
                break
        return set(good)

    def _units(self, genomes) -> np.ndarray:
        """The proposal model's coordinates of ``genomes`` (one row each)."""
        rows = []
        for genome in genomes:
            if genome not in self._unit_rows:
                self._unit_rows[genome] = [gene.unit(value) for gene, value in zip(self.genes, genome)]
            rows.append(self._unit_rows[genome])
        return np.array(rows, dtype=float).reshape(-1, len(self.genes))

    def _settle(self, genome: Genome) -> Genome:
        """The canonical form of a new genome (itself without ``canonical``)."""
        return genome if self._canonical is None else self.encode(self.decode(genome))

    def _propose(self, genome: Genome) -> None:
        self._number[genome] = len(self._proposals)
        self._proposals.append(genome)

    def _random_genome(self) -> Genome:
        return tuple(gene.sample(self._rng) for gene in self.genes)

    def _offspring(self, ranks: Sequence[int], crowding: Sequence[float]) -> Genome:
        """A child of two binary-tournament winners on (front, crowding) among the survivors."""
        def tournament() -> Genome:
            a, b = (self._rng.randrange(len(self._population)) for _ in range(2))
            winner = a if (ranks[a], -crowding[a]) <= (ranks[b], -crowding[b]) else b
            return self._records[self._population[winner]].genome

        first, second = tournament(), tournament()
        child = list(first)
        if self._rng.random() < self.options.crossover_prob:
            for i, gene in enumerate(self.genes):
                if gene.categorical or self._rng.random() < 0.5:  # SBX on about half the numeric genes
                    child[i] = gene.crossover(self._rng, first[i], second[i], self.options.crossover_eta)
                elif self._rng.random() < 0.5:  # the others: from either parent
                    child[i] = second[i]
        mutable = [i for i, gene in enumerate(self.genes) if gene.size > 1]
        for i in mutable:
            if self._rng.random() < self.mutation_prob:
                child[i] = self.genes[i].mutate(self._rng, child[i], self.options.mutation_eta)
        if tuple(child) in (first, second) and mutable:
            i = self._rng.choice(mutable)
            child[i] = self.genes[i].mutate(self._rng, child[i], self.options.mutation_eta)
        return tuple(child)
