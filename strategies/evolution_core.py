"""Multi-objective evolution over a categorical search space: the algorithm shared by both NNI adapters.

Ranking and survival are NSGA-II's (Deb, Pratap, Agarwal and Meyarivan, "A fast and elitist multiobjective
genetic algorithm: NSGA-II", IEEE Trans. Evol. Comput. 6(2):182-197, 2002): fast non-dominated sorting,
crowding distance and, for hard budgets, constrained domination (a candidate within every budget
dominates one over budget; two over budget compare by their total violation). Because NNI trials finish
one at a time and in any order, the loop is steady-state (one offspring per trial, one survivor selection
per result) rather than generational: parents come from binary tournaments on (front, crowding), the
child from uniform crossover and per-label mutation, and a child already proposed is redrawn.

The space is NNI's HPO format restricted to ``{label: {"_type": "choice", "_value": [...]}}``. A candidate
is handled internally as a tuple of value indices, so the whole state (``state_dict``) is plain JSON
whatever the values are. Pure Python, no NNI imports.
"""
from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from numbers import Real
from typing import Any

_logger = logging.getLogger(__name__)

Genome = tuple[int, ...]
STATE_VERSION = 1


class SearchExhausted(Exception):
    """No candidate is left that has not been proposed already (or none was found within the retries)."""


# ----------------------------------------------------------------------------------------------------
# NSGA-II ranking (Deb et al. 2002, sections III-A, III-B and IV-A)


def constrained_dominates(a: tuple[Sequence[float], float], b: tuple[Sequence[float], float]) -> bool:
    """Constrained domination of ``a`` over ``b``; each is (objectives to minimise, budget violation >= 0)."""
    (fa, va), (fb, vb) = a, b
    if va > 0 or vb > 0:
        return va < vb
    return all(x <= y for x, y in zip(fa, fb)) and any(x < y for x, y in zip(fa, fb))


def non_dominated_sort(points: Sequence[tuple[Sequence[float], float]]) -> list[list[int]]:
    """Fast non-dominated sorting: the indices of ``points`` front by front, best front first."""
    dominated_by_me: list[list[int]] = [[] for _ in points]
    domination_count = [0] * len(points)
    for i, p in enumerate(points):
        for j in range(i + 1, len(points)):
            if constrained_dominates(p, points[j]):
                dominated_by_me[i].append(j)
                domination_count[j] += 1
            elif constrained_dominates(points[j], p):
                dominated_by_me[j].append(i)
                domination_count[i] += 1
    fronts = []
    current = [i for i, count in enumerate(domination_count) if count == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in dominated_by_me[i]:
                domination_count[j] -= 1
                if domination_count[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


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

    objectives
        Metric keys to optimise and their direction, ``"max"`` or ``"min"``; default WAR and UAR, both
        maximised. Add e.g. ``"synops": "min"`` for a third objective.
    budgets
        Hard upper bounds on metric keys, e.g. ``{"synops": 1e6, "latency_steps": 200}``. A candidate over
        a budget is constraint-dominated (never on the Pareto front while one within budget exists).
    population_size
        Survivors kept for breeding; the first ``population_size`` proposals are random.
    mutation_prob
        Per-label probability of changing to another value; ``None`` = 1 / number of labels.
    crossover_prob
        Probability that a child is a uniform crossover of two parents rather than a copy of one.
    dedup_retries
        Redraws of an already-proposed child before falling back to random sampling (then giving up).
    seed
        Seed of the search's random generator (``None``: from the OS).
    initial_population
        Parameter dicts proposed first, before any random sample (e.g. known good architectures).
    """

    objectives: Mapping[str, str] = field(default_factory=lambda: {"war": "max", "uar": "max"})
    budgets: Mapping[str, float] = field(default_factory=dict)
    population_size: int = 20
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    dedup_retries: int = 100
    seed: int | None = None
    initial_population: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self):
        def fail(message):
            raise ValueError(f"TNAS-ER evolution: {message}")

        if not isinstance(self.objectives, Mapping) or not self.objectives:
            fail(f"objectives must be a non-empty mapping of metric key -> 'max' | 'min', got {self.objectives!r}")
        for key, direction in self.objectives.items():
            if not isinstance(key, str) or direction not in ("max", "min"):
                fail(f"objective {key!r} must map a metric key to 'max' or 'min', got {direction!r}")
        if not isinstance(self.budgets, Mapping):
            fail(f"budgets must be a mapping of metric key -> upper bound, got {self.budgets!r}")
        for key, bound in self.budgets.items():
            if not isinstance(key, str) or not _is_number(bound) or not 0 < bound < math.inf:
                fail(f"budget {key!r} must be a positive finite number, got {bound!r}")
        if not _is_int(self.population_size) or self.population_size < 2:
            fail(f"population_size must be an integer >= 2, got {self.population_size!r}")
        if self.mutation_prob is not None and (not _is_number(self.mutation_prob) or not 0 < self.mutation_prob <= 1):
            fail(f"mutation_prob must be in (0, 1] or None, got {self.mutation_prob!r}")
        if not _is_number(self.crossover_prob) or not 0 <= self.crossover_prob <= 1:
            fail(f"crossover_prob must be in [0, 1], got {self.crossover_prob!r}")
        if not _is_int(self.dedup_retries) or self.dedup_retries < 1:
            fail(f"dedup_retries must be a positive integer, got {self.dedup_retries!r}")
        if self.seed is not None and not _is_int(self.seed):
            fail(f"seed must be an integer or None, got {self.seed!r}")
        if isinstance(self.initial_population, (str, Mapping)) or not all(
            isinstance(params, Mapping) for params in self.initial_population
        ):
            fail("initial_population must be a list of parameter dicts")
        object.__setattr__(self, "objectives", dict(self.objectives))
        object.__setattr__(self, "budgets", {key: float(bound) for key, bound in self.budgets.items()})
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
# The search


@dataclass
class _Record:
    genome: Genome
    metrics: dict | None  # None = failed
    objectives: tuple[float, ...] = ()  # minimised
    violation: float = 0.0


class ParetoEvolution:
    """Steady-state NSGA-II over ``search_space`` (NNI HPO dict of ``choice`` entries).

    ``ask()`` proposes parameters; ``tell(params, metrics)`` records a result: a metric dict (or a bare
    number, taken as ``{"default": number}``), or ``None`` for a failed trial. A failed candidate is
    kept in the history, never proposed again, and never stops the search. Several asks may be
    outstanding at once (parallel trials). ``pareto_front()`` lists the non-dominated candidates
    within budget; ``state_dict()`` / ``load_state_dict()`` save and restore the search exactly.
    """

    def __init__(self, search_space: Mapping[str, Mapping], options: EvolutionOptions | None = None):
        self.options = options or EvolutionOptions()
        self.labels, self.values = _parse_space(search_space)
        self.size = math.prod(len(values) for values in self.values)
        self.mutation_prob = self.options.mutation_prob or 1 / len(self.labels)
        self._rng = random.Random(self.options.seed)
        self._records: list[_Record] = []
        self._index: dict[Genome, int] = {}
        self._pending: list[Genome] = []
        self._population: list[int] = []  # indices into _records: the survivors
        self._initial = [self.encode(params) for params in self.options.initial_population]

    # -- encoding -------------------------------------------------------------------------------------

    def encode(self, params: Mapping[str, Any]) -> Genome:
        """Value indices of ``params`` (extra keys are ignored); ValueError if it is not in the space."""
        genome = []
        for label, values in zip(self.labels, self.values):
            if label not in params:
                raise ValueError(f"parameters {dict(params)!r} lack the search-space label {label!r}")
            try:
                genome.append(values.index(params[label]))
            except ValueError:
                raise ValueError(f"{params[label]!r} is not a choice of {label!r} ({values!r})") from None
        return tuple(genome)

    def decode(self, genome: Genome) -> dict[str, Any]:
        return {label: values[i] for label, values, i in zip(self.labels, self.values, genome)}

    # -- ask / tell -----------------------------------------------------------------------------------

    def ask(self) -> dict[str, Any]:
        """Parameters of a new candidate, never proposed before; raises :class:`SearchExhausted`."""
        genome = self._next_genome()
        self._pending.append(genome)
        return self.decode(genome)

    def tell(self, params: Mapping[str, Any], metrics: Mapping[str, Any] | Real | None) -> None:
        """Record the result of ``params`` (``None`` = failed). Results for unasked candidates are imported."""
        genome = self.encode(params)
        if genome in self._pending:
            self._pending.remove(genome)
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
            self._admit(known)
            return
        self._index[genome] = len(self._records)
        self._records.append(record)
        if record.metrics is not None:
            self._admit(len(self._records) - 1)

    def pareto_front(self) -> list[dict[str, Any]]:
        """Non-dominated evaluated candidates within every budget, best first by the first objective.

        Each entry is ``{"params": ..., "metrics": ...}`` (the whole metric dict the trial reported).
        """
        feasible = [r for r in self._records if r.metrics is not None and r.violation == 0]
        if not feasible:
            return []
        front = [feasible[i] for i in non_dominated_sort([(r.objectives, 0.0) for r in feasible])[0]]
        front.sort(key=lambda r: r.objectives)
        return [{"params": self.decode(r.genome), "metrics": r.metrics} for r in front]

    def history(self) -> list[dict[str, Any]]:
        """Every recorded result in arrival order, ``{"params": ..., "metrics": dict | None}``."""
        return [{"params": self.decode(r.genome), "metrics": r.metrics} for r in self._records]

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Asked candidates without a result yet."""
        return [self.decode(genome) for genome in self._pending]

    # -- state ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The search's state as plain JSON data (results, survivors, pending asks, generator state)."""
        version, internal, gauss = self._rng.getstate()
        return {
            "version": STATE_VERSION,
            "space": self._fingerprint(),
            "rng": [version, list(internal), gauss],
            "records": [[list(r.genome), r.metrics] for r in self._records],
            "pending": [list(genome) for genome in self._pending],
            "population": list(self._population),
            "initial": [list(genome) for genome in self._initial],
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore a :meth:`state_dict` taken from a search over the same space."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {state.get('version')!r} (expected {STATE_VERSION})")
        if state["space"] != self._fingerprint():
            raise ValueError("the saved state belongs to a different search space")
        version, internal, gauss = state["rng"]
        self._rng.setstate((version, tuple(internal), gauss))
        self._records = [self._make_record(tuple(genome), metrics) for genome, metrics in state["records"]]
        self._index = {r.genome: i for i, r in enumerate(self._records)}
        self._pending = [tuple(genome) for genome in state["pending"]]
        self._population = list(state["population"])
        self._initial = [tuple(genome) for genome in state["initial"]]

    # -- internals ------------------------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, list[str]]:
        return {label: [repr(v) for v in values] for label, values in zip(self.labels, self.values)}

    def _make_record(self, genome: Genome, metrics) -> _Record:
        if metrics is None:
            return _Record(genome, None)
        if _is_number(metrics):
            metrics = {"default": metrics}
        if not isinstance(metrics, Mapping):
            _logger.error("Result %r of %s is neither a dict nor a number: recorded as failed.", metrics, self.decode(genome))
            return _Record(genome, None)
        metrics = json.loads(json.dumps(dict(metrics), default=_plain))
        for key in [*self.options.objectives, *self.options.budgets]:
            value = metrics.get(key)
            if not _is_number(value) or not math.isfinite(value):
                _logger.error("Result of %s has no finite %r (%r): recorded as failed.", self.decode(genome), key, value)
                return _Record(genome, None)
        objectives = tuple(
            -metrics[key] if direction == "max" else metrics[key] for key, direction in self.options.objectives.items()
        )
        violation = sum(max(0.0, metrics[key] / bound - 1) for key, bound in self.options.budgets.items())
        return _Record(genome, metrics, objectives, violation)

    def _admit(self, index: int) -> None:
        """Add a result to the survivors and drop the worst one if the population overflows."""
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
        return genome in self._index or genome in self._pending

    def _next_genome(self) -> Genome:
        while self._initial:
            genome = self._initial.pop(0)
            if not self._seen(genome):
                return genome
        if len(self._index) + len(self._pending) >= self.size:
            raise SearchExhausted(f"all {self.size} candidates of the space have been proposed")
        breeding = self._population and len(self._records) + len(self._pending) >= self.options.population_size
        generators = [self._offspring, self._random_genome] if breeding else [self._random_genome]
        for generate in generators:
            for _ in range(self.options.dedup_retries):
                genome = generate()
                if not self._seen(genome):
                    return genome
        raise SearchExhausted(f"no new candidate found in {self.options.dedup_retries} draws")

    def _random_genome(self) -> Genome:
        return tuple(self._rng.randrange(len(values)) for values in self.values)

    def _offspring(self) -> Genome:
        ranks, crowding = self._rank(self._population)

        def tournament() -> Genome:
            a, b = (self._rng.randrange(len(self._population)) for _ in range(2))
            winner = a if (ranks[a], -crowding[a]) <= (ranks[b], -crowding[b]) else b
            return self._records[self._population[winner]].genome

        first, second = tournament(), tournament()
        child = list(first)
        if self._rng.random() < self.options.crossover_prob:
            child = [x if self._rng.random() < 0.5 else y for x, y in zip(first, second)]
        mutable = [i for i, values in enumerate(self.values) if len(values) > 1]
        for i in mutable:
            if self._rng.random() < self.mutation_prob:
                child[i] = self._other_value(i, child[i])
        if tuple(child) in (first, second) and mutable:
            i = self._rng.choice(mutable)
            child[i] = self._other_value(i, child[i])
        return tuple(child)

    def _other_value(self, label_index: int, current: int) -> int:
        draw = self._rng.randrange(len(self.values[label_index]) - 1)
        return draw + (draw >= current)


def _parse_space(search_space: Mapping[str, Mapping]) -> tuple[list[str], list[list]]:
    if not isinstance(search_space, Mapping) or not search_space:
        raise ValueError(f"the search space must be a non-empty dict in NNI's HPO format, got {search_space!r}")
    labels, values = [], []
    for label, entry in search_space.items():
        if not isinstance(entry, Mapping) or entry.get("_type") != "choice":
            kind = entry.get("_type") if isinstance(entry, Mapping) else type(entry).__name__
            raise ValueError(
                f"search-space entry {label!r} is {kind!r}: TNAS-ER evolution explores categorical "
                "'choice' entries only (make numerical choices categorical)"
            )
        choices = entry.get("_value")
        if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
            raise ValueError(f"search-space entry {label!r} needs a non-empty '_value' list, got {choices!r}")
        labels.append(label)
        values.append(list(choices))
    return labels, values
