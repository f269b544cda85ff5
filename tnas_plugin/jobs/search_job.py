"""``tnas-er search``: the whole TNAS-ER job in one call (docs/ARCHITECTURE.md, "Overview").

1. Data: the SEE tree given, or the built-in synthetic one (generated when absent).
2. Search: ``NasExperiment(TTFSEyeSpace, TNASEvaluator, TNASEvolution)`` on NNI's local training service,
   monitored in NNI's web UI; objectives WAR and UAR (maximised), optionally an efficiency metric (minimised).
   NNI's manager listens on ``SearchOptions.listen`` only (127.0.0.1 unless ``--listen`` says otherwise).
3. Finalists: trials promoted by cost band (:func:`pick_finalists`: in turn the most accurate overall, within
   the hand-crafted network's cost, half of it and a quarter of it, round after round) retrained in-process
   and their TTFS networks evaluated; the one with the best validation fitness is chosen, saved (checkpoint +
   architecture JSON) and run on Lava's CPU simulator to check that it predicts exactly as the PyTorch
   discrete model.
4. Baselines measured in the same run, on the same data, for the same epochs: a hand-crafted TTFS CNN, and
   for the chosen network its ANN twin, its rate twin (IF neurons) and a SEEN-style LIF CNN of its
   architecture trained with BPTT (:mod:`tnas_plugin.jobs.baselines`).
5. The results directory: tables (CSV/JSON) written here, then plots and ``report.md`` by
   :func:`tnas_plugin.jobs.report.write_report`.

Before any work: the results folder (:mod:`.results`), the port and every sequence of the data
(:func:`preflight`). The run is written into ``<out>.partial`` and moved to ``<out>`` when complete; SIGINT,
SIGTERM or SIGHUP stop it at any moment with the finished trials in ``<out>.partial/trials.csv``, and
``run_search(..., resume_from=out)`` (``tnas-er search --resume``) continues it (docs/ARCHITECTURE.md,
"Reliability").
"""
from __future__ import annotations

import json
import math
import socket
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tnas_plugin.candidate import CandidateSpec, build_ann
from tnas_plugin.checkpoint import save_checkpoint
from tnas_plugin.clip_store import write_clip_store
from tnas_plugin.data import EMOTIONS, SynthConfig, synthesize
from tnas_plugin.data.cli import print_problems
from tnas_plugin.data.preflight import check_tree
from tnas_plugin.measurement import CandidateResult, Evaluation, MeasurementSettings, evaluate_network, measure_candidate
from tnas_plugin.metrics import confusion
from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.trainer import epoch_progress

from tnas_plugin.search_spaces.eye_space import EyeSpaceChoices

from .baselines import HANDCRAFTED_TTFS, RATE_TWIN_STEPS, train_lif_baseline, twin_metrics
from .experiment import SearchExperiment, run_to_completion
from .report import write_report
from .results import InputError, JobError, ResultsFolder, UsageError
from .signals import Stopped, say, stop_requested
from .trial_log import trial_columns
from .tuner_search import announce, search_results, tuner_experiment
from .warm_trials import warm_pool

NNI_FOLDER = "nni"  # NNI's experiment folder inside the results folder
SKIPPED_FILE = "skipped.csv"  # the sequences --skip-bad left out
CLIPS_FOLDER = "clips"  # the trials' clip store inside the results folder's work folder

TRIAL_SYNOPS_SAMPLES = 16  # validation clips a trial counts its operations on (finalists: 64)


@dataclass
class SearchOptions:
    data: Path = Path("data/synthetic-see")
    out: Path = Path("results/search")
    budget: int = 100  # trials, each a distinct network
    port: int = 8080
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
    skip_bad: bool = False  # leave out the sequences the preflight check finds bad, instead of stopping

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
                    seed=self.seed, validation_seed=self.seed, hardware_profile=self.hardware_profile,
                    **({"cache_dir": str(self.cache_dir.resolve())} if self.cache_dir else {}),
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


class SearchInterrupted(RuntimeError):
    """The search stopped before its end; the finished trials were kept and it can be resumed."""


def ensure_data(options: SearchOptions) -> Path:
    """The SEE tree to search on; the default synthetic set is generated on first use."""
    if not (options.data / "emotion.json").exists():
        if options.data != SearchOptions.data:
            raise InputError(f"{options.data / 'emotion.json'}: not a SEE tree (emotion.json missing)")
        print(f"generating the synthetic SEE-like data set in {options.data} ...", flush=True)
        synthesize(options.data, SynthConfig(seed=options.seed), progress=True)
    return options.data


def run_nas(options: SearchOptions, space: TTFSEyeSpace, folder: ResultsFolder, experiment_id: str,
            resume: bool = False) -> tuple[list[dict], list[dict], bool]:
    """Run (``resume``: continue) the NNI search; returns (every trial's record, the Pareto front, whether it completed).

    NNI's files (its database, the trial logs, the strategy state) go to ``<folder.work>/nni``.
    """
    from tnas_plugin.strategies import TNASEvaluator, TNASEvolution
    from tnas_plugin.strategies.manager_listen import manager_listening_on, security_warning, web_ui_url

    evaluator = TNASEvaluator(str(options.data.resolve()), **trial_settings(options, folder))
    strategy = TNASEvolution(**options.evolution_args())
    experiment = SearchExperiment(space, evaluator, strategy, id=experiment_id)
    experiment.config.experiment_working_directory = str((folder.work / NNI_FOLDER).resolve())
    experiment.config.experiment_name = "tnas-er-search"
    experiment.config.max_trial_number = options.budget
    experiment.config.trial_concurrency = 1
    warning = security_warning(options.listen)
    if warning:
        print(warning, file=sys.stderr)
    if options.announce_ui:
        print(f"NNI web UI: {web_ui_url(options.listen, options.port)}  (experiment {experiment.id})", flush=True)
    say(f"{'resuming' if resume else 'starting'} NNI experiment {experiment.id} on port {options.port}")
    with manager_listening_on(options.listen):
        completed = run_to_completion(experiment, options.port, resume, on_end=experiment.save_strategy_state)
    core = strategy.core
    history = core.history() if core is not None else []
    return history, strategy.pareto_front() if core is not None and history else [], completed


def run_tuner(options: SearchOptions, space: TTFSEyeSpace, folder: ResultsFolder, experiment_id: str,
              resume: bool = False) -> tuple[list[dict], list[dict], bool]:
    """Run (``resume``: continue) the search as an HPO-style NNI experiment (:mod:`.tuner_search`), its trials on a
    warm trial pool (:mod:`.warm_trials`); returns (every trial's record, the Pareto front, whether it completed)."""
    from tnas_plugin.strategies.manager_listen import manager_listening_on, security_warning, web_ui_url

    space_args = {"resolution": options.resolution}
    tuner_args = options.evolution_args()
    evaluator_args = trial_settings(options, folder)
    with warm_pool(preload=[evaluator_args["clip_store"]]) as pool:
        experiment = tuner_experiment(data=options.data, work=folder.work / NNI_FOLDER, experiment_id=experiment_id,
                                      budget=options.budget, concurrency=options.concurrency, space_args=space_args,
                                      evaluator_args=evaluator_args, tuner_args=tuner_args, pool=pool)
        warning = security_warning(options.listen)
        if warning:
            print(warning, file=sys.stderr)
        if options.announce_ui:
            print(f"NNI web UI: {web_ui_url(options.listen, options.port)}  (experiment {experiment.id})", flush=True)
        announce(experiment, resume, options.port)
        with manager_listening_on(options.listen):
            completed = run_to_completion(experiment, options.port, resume)
    database = folder.work / NNI_FOLDER / experiment_id / "db" / "nni.sqlite"
    history, front = search_results(database, experiment.config.search_space, tuner_args)
    return history, front, completed


def _rows(records: list[dict]) -> pd.DataFrame:
    """One row per record: parameters, then the metrics measured on the validation split as ``val_<key>``."""
    rows = []
    for number, record in enumerate(records):
        metrics = {f"val_{key}": value for key, value in (record["metrics"] or {}).items()}
        rows.append({"trial": number, "status": "failed" if record["metrics"] is None else "done", **record["params"], **metrics})
    return pd.DataFrame(rows)


def pick_finalists(trials: list[dict], count: int, cost: str | None, budget: float | None = None) -> list[dict]:
    """``count`` distinct successful trials to retrain at full fidelity, promoted by cost band (successive
    halving's promotion of the best, Li et al., JMLR 2018, applied per band): in turn the most accurate
    (validation UAR) not yet picked overall, within ``budget``, within ``budget / 2`` and within ``budget / 4``
    (``budget``: default the largest trial cost), round after round. The first round holds the (UAR, cost)
    front at each band; later rounds promote the runners-up, which full training may rank higher. Without
    a cost, the ``count`` most accurate."""
    ranked = sorted((trial for trial in trials if trial["metrics"]), key=lambda trial: -trial["metrics"]["uar"])
    if cost is None:
        return ranked[:count]
    top = budget or max((trial["metrics"][cost] for trial in ranked), default=0.0)
    limits, picked = (math.inf, top, top / 2, top / 4), []
    while len(picked) < min(count, len(ranked)):
        for limit in limits:
            best = next((trial for trial in ranked if trial not in picked and trial["metrics"][cost] <= limit), None)
            if best is not None and len(picked) < count:
                picked.append(best)
    return picked


def finalist_budget(options: SearchOptions, history: list[dict]) -> float | None:
    """The seeded hand-crafted network's trial cost (:func:`pick_finalists`'s ``budget``), or ``None`` when
    the search has no efficiency objective or that trial failed."""
    seeded = options.handcrafted_sample()
    costs = [record["metrics"][options.efficiency] for record in history
             if options.efficiency and record["metrics"] and record["params"] == seeded]
    return costs[0] if costs else None


def retrain_finalists(options: SearchOptions, space: TTFSEyeSpace, history: list[dict], budget: float | None = None):
    """Retrain ``finalists`` trials of ``history`` (:func:`pick_finalists`) for ``final_epochs``, measured on
    validation; best validation fitness first (the choice)."""
    settings = MeasurementSettings.from_options(options.data, **options.evaluator_settings(final=True))
    finalists = []
    for number, entry in enumerate(pick_finalists(history, options.finalists, options.efficiency, budget)):
        candidate = space.freeze(entry["params"])
        print(f"finalist {number}: {candidate.spec}", flush=True)
        with epoch_progress(settings.train, f"finalist {number}") as callbacks:
            result = measure_candidate(candidate.spec, candidate.ann, settings, callbacks)
        finalists.append((entry["params"], candidate.spec, result))
    finalists.sort(key=lambda item: -item[2].metrics["default"])
    return finalists, settings


def check_lava(snn, inputs: torch.Tensor, steps_per_window: int) -> dict:
    """Lava's predictions and readouts vs the PyTorch discrete model on the same clips (float64)."""
    from tnas_plugin.hardware.lava_export import compare_with_torch, run_lava

    snn.double()
    try:
        lava = run_lava(snn, inputs, steps_per_window, samples_per_run=5)
        comparison = compare_with_torch(snn, inputs, steps_per_window, lava)
    finally:
        snn.float()
    return {**comparison, "lava_synops": float(lava["synops"])}


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
            "lava": compare_with_torch(qnet, inputs, spec.steps_per_window, lava)}


def _summary_row(name: str, metrics: dict, prefix: str = "test_") -> dict:
    """One row of a comparison table: accuracy and cost columns named after the split they were measured on."""
    keys = ("war", "uar", "synops", "neuron_updates", "spikes_per_neuron", "energy_uj", "latency_steps", "latency_ms")
    return {"network": name, "params": metrics.get("params"), **{prefix + key: metrics.get(key) for key in keys}}


def measure_baselines(options: SearchOptions, settings, spec: CandidateSpec, snn,
                      rate_steps: int | None = RATE_TWIN_STEPS,
                      handcrafted_result: CandidateResult | None = None) -> dict[str, list[dict]]:
    """The hand-crafted TTFS CNN, trained like the finalists (``handcrafted_result``: already trained so);
    and for the chosen network (``spec``, ``snn``) its ANN twin, its rate twin (``rate_steps`` steps;
    ``None``: left out) and a SEEN-style LIF CNN of its architecture trained with BPTT for the same epochs on
    the same data (:mod:`tnas_plugin.jobs.baselines`). Each is measured on the validation split (for the
    search's plot and hypervolume) and on the test split (the final table): ``{"validation": rows, "testing": rows}``."""
    handcrafted = replace(HANDCRAFTED_TTFS, resolution=options.resolution)
    ttfs = handcrafted_result
    if ttfs is None:
        with epoch_progress(settings.train, "hand-crafted TTFS baseline") as callbacks:
            ttfs = measure_candidate(handcrafted, build_ann(handcrafted), settings, callbacks)
    with epoch_progress(settings.train, "LIF baseline (BPTT)") as callbacks:
        lif = train_lif_baseline(spec, settings, callbacks)
    rows, twins = {}, ("ANN twin, rate twin" if rate_steps is not None else "ANN twin")
    for split, prefix in (("validation", "val_"), ("testing", "test_")):
        evaluation = ttfs.validation if split == "validation" else evaluate_network(handcrafted, ttfs.snn, settings, split, ttfs.params)
        print(f"measuring the chosen network's {twins} and the LIF baseline on the {split} split", flush=True)
        rows[split] = [_summary_row("hand-crafted TTFS CNN", evaluation.metrics, prefix),
                       *[_summary_row(name, metrics, prefix)
                         for name, metrics in twin_metrics(spec, snn, lif, settings, split, rate_steps)]]
    return rows


def save_chosen(out: Path, spec: CandidateSpec, snn, test: Evaluation, test_inputs: torch.Tensor) -> None:
    """Checkpoint, architecture, and on the test split: metrics, confusion matrix, per-layer SynOps and spike
    times of the chosen network."""
    chosen = out / "chosen"
    save_checkpoint(chosen / "model.pt", spec, snn, test.metrics)
    (chosen / "architecture.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    (chosen / "metrics.json").write_text(json.dumps(test.metrics, indent=2) + "\n")
    matrix = confusion(test.y_true, test.y_pred, spec.num_classes)
    pd.DataFrame(matrix, index=EMOTIONS, columns=EMOTIONS).to_csv(out / "confusion.csv")
    pd.DataFrame(test.synops.rows()).to_csv(out / "synops_per_layer.csv", index=False)
    with torch.no_grad():
        run = snn.run(test_inputs, spec.steps_per_window)
    spiking = [i for i, kind in enumerate(run.kinds) if kind.has_neurons]
    np.savez_compressed(out / "spike_times.npz", steps_per_window=spec.steps_per_window,
                        **{f"{i}:{run.kinds[i]}": run.spike_times[i][run.spike_mask[i]].cpu().numpy() for i in spiking})


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
        saved.update({key: Path(saved[key]) for key in ("data", "cache_dir") if saved.get(key)})
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
    ``tnas-er data check`` does (the decoded frames land in the cache the trials read). Bad sequences
    stop the job here, or with ``skip_bad`` are listed in ``skipped.csv`` (and ``report.md``) and left out."""
    size = (options.resolution, options.resolution)
    say(f"checking every sequence of {options.data} (event and intensity frames at {size[0]}x{size[1]})")
    checked = check_tree(options.data, size=size, cache_dir=options.cache_dir)
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


def check_port(port: int) -> None:
    """``UsageError`` when something already listens on ``port`` (NNI would fail after starting up)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as error:
            raise UsageError(f"port {port} is busy ({error.strerror}); choose another with --port") from None


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
    folder, options, run = open_run(options, overwrite, resume_from)
    try:
        return _run(options, folder, run, resumed=resume_from is not None)
    except BaseException as error:
        if resume_from is None and not folder.run_file.exists():
            folder.discard()  # stopped or refused before the search started: nothing to keep
        elif isinstance(error, Stopped):
            say(f"stopped: what the run finished is in {folder.work}; continue with: tnas-er search --resume {folder.out}")
        raise


def _run(options: SearchOptions, folder: ResultsFolder, run: dict, resumed: bool) -> Path:
    out = folder.work
    if not run.get("search_complete"):
        check_port(options.port)
    ensure_data(options)
    preflight(options, out)
    space = TTFSEyeSpace(resolution=options.resolution)
    if not run.get("search_complete"):
        folder.write_run(run)
        search = run_nas if options.engine == "nas" else run_tuner
        history, front, completed = search(options, space, folder, run["experiment_id"], resume=resumed)
        database = out / NNI_FOLDER / run["experiment_id"] / "db" / "nni.sqlite"
        names = sorted({name for record in history for name in record["params"]})
        trial_columns(_rows(history), database, names).to_csv(out / "trials.csv", index=False)
        _rows(front).drop(columns=["trial", "status"], errors="ignore").to_csv(out / "pareto.csv", index=False)
        if not completed:
            say(f"search stopped after {len(history)} finished trials; they are in {out / 'trials.csv'}")
            stop = stop_requested()
            if stop is not None:
                raise stop
            raise SearchInterrupted(f"NNI ended the search early; continue with: tnas-er search --resume {folder.out}")
        folder.write_run({**run, "search_complete": True, "history": history, "front": front})
    else:
        history, front = run["history"], run["front"]
        say(f"the search finished before the stop ({len(history)} trials): going on with the finalists")
    if not front:
        raise JobError(f"no trial succeeded; see the reason column of {out / 'trials.csv'}")
    finalists, settings = retrain_finalists(options, space, history, finalist_budget(options, history))
    pd.DataFrame([{**params, **{f"val_{key}": value for key, value in result.metrics.items()}}
                  for params, _, result in finalists]).to_csv(out / "finalists.csv", index=False)
    _, spec, result = finalists[0]  # chosen on validation; the test split is read from here on
    tested = [evaluate_network(f_spec, f_result.snn, settings, "testing", f_result.params) for _, f_spec, f_result in finalists]
    test_result = tested[0]
    test = replace(settings, eval_starts=1).dataset(spec, "testing")
    inputs = torch.stack([test[i][0] for i in range(min(options.lava_samples, len(test)))])
    save_chosen(out, spec, result.snn, test_result, inputs)
    print(f"checking the chosen network on Lava ({len(inputs)} clips)", flush=True)
    (out / "lava.json").write_text(json.dumps(check_lava(result.snn, inputs, spec.steps_per_window), indent=2) + "\n")
    (out / "fixed_point.json").write_text(json.dumps(check_fixed_point(spec, result.snn, settings, inputs), indent=2) + "\n")
    baselines = measure_baselines(options, settings, spec, result.snn)
    pd.DataFrame(baselines["validation"]).to_csv(out / "baselines_validation.csv", index=False)
    comparison = [_summary_row("TNAS-ER (chosen)", test_result.metrics),
                  *[_summary_row(f"TNAS-ER finalist {number}", evaluation.metrics) for number, evaluation in enumerate(tested[1:], 1)],
                  *baselines["testing"]]
    pd.DataFrame(comparison).to_csv(out / "comparison.csv", index=False)
    (out / "run.json").write_text(json.dumps({**asdict(options), "data": str(options.data), "out": str(folder.out)}, indent=2, default=str) + "\n")
    write_report(out)
    return folder.publish() / "report.md"
