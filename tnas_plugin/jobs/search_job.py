"""``tnas-er search``: the whole TNAS-ER job in one call (docs/ARCHITECTURE.md, "Overview").

1. Data: the SEE tree given, or the built-in synthetic one (generated when absent).
2. Search: ``NasExperiment(TTFSEyeSpace, TNASEvaluator, TNASEvolution)`` on NNI's local training service,
   monitored in NNI's web UI; objectives WAR and UAR (maximised), optionally an efficiency metric (minimised).
   NNI's manager listens on ``SearchOptions.listen`` only (127.0.0.1 unless ``--listen`` says otherwise).
3. Finalists: trials promoted by cost band (:func:`pick_finalists`: in turn the most accurate overall, within
   the hand-crafted network's cost, half of it and a quarter of it, round after round) retrained in-process
   on the training split, like the hand-crafted TTFS CNN, and measured on validation. The chosen network
   (:func:`choose`) is the finalist with the best validation fitness within the hand-crafted network's
   validation cost (any finalist when none fits).
4. Once chosen, the chosen network and the baselines are retrained on training + validation (unless
   ``final_training="training"``), then read on the test split once: saved (checkpoint + architecture
   JSON), run on Lava's CPU simulator to check that it predicts exactly as the PyTorch discrete model,
   and compared with the hand-crafted TTFS CNN and, for the chosen network, its ANN twin, its rate twin
   (IF neurons) and a SEEN-style LIF CNN of its architecture trained with BPTT
   (:mod:`tnas_plugin.jobs.baselines`), all on the same data for the same epochs.
5. The results directory: tables (CSV/JSON) written here, then plots and ``report.md`` by
   :func:`tnas_plugin.jobs.report.write_report`.

Before any work: the results folder (:mod:`.results`), the port and every sequence of the data
(:func:`preflight`). The run is written into ``<out>.partial`` and moved to ``<out>`` when complete; SIGINT,
SIGTERM or SIGHUP stop it at any moment with the finished trials in ``<out>.partial/trials.csv``, and
``run_search(..., resume_from=out)`` (``tnas-er search --resume``) continues it (docs/ARCHITECTURE.md,
"Reliability").
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tnas_plugin.candidate import CandidateSpec, build_ann
from tnas_plugin.checkpoint import save_checkpoint
from tnas_plugin.clip_store import write_clip_store
from tnas_plugin.data import SEEDataError, SynthConfig, annotation_path, synthesize
from tnas_plugin.data.preflight import check_tree
from tnas_plugin.hardware import COST_METRICS
from tnas_plugin.errors import InputError, TnasError, UsageError
from tnas_plugin.measurement import (CandidateResult, Evaluation, MeasurementSettings, evaluate_network,
                                     measure_candidate, train_final)
from tnas_plugin.metrics import confusion
from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.trainer import epoch_progress

from tnas_plugin.search_spaces.eye_space import EyeSpaceChoices
from tnas_plugin.strategies.manager_start import ManagerStartError
from tnas_plugin.strategies.nni_records import database_path, read_trials

from .baselines import HANDCRAFTED_TTFS, RATE_TWIN_STEPS, train_lif_baseline, twin_metrics
from .claims import DEFAULT_PORT, claim_folder, claim_port
from .experiment import SearchExperiment, run_to_completion
from .commands import BASELINES
from .data_commands import print_notes, print_problems
from .report import CHOSEN, HANDCRAFTED, write_report
from .results import ResultsFolder
from .signals import Stopped, raise_if_stopped, say, stop_requested
from .trial_log import trial_columns
from .tuner_search import announce, search_results, tuner_experiment
from .warm_trials import warm_pool

NNI_FOLDER = "nni"  # NNI's experiment folder inside the results folder
SKIPPED_FILE = "skipped.csv"  # the sequences --skip-bad left out
TOLERATED_FILE = "tolerated.csv"  # what the data check accepted as the SEE authors' loader does
FINAL_TRAINING = ("training+validation", "training")  # what the chosen network and the baselines retrain on
CLIPS_FOLDER = "clips"  # the trials' clip store inside the results folder's work folder

TRIAL_SYNOPS_SAMPLES = 16  # validation clips a trial counts its operations on (finalists: 64)


@dataclass
class SearchOptions:
    data: Path = Path("data/synthetic-see")
    out: Path = Path("results/search")
    budget: int = 100  # trials, each a distinct network
    port: int | None = None  # NNI's manager and web UI; None: 8080 or the next port free (claims.claim_port)
    listen: str = "127.0.0.1"  # NNI's manager listens here only; another address prints a security warning
    announce_ui: bool = True  # print the web UI address (NNI's manager serves the UI either way)
    seed: int = 0
    epochs: int = 15  # per trial (low fidelity: the finalists are retrained for final_epochs)
    final_epochs: int = 50  # finalists and baselines
    resolution: int = 32
    population: int = 16
    finalists: int = 8  # trials retrained at the end (pick_finalists: two per cost band)
    efficiency: str | None = "energy_uj"  # third objective (minimised) next to WAR and UAR; None: WAR and UAR only
    concurrency: int = 2  # trials side by side, one torch thread each
    engine: str = "tuner"  # "tuner": HPO-style experiment, Lightning-free trials; "nas": NasExperiment
    lava_samples: int = 20
    hardware_profile: str = "loihi"
    cache_dir: Path | None = None  # decoded-frame cache (None: the data set's default)
    annotations: Path | None = None  # annotation file (None: emotion.json or emotion_new_adjust2.json in data)
    validation_split: str = "auto"  # "take" (within subjects), "subject", or "auto": as the test split was carved
    final_training: str = "training+validation"  # the chosen network and baselines retrain on it once chosen
    skip_bad: bool = False  # leave out the sequences the preflight check finds bad, instead of stopping
    baselines: str = "full"  # BASELINES: which reference networks are measured after the search

    def __post_init__(self):
        if self.baselines not in BASELINES:
            raise ValueError(f"baselines must be one of {sorted(BASELINES)}, got {self.baselines!r}")
        if self.final_training not in FINAL_TRAINING:
            raise ValueError(f"final_training must be one of {FINAL_TRAINING}, got {self.final_training!r}")

    def objectives(self) -> dict:
        return {"war": "max", "uar": "max", **({self.efficiency: "min"} if self.efficiency else {})}

    def evolution_args(self) -> dict:
        """TNASEvolution's options (NAS strategy and tuner alike): the objectives, the cost's crowding on a
        log scale (``log_scale``), the population and the seeded initial population."""
        return {"objectives": self.objectives(), "log_scale": [self.efficiency] if self.efficiency else [],
                "population_size": self.population, "seed": self.seed, "initial_population": self.initial_population()}

    def handcrafted_sample(self) -> dict:
        """The hand-crafted TTFS CNN as a sample of the space."""
        return EyeSpaceChoices(resolution=self.resolution).sample_of(replace(HANDCRAFTED_TTFS, resolution=self.resolution))

    def initial_population(self) -> list[dict]:
        """The hand-crafted TTFS CNN, then its one-change neighbours (:meth:`EyeSpaceChoices.neighbours`):
        the search starts around it."""
        handcrafted = self.handcrafted_sample()
        return [handcrafted, *EyeSpaceChoices(resolution=self.resolution).neighbours(handcrafted)]

    def evaluator_settings(self, final: bool = False) -> dict:
        """Measurement options of a trial, or with ``final`` of a finalist or baseline (more epochs, more clips counted)."""
        return dict(epochs=self.final_epochs if final else self.epochs, synops_samples=64 if final else TRIAL_SYNOPS_SAMPLES,
                    seed=self.seed, validation_seed=self.seed, validation_split=self.validation_split,
                    hardware_profile=self.hardware_profile,
                    **({"cache_dir": str(self.cache_dir.resolve())} if self.cache_dir else {}),
                    **({"annotations": str(self.annotations.resolve())} if self.annotations else {}),
                    **({"on_error": "skip"} if self.skip_bad else {}))


def trial_settings(options: SearchOptions, folder: ResultsFolder) -> dict:
    """A trial's measurement options (:meth:`SearchOptions.evaluator_settings`) reading its clips from a clip store
    (:mod:`tnas_plugin.clip_store`) written here, once per search: the training and validation data sets of every
    modality and clip length of the space, in ``<work>/clips``."""
    choices = EyeSpaceChoices(resolution=options.resolution)
    handcrafted = options.handcrafted_sample()
    specs = [choices.spec({**handcrafted, "modality": modality, "frames": frames})
             for modality in choices.modality_choices for frames in choices.frame_choices]
    trial = options.evaluator_settings()
    settings = MeasurementSettings.from_options(options.data, **trial)
    say(f"decoding the clips of {len(specs)} modality and clip-length pairs once for every trial")
    store = write_clip_store(folder.work / CLIPS_FOLDER, settings.data_settings(), specs, ("training", "validation"),
                             settings.dataset)
    return {**trial, "clip_store": str(store.resolve())}


class SearchInterrupted(TnasError):
    """The search stopped before its end; the finished trials were kept and it can be resumed."""


class StartupFailed(TnasError):
    """NNI's search failed before its first trial; a new run leaves nothing behind (exit status 1)."""

    def __init__(self, why: str, folder: ResultsFolder, resumed: bool):
        then = f"continue with: tnas-er search --resume {folder.out}" if resumed else "nothing was kept: run the same command again"
        super().__init__(f"{why}; {then}")


# NNI's experiments manager logs as an ERROR an update of the experiment list (~/nni-experiments/.experiment)
# that met another manager's lock, and retries it itself (nni_node/extensions/experiments_manager/manager.js):
# not why an experiment failed.
RETRIED_BY_NNI = ("File has been locked.",)


def manager_error(experiment_folder: Path) -> str:
    """The first error NNI's manager logged (``log/nnimanager.log`` of the experiment: ``[time] ERROR (module)
    Error: message``), its message only; those NNI retries itself (``RETRIED_BY_NNI``) are passed over."""
    log = experiment_folder / "log" / "nnimanager.log"
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            match = re.match(r"^\[[^]]*\] ERROR \([^)]*\) (?:\w*Error: )?(.*)$", line)
            if match and match.group(1).strip() not in RETRIED_BY_NNI:
                return match.group(1).strip()
    return f"no error in {log}"


def ensure_data(options: SearchOptions) -> Path:
    """The SEE tree to search on; the default synthetic set is generated on first use."""
    try:
        annotation_path(options.data, options.annotations)
    except SEEDataError as missing:
        if options.data != SearchOptions.data or options.annotations is not None:
            raise InputError(f"{missing}; not a SEE tree") from None
        print(f"generating the synthetic SEE-like data set in {options.data} ...", flush=True)
        synthesize(options.data, SynthConfig(seed=options.seed), progress=True, workers=min(4, os.cpu_count() or 1))
    return options.data


@dataclass(frozen=True)
class Trial:
    """One finished trial of the search: its sample of the space and the metric dict it reported on the
    validation split (``None``: it failed)."""

    params: dict
    metrics: dict | None


def as_trials(records) -> list[Trial]:
    """Trials from the strategies' ``{"params", "metrics"}`` records (a history or a Pareto front, also as the run
    record ``search-run.json`` keeps them)."""
    return [Trial(record["params"], record["metrics"]) for record in records]


def announce_web_ui(options: SearchOptions, experiment_id: str) -> None:
    """Before NNI starts: the warning when its web UI listens beyond the loopback address, then (``announce_ui``)
    the web UI's address."""
    from tnas_plugin.strategies.manager_listen import security_warning, web_ui_url

    warning = security_warning(options.listen)
    if warning:
        print(warning, file=sys.stderr)
    if options.announce_ui:
        print(f"NNI web UI: {web_ui_url(options.listen, options.port)}  (experiment {experiment_id})", flush=True)


def run_nas(options: SearchOptions, space: TTFSEyeSpace, folder: ResultsFolder, experiment_id: str,
            resume: bool = False) -> tuple[list[Trial], list[Trial], bool]:
    """Run (``resume``: continue) the NNI search; returns (every trial's record, the Pareto front, whether it completed).

    NNI's files (its database, the trial logs, the strategy state) go to ``<folder.work>/nni``.
    """
    from tnas_plugin.strategies import TNASEvaluator, TNASEvolution
    from tnas_plugin.strategies.manager_listen import manager_listening_on

    evaluator = TNASEvaluator(str(options.data.resolve()), **trial_settings(options, folder))
    strategy = TNASEvolution(**options.evolution_args())
    experiment = SearchExperiment(space, evaluator, strategy, id=experiment_id)
    experiment.config.experiment_working_directory = str((folder.work / NNI_FOLDER).resolve())
    experiment.config.experiment_name = "tnas-er-search"
    experiment.config.max_trial_number = options.budget
    experiment.config.trial_concurrency = 1
    announce_web_ui(options, experiment.id)
    say(f"{'resuming' if resume else 'starting'} NNI experiment {experiment.id} on port {options.port}")
    with manager_listening_on(options.listen):
        completed = run_to_completion(experiment, options.port, resume, on_end=experiment.save_strategy_state)
    core = strategy.core
    history = as_trials(core.history()) if core is not None else []
    return history, as_trials(strategy.pareto_front()) if core is not None and history else [], completed


def run_tuner(options: SearchOptions, space: TTFSEyeSpace, folder: ResultsFolder, experiment_id: str,
              resume: bool = False) -> tuple[list[Trial], list[Trial], bool]:
    """Run (``resume``: continue) the search as an HPO-style NNI experiment (:mod:`.tuner_search`), its trials on a
    warm trial pool (:mod:`.warm_trials`); returns (every trial's record, the Pareto front, whether it completed)."""
    from tnas_plugin.strategies.manager_listen import manager_listening_on

    space_args = {"resolution": options.resolution}
    tuner_args = options.evolution_args()
    evaluator_args = trial_settings(options, folder)
    with warm_pool(preload=[evaluator_args["clip_store"]]) as pool:
        experiment = tuner_experiment(data=options.data, work=folder.work / NNI_FOLDER, experiment_id=experiment_id,
                                      budget=options.budget, concurrency=options.concurrency, space_args=space_args,
                                      evaluator_args=evaluator_args, tuner_args=tuner_args, pool=pool)
        announce_web_ui(options, experiment.id)
        announce(experiment, resume, options.port)
        with manager_listening_on(options.listen):
            completed = run_to_completion(experiment, options.port, resume)
    database = database_path(folder.work / NNI_FOLDER / experiment_id)
    history, front = search_results(database, experiment.config.search_space, tuner_args)
    return as_trials(history), as_trials(front), completed


def _rows(trials: list[Trial]) -> pd.DataFrame:
    """One row per trial: parameters, then the metrics measured on the validation split as ``val_<key>``."""
    rows = []
    for number, trial in enumerate(trials):
        metrics = {f"val_{key}": value for key, value in (trial.metrics or {}).items()}
        rows.append({"trial": number, "status": "failed" if trial.metrics is None else "done", **trial.params, **metrics})
    return pd.DataFrame(rows)


def pick_finalists(trials: list[Trial], count: int, cost: str | None, budget: float | None = None) -> list[Trial]:
    """``count`` distinct successful trials to retrain at full fidelity, promoted by cost band (successive
    halving's promotion of the best, Li et al., JMLR 2018, applied per band): in turn the most accurate
    (validation UAR) not yet picked overall, within ``budget``, within ``budget / 2`` and within ``budget / 4``
    (``budget``: default the largest trial cost), round after round. The first round holds the (UAR, cost)
    front at each band; later rounds promote the runners-up, which full training may rank higher. Without
    a cost, the ``count`` most accurate."""
    ranked = sorted((trial for trial in trials if trial.metrics), key=lambda trial: -trial.metrics["uar"])
    if cost is None:
        return ranked[:count]
    top = budget or max((trial.metrics[cost] for trial in ranked), default=0.0)
    limits, picked = (math.inf, top, top / 2, top / 4), []
    while len(picked) < min(count, len(ranked)):
        for limit in limits:
            best = next((trial for trial in ranked if trial not in picked and trial.metrics[cost] <= limit), None)
            if best is not None and len(picked) < count:
                picked.append(best)
    return picked


def finalist_budget(options: SearchOptions, history: list[Trial]) -> float | None:
    """The seeded hand-crafted network's trial cost (:func:`pick_finalists`'s ``budget``), or ``None`` when
    the search has no efficiency objective or that trial failed."""
    seeded = options.handcrafted_sample()
    costs = [trial.metrics[options.efficiency] for trial in history
             if options.efficiency and trial.metrics and trial.params == seeded]
    return costs[0] if costs else None


@dataclass(frozen=True)
class Finalist:
    """A retrained finalist: its sample of the space, architecture and measurement on validation."""

    params: dict
    spec: CandidateSpec
    result: CandidateResult


def retrain_finalists(options: SearchOptions, space: TTFSEyeSpace, history: list[Trial],
                      budget: float | None = None) -> tuple[list[Finalist], MeasurementSettings]:
    """Retrain ``finalists`` trials of ``history`` (:func:`pick_finalists`) for ``final_epochs`` on the training
    split, measured on validation, in the order they were picked."""
    settings = MeasurementSettings.from_options(options.data, **options.evaluator_settings(final=True))
    finalists = []
    for number, trial in enumerate(pick_finalists(history, options.finalists, options.efficiency, budget)):
        candidate = space.freeze(trial.params)
        print(f"finalist {number}: {candidate.spec}", flush=True)
        with epoch_progress(settings.train, f"finalist {number}") as callbacks:
            result = measure_candidate(candidate.spec, candidate.ann, settings, callbacks)
        finalists.append(Finalist(trial.params, candidate.spec, result))
    return finalists, settings


def choose(validation: list[dict], cost: str | None, budget: float | None) -> int:
    """Index of the chosen finalist, given each finalist's validation metrics: the best fitness (``default``)
    among those whose ``cost`` is within ``budget`` (the hand-crafted network's, measured the same way), or
    among all when none is or there is no cost. Only validation metrics are passed in, so none else is read."""
    fitting = [k for k, metrics in enumerate(validation)
               if cost is None or budget is None or metrics.get(cost, math.inf) <= budget]
    return max(fitting or range(len(validation)), key=lambda k: validation[k]["default"])


def check_lava(snn, inputs: torch.Tensor, steps_per_window: int) -> dict:
    """Lava's predictions and readouts vs the PyTorch discrete model on the same clips (float64)."""
    from tnas_plugin.hardware.lava_export import compare_with_torch, run_lava

    snn.double()
    try:
        lava = run_lava(snn, inputs, steps_per_window, samples_per_run=5)
        comparison = compare_with_torch(snn, inputs, steps_per_window, lava)
    finally:
        snn.float()
    return {**asdict(comparison), "lava_synops": float(lava.synops)}


def check_fixed_point(spec: CandidateSpec, snn, settings: MeasurementSettings, inputs: torch.Tensor, weight_bits: int = 8) -> dict:
    """The chosen network's integer twin (``quantize``, ``weight_bits``-bit weights, quantised after training): its
    test WAR/UAR, and Lava's ``fixed_pt`` models vs the PyTorch integer model on ``inputs`` (bit-exact expected)."""
    from tnas_plugin.hardware.lava_export import compare_with_torch, run_lava
    from tnas_plugin.ttfs import quantize

    fixed = replace(settings, train=replace(settings.train, weight_bits=weight_bits))
    metrics = evaluate_network(spec, snn, fixed, "testing").metrics
    qnet = quantize(snn, weight_bits, steps_per_window=spec.steps_per_window)
    lava = run_lava(qnet, inputs, spec.steps_per_window, samples_per_run=5, fixed_point=True)
    return {"weight_bits": weight_bits, "test_war": metrics["war"], "test_uar": metrics["uar"],
            "lava": asdict(compare_with_torch(qnet, inputs, spec.steps_per_window, lava))}


def _summary_row(name: str, metrics: dict, prefix: str = "test_") -> dict:
    """One row of a comparison table: accuracy and cost columns named after the split they were measured on."""
    keys = ("war", "uar", *COST_METRICS)
    return {"network": name, "params": metrics.get("params"), **{prefix + key: metrics.get(key) for key in keys}}


def measure_baselines(options: SearchOptions, settings: MeasurementSettings, spec: CandidateSpec, snn,
                      handcrafted_snn, rate_steps: int | None = RATE_TWIN_STEPS) -> list[dict]:
    """Test rows of the baselines (``options.baselines``, :data:`BASELINES`): the hand-crafted TTFS CNN
    (``handcrafted_snn``, trained like the chosen network; ``None``: left out) and, for the chosen network
    (``spec``, ``snn``), its ANN twin; with ``"full"`` also its rate twin (``rate_steps`` steps; ``None``: left
    out) and a SEEN-style LIF CNN of its architecture trained with BPTT for the same epochs on the same split
    as the chosen network (:mod:`tnas_plugin.jobs.baselines`). ``"none"``: no row."""
    if options.baselines == "none":
        return []
    full = options.baselines == "full"
    lif = None
    if full:
        with epoch_progress(settings.train, "LIF baseline (BPTT)") as callbacks:
            lif = train_lif_baseline(spec, settings, callbacks, split=options.final_training)
    twins = "ANN twin, rate twin and LIF baseline" if full else "ANN twin"
    print(f"measuring the hand-crafted network and the chosen network's {twins} on the test split", flush=True)
    rows = []
    if handcrafted_snn is not None:
        handcrafted = replace(HANDCRAFTED_TTFS, resolution=options.resolution)
        rows.append(_summary_row(HANDCRAFTED, evaluate_network(handcrafted, handcrafted_snn, settings, "testing",
                                                               build_params(handcrafted)).metrics))
    return rows + [_summary_row(name, metrics)
                   for name, metrics in twin_metrics(spec, snn, lif, settings, "testing", rate_steps if full else None)]


def build_params(spec: CandidateSpec) -> int:
    """Trainable parameters of ``spec``'s ReLU twin."""
    return sum(p.numel() for p in build_ann(spec).parameters() if p.requires_grad)


def final_network(options: SearchOptions, settings: MeasurementSettings, spec: CandidateSpec,
                  trained: CandidateResult, label: str):
    """The TTFS network read on the test split: retrained on training + validation once chosen
    (:func:`tnas_plugin.measurement.train_final`), or with ``final_training="training"`` the one measured on validation."""
    if options.final_training == "training":
        return trained.snn
    with epoch_progress(settings.train, f"{label} on training + validation") as callbacks:
        snn, _ = train_final(spec, build_ann(spec), settings, callbacks)
    return snn


def save_chosen(out: Path, spec: CandidateSpec, snn, test: Evaluation, test_inputs: torch.Tensor,
                classes: list[str]) -> None:
    """Checkpoint, architecture, and on the test split: metrics, confusion matrix, per-layer SynOps and spike
    times of the chosen network."""
    chosen = out / "chosen"
    save_checkpoint(chosen / "model.pt", spec, snn, test.metrics)
    (chosen / "architecture.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    (chosen / "metrics.json").write_text(json.dumps(test.metrics, indent=2) + "\n")
    matrix = confusion(test.y_true, test.y_pred, spec.num_classes)
    pd.DataFrame(matrix, index=classes, columns=classes).to_csv(out / "confusion.csv")
    pd.DataFrame(test.cost.rows()).to_csv(out / "synops_per_layer.csv", index=False)
    with torch.no_grad():
        run = snn.run(test_inputs, spec.steps_per_window)
    spiking = [i for i, kind in enumerate(run.kinds) if kind.has_neurons]
    # run entry i holds the output spikes of layer i - 1 (entry 0 is the input): named "<layer>:<kind>" as in
    # synops_per_layer.csv, so every plot labels a layer alike
    np.savez_compressed(out / "spike_times.npz", steps_per_window=spec.steps_per_window,
                        **{f"{i - 1}:{run.kinds[i]}": run.spike_times[i][run.spike_mask[i]].cpu().numpy() for i in spiking})


def open_run(options: SearchOptions, overwrite: bool, resume_from: Path | None) -> tuple[ResultsFolder, SearchOptions, dict]:
    """The results folder, options and run record (``search-run.json``) of a new run, or of the stopped one."""
    if resume_from is None:
        from nni.experiment.management import generate_experiment_id

        folder = ResultsFolder.create(options.out, overwrite)
        return folder, options, {"experiment_id": generate_experiment_id(), "options": json.loads(_options_json(options))}
    folder = ResultsFolder.stopped(resume_from)
    run = folder.read_run()
    try:
        saved = dict(run["options"], out=folder.out)
        saved.update({key: Path(saved[key]) for key in ("data", "cache_dir", "annotations") if saved.get(key)})
        stopped = SearchOptions(**saved)
        run["experiment_id"]
    except (KeyError, TypeError) as error:
        raise InputError(f"{folder.run_file}: not a run record this version can resume ({error})") from None
    say(f"resuming the run in {folder.work} (NNI experiment {run['experiment_id']})")
    return folder, replace(stopped, port=options.port, listen=options.listen, announce_ui=options.announce_ui), run


def _options_json(options: SearchOptions) -> str:
    return json.dumps(asdict(options), default=str)


def preflight(options: SearchOptions, out: Path) -> None:
    """Check every sequence, in every modality the search space can pick, at the searched resolution, as
    ``tnas-er data check`` does (the decoded frames land in the cache the trials read). What the SEE authors'
    loader tolerates is accepted and listed in ``tolerated.csv`` (and ``report.md``). Bad sequences stop the
    job here, or with ``skip_bad`` are listed in ``skipped.csv`` (and ``report.md``) and left out."""
    size = (options.resolution, options.resolution)
    say(f"checking every sequence of {options.data} (event and intensity frames at {size[0]}x{size[1]})")
    checked = check_tree(options.data, size=size, cache_dir=options.cache_dir, annotations=options.annotations)
    if checked.notes:
        print_notes(checked.notes)
        pd.DataFrame([{"sequence": n.sequence or "", "path": str(n.path), "tolerated": n.action} for n in checked.notes]
                     ).to_csv(out / TOLERATED_FILE, index=False)
        say(f"accepted {len(checked.notes)} thing(s) the SEE authors' loader tolerates (listed in {TOLERATED_FILE})")
    if checked.ok:
        return
    print_problems(checked.problems)
    empty = [split for split, records in checked.sequences.items() if not records]
    if empty or not options.skip_bad:
        advice = f"no usable {empty[0]!r} sequences" if empty else "fix them, or pass --skip-bad to leave those sequences out"
        raise InputError(f"{options.data}: {len(checked.problems)} problem(s), listed above as `tnas-er data check` "
                         f"lists them; {advice}")
    pd.DataFrame([{"sequence": p.sequence or "", "path": str(p.path), "problem": p.problem} for p in checked.problems]
                 ).to_csv(out / SKIPPED_FILE, index=False)
    say(f"--skip-bad: leaving out {len(checked.bad_sequences())} bad sequence(s) (listed in {SKIPPED_FILE})")


def run_search(options: SearchOptions, *, overwrite: bool = False, resume_from: Path | None = None) -> Path:
    """The whole job (see the module docstring); returns the path of ``report.md``.

    Parameters
    ----------
    options
        What to search and how; with ``resume_from`` only ``port``, ``listen`` and ``announce_ui`` are
        used, the rest comes from the stopped run.
    overwrite
        Replace the results (and any stopped run) in ``options.out``; without it an earlier run is refused.
    resume_from
        Continue the stopped run written for this ``--out`` folder (:mod:`tnas_plugin.jobs.results`).

    Raises
    ------
    UsageError, InputError
        Before any work: results folder, data (preflight), port.
    SearchInterrupted, Stopped
        The run stopped; what it finished is in ``<out>.partial`` and ``--resume`` continues it.
    """
    owner = claim_folder(ResultsFolder.of(options.out if resume_from is None else resume_from).out)
    try:
        folder, options, run = open_run(options, overwrite, resume_from)
        try:
            return _run(options, folder, run, resumed=resume_from is not None)
        except BaseException as error:
            if resume_from is None and (not folder.run_file.exists() or isinstance(error, (StartupFailed, UsageError))):
                folder.discard()  # refused, failed or stopped before the search started: nothing to keep
            elif isinstance(error, Stopped):
                say(f"stopped: what the run finished is in {folder.work}; continue with: tnas-er search --resume {folder.out}")
            raise
    finally:
        owner.release()


def _search(options: SearchOptions, space: TTFSEyeSpace, folder: ResultsFolder, run: dict,
            resumed: bool) -> tuple[list[Trial], list[Trial]]:
    """The NNI search of the run (started, or continued when ``resumed``); its tables written and the run
    record marked complete. ``Stopped`` or :class:`SearchInterrupted` when it ended early."""
    out = folder.work
    search = run_nas if options.engine == "nas" else run_tuner
    history, front, completed = search(options, space, folder, run["experiment_id"], resume=resumed)
    database = database_path(out / NNI_FOLDER / run["experiment_id"])
    names = sorted({name for trial in history for name in trial.params})
    trial_columns(_rows(history), database, names).to_csv(out / "trials.csv", index=False)
    _rows(front).drop(columns=["trial", "status"], errors="ignore").to_csv(out / "pareto.csv", index=False)
    if not completed:
        stop = stop_requested()
        if stop is None and not read_trials(database):
            raise StartupFailed(f"NNI ended the search before its first trial ({manager_error(database.parent.parent)})",
                                folder, resumed)
        say(f"search stopped after {len(history)} finished trials; they are in {out / 'trials.csv'}")
        if stop is not None:
            raise stop
        raise SearchInterrupted(f"NNI ended the search early; continue with: tnas-er search --resume {folder.out}")
    folder.write_run({**run, "search_complete": True, "history": [asdict(trial) for trial in history],
                      "front": [asdict(trial) for trial in front]})
    raise_if_stopped()  # a stop NNI or a finalizer swallowed: the search is complete, the rest waits for --resume
    return history, front


def _claimed_search(options: SearchOptions, space: TTFSEyeSpace, folder: ResultsFolder, run: dict,
                    resumed: bool) -> tuple[list[Trial], list[Trial]]:
    """:func:`_search` on a port this job holds until the search ends (:func:`claim_port`, checked before the
    data). When another program takes a port that the user did not choose while NNI starts, the search
    starts again on the next free one; a chosen one is a ``UsageError``."""
    port, claim = claim_port(options.port, options.listen)
    try:
        if options.port is None and port != DEFAULT_PORT:
            say(f"port {DEFAULT_PORT} is busy: NNI's manager and web UI use port {port}")
        ensure_data(options)
        preflight(options, folder.work)
        folder.write_run(run)
        while True:
            try:
                return _search(replace(options, port=port), space, folder, run, resumed)
            except ManagerStartError as error:
                if not error.port_taken:
                    raise StartupFailed(str(error), folder, resumed) from None
                if options.port is not None:
                    raise UsageError(f"port {port} is busy (another program took it while NNI started); "
                                     "choose another with --port") from None
                claim.release()
                port, claim = claim_port(None, options.listen)
                say(f"port {error.port} was taken while NNI started: NNI's manager and web UI use port {port}")
    finally:
        claim.release()


def _run(options: SearchOptions, folder: ResultsFolder, run: dict, resumed: bool) -> Path:
    out = folder.work
    space = TTFSEyeSpace(resolution=options.resolution)
    if not run.get("search_complete"):
        history, front = _claimed_search(options, space, folder, run, resumed)
    else:
        ensure_data(options)
        preflight(options, out)
        history, front = as_trials(run["history"]), as_trials(run["front"])
        say(f"the search finished before the stop ({len(history)} trials): going on with the finalists")
    if not front:
        raise TnasError(f"no trial succeeded; see the reason column of {out / 'trials.csv'}")
    trial_budget = finalist_budget(options, history)
    finalists, settings = retrain_finalists(options, space, history, trial_budget)
    handcrafted_spec = replace(HANDCRAFTED_TTFS, resolution=options.resolution)
    seeded = next((f.result for f in finalists if f.spec == handcrafted_spec), None)  # a finalist already trained alike
    if seeded is None and options.baselines != "none":
        with epoch_progress(settings.train, "hand-crafted TTFS baseline") as callbacks:
            seeded = measure_candidate(handcrafted_spec, build_ann(handcrafted_spec), settings, callbacks)
    cost = options.efficiency
    budget = seeded.metrics.get(cost) if seeded is not None and cost else trial_budget  # "none": the trial's cost
    chosen = choose([f.result.metrics for f in finalists], cost, budget)
    pd.DataFrame([{**f.params, "chosen": k == chosen, **{f"val_{key}": value for key, value in f.result.metrics.items()}}
                  for k, f in enumerate(finalists)]).to_csv(out / "finalists.csv", index=False)
    pd.DataFrame([_summary_row(HANDCRAFTED, seeded.metrics, "val_")] if seeded is not None and options.baselines != "none" else [],
                 columns=list(_summary_row(HANDCRAFTED, {}, "val_"))).to_csv(out / "baselines_validation.csv", index=False)
    # Every choice is made: the test split is read from here on.
    order = [chosen, *(k for k in range(len(finalists)) if k != chosen)]
    tested = [evaluate_network(finalists[k].spec, finalists[k].result.snn, settings, "testing", finalists[k].result.params)
              for k in order]  # as measured on validation (trained on training): how well validation predicted test
    spec = finalists[chosen].spec
    snn = final_network(options, settings, spec, finalists[chosen].result, "chosen network")
    handcrafted_snn = (final_network(options, settings, handcrafted_spec, seeded, "hand-crafted TTFS CNN")
                       if seeded is not None and options.baselines != "none" else None)
    test_result = evaluate_network(spec, snn, settings, "testing", finalists[chosen].result.params)
    test = replace(settings, eval_starts=1).dataset(spec, "testing")
    inputs = torch.stack([test[i][0] for i in range(min(options.lava_samples, len(test)))])
    save_chosen(out, spec, snn, test_result, inputs, test.classes)
    print(f"checking the chosen network on Lava ({len(inputs)} clips)", flush=True)
    (out / "lava.json").write_text(json.dumps(check_lava(snn, inputs, spec.steps_per_window), indent=2) + "\n")
    (out / "fixed_point.json").write_text(json.dumps(check_fixed_point(spec, snn, settings, inputs), indent=2) + "\n")
    comparison = [_summary_row(CHOSEN, test_result.metrics),
                  *measure_baselines(options, settings, spec, snn, handcrafted_snn),
                  *[{**_summary_row(f"finalist {k} (trained on training)", evaluation.metrics),
                     "val_uar": finalists[k].result.metrics["uar"]} for k, evaluation in zip(order, tested)]]
    pd.DataFrame(comparison).to_csv(out / "comparison.csv", index=False)
    (out / "run.json").write_text(json.dumps({**asdict(options), "data": str(options.data), "out": str(folder.out)}, indent=2, default=str) + "\n")
    write_report(out)
    raise_if_stopped()
    return folder.publish() / "report.md"
