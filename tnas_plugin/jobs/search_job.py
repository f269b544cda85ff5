"""``tnas-er search``: the whole TNAS-ER job in one call (docs/ARCHITECTURE.md, "Overview").

1. Data: the SEE tree given, or the built-in synthetic one (generated when absent).
2. Search: ``NasExperiment(TTFSEyeSpace, TNASEvaluator, TNASEvolution)`` on NNI's local training service,
   monitored in NNI's web UI; objectives WAR and UAR (maximised), optionally an efficiency metric (minimised).
   NNI's manager listens on ``SearchOptions.listen`` only (127.0.0.1 unless ``--listen`` says otherwise).
3. Finalists: the most accurate Pareto-front candidates retrained in-process and their TTFS networks
   evaluated; the one with the best fitness is chosen, saved (checkpoint + architecture JSON) and run
   on Lava's CPU simulator to check that it predicts exactly as the PyTorch discrete model.
4. Baselines measured in the same run on the same data: a hand-crafted TTFS CNN and the rate-coded
   snntorch LIF twin of it (same architecture and weights).
5. The results directory: tables (CSV/JSON) written here, then plots and ``report.md`` by
   :func:`tnas_plugin.jobs.report.write_report`.

SIGINT/SIGTERM during the search stop NNI's manager and keep the finished trials in ``trials.csv``.
"""
from __future__ import annotations

import contextlib
import json
import signal
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from tnas_plugin.candidate import CandidateSpec, build_ann
from tnas_plugin.checkpoint import save_checkpoint
from tnas_plugin.data import EMOTIONS, SynthConfig, synthesize
from tnas_plugin.hardware import estimate_energy, load_profile
from tnas_plugin.measurement import Evaluation, MeasurementSettings, evaluate_network, measure_candidate
from tnas_plugin.metrics import confusion, recognition_report
from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.trainer import epoch_progress

from .baselines import HANDCRAFTED_TTFS, RateLIFTwin, measure_lif
from .report import write_report

LIF_STEPS = 32  # time steps of the rate-coded LIF baseline


@dataclass
class SearchOptions:
    data: Path = Path("data/synthetic-see")
    out: Path = Path("results/search")
    budget: int = 16  # trials
    port: int = 8080
    listen: str = "127.0.0.1"  # NNI's manager listens here only; another address prints a security warning
    announce_ui: bool = True  # print the web UI address (NNI's manager serves the UI either way)
    seed: int = 0
    epochs: int = 25  # per trial
    final_epochs: int = 50  # finalists and baselines
    resolution: int = 32
    population: int = 8
    finalists: int = 3  # Pareto-front candidates retrained at the end
    efficiency: str | None = None  # optional third objective (minimised) next to WAR and UAR, e.g. "synops"
    lava_samples: int = 20
    hardware_profile: str = "loihi"

    def evaluator_settings(self) -> dict:
        return dict(epochs=self.epochs, seed=self.seed, validation_seed=self.seed, hardware_profile=self.hardware_profile)


class SearchInterrupted(RuntimeError):
    """The search was stopped by SIGINT/SIGTERM; the finished trials were kept."""


def ensure_data(options: SearchOptions) -> Path:
    """The SEE tree to search on; the default synthetic set is generated on first use."""
    if not (options.data / "emotion.json").exists():
        if options.data != SearchOptions.data:
            raise FileNotFoundError(f"{options.data / 'emotion.json'}: not a SEE tree (emotion.json missing)")
        print(f"generating the synthetic SEE-like data set in {options.data} ...", flush=True)
        synthesize(options.data, SynthConfig(seed=options.seed), progress=True)
    return options.data


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt, which NNI's experiment handles by stopping its manager."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_nas(options: SearchOptions, space: TTFSEyeSpace) -> tuple[list[dict], list[dict], bool]:
    """Run the NNI search; returns (every trial's record, the Pareto front, whether it completed)."""
    from nni.nas.experiment import NasExperiment

    from tnas_plugin.strategies import TNASEvaluator, TNASEvolution
    from tnas_plugin.strategies.manager_listen import manager_listening_on, security_warning, web_ui_url

    evaluator = TNASEvaluator(str(options.data.resolve()), **options.evaluator_settings())
    objectives = {"war": "max", "uar": "max", **({options.efficiency: "min"} if options.efficiency else {})}
    strategy = TNASEvolution(seed=options.seed, population_size=options.population, objectives=objectives)
    experiment = NasExperiment(space, evaluator, strategy)
    experiment.config.experiment_name = "tnas-er-search"
    experiment.config.max_trial_number = options.budget
    experiment.config.trial_concurrency = 1
    warning = security_warning(options.listen)
    if warning:
        print(warning, file=sys.stderr)
    if options.announce_ui:
        print(f"NNI web UI: {web_ui_url(options.listen, options.port)}  (experiment {experiment.id})", flush=True)
    outcome, stopped_by_nni = None, False
    with _sigterm_as_interrupt(), manager_listening_on(options.listen):
        try:
            outcome = experiment.run(port=options.port, wait_completion=True)
            stopped_by_nni = outcome is None  # NNI stops the experiment itself on KeyboardInterrupt
        except KeyboardInterrupt:  # raised outside NNI's own handler (e.g. while it was starting)
            pass
        finally:
            if not stopped_by_nni:
                experiment.stop()
    completed = outcome is True
    core = strategy.core
    history = core.history() if core is not None else []
    return history, strategy.pareto_front() if core is not None and history else [], completed


def _rows(records: list[dict]) -> pd.DataFrame:
    rows = []
    for number, record in enumerate(records):
        metrics = record["metrics"]
        rows.append({"trial": number, "status": "failed" if metrics is None else "done", **record["params"], **(metrics or {})})
    return pd.DataFrame(rows)


def retrain_finalists(options: SearchOptions, space: TTFSEyeSpace, front: list[dict]):
    """Retrain the front's most accurate ``finalists`` candidates for ``final_epochs``; best fitness first."""
    settings = MeasurementSettings.from_options(options.data, **{**options.evaluator_settings(), "epochs": options.final_epochs})
    finalists = []
    for number, entry in enumerate(front[:options.finalists]):
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


def _summary_row(name: str, metrics: dict) -> dict:
    keys = ("war", "uar", "params", "synops", "spikes_per_neuron", "energy_uj", "latency_steps", "latency_ms")
    return {"network": name, **{key: metrics.get(key) for key in keys}}


def measure_baselines(options: SearchOptions, settings) -> list[dict]:
    """The hand-crafted TTFS CNN, trained like the finalists, and its rate-coded LIF twin (same weights)."""
    handcrafted = replace(HANDCRAFTED_TTFS, resolution=options.resolution)
    with epoch_progress(settings.train, "hand-crafted TTFS baseline") as callbacks:
        ttfs = measure_candidate(handcrafted, build_ann(handcrafted), settings, callbacks)
    ttfs_test = evaluate_network(handcrafted, ttfs.snn, settings, "testing", ttfs.params)
    test = settings.dataset(handcrafted, "testing")
    lif = RateLIFTwin(ttfs.snn.cpu(), steps=LIF_STEPS)
    readout = ttfs.synops["per_layer"][-1]["neurons"]
    print(f"running its rate-coded LIF twin (T={LIF_STEPS})", flush=True)
    torch.manual_seed(options.seed)
    y_true, y_pred, report = measure_lif(lif, DataLoader(test, batch_size=128), ttfs_test.synops["neurons"],
                                         ttfs_test.synops["neurons"] - readout)
    profile = replace(load_profile(options.hardware_profile), neuron_updates="per_step")  # a LIF neuron updates every step
    energy = estimate_energy(report, profile)
    lif_metrics = {**recognition_report(y_true, y_pred, test.classes), "params": ttfs.params,
                   "synops": report["total"], "spikes_per_neuron": report["spikes_per_neuron"],
                   "energy_uj": energy["energy_pj"] * 1e-6, "latency_steps": report["latency_steps"],
                   "latency_ms": energy["latency_ms"]}
    return [_summary_row("hand-crafted TTFS CNN", ttfs_test.metrics),
            _summary_row(f"rate-coded LIF twin of it (snntorch, T={LIF_STEPS})", lif_metrics)]


def save_chosen(out: Path, spec: CandidateSpec, snn, test: Evaluation, test_inputs: torch.Tensor) -> None:
    """Checkpoint, architecture, and on the test split: metrics, confusion matrix, per-layer SynOps and spike
    times of the chosen network."""
    chosen = out / "chosen"
    save_checkpoint(chosen / "model.pt", spec, snn, test.metrics)
    (chosen / "architecture.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    (chosen / "metrics.json").write_text(json.dumps(test.metrics, indent=2) + "\n")
    matrix = confusion(test.y_true, test.y_pred, spec.num_classes)
    pd.DataFrame(matrix, index=EMOTIONS, columns=EMOTIONS).to_csv(out / "confusion.csv")
    pd.DataFrame(test.synops["per_layer"]).to_csv(out / "synops_per_layer.csv", index=False)
    with torch.no_grad():
        run = snn.run(test_inputs, spec.steps_per_window)
    spiking = [i for i, kind in enumerate(run.kinds) if kind.has_neurons]
    np.savez_compressed(out / "spike_times.npz", steps_per_window=spec.steps_per_window,
                        **{f"{i}:{run.kinds[i]}": run.spike_times[i][run.spike_mask[i]].cpu().numpy() for i in spiking})


def run_search(options: SearchOptions) -> Path:
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    ensure_data(options)
    space = TTFSEyeSpace(resolution=options.resolution)
    history, front, completed = run_nas(options, space)
    _rows(history).to_csv(out / "trials.csv", index=False)
    _rows(front).drop(columns=["trial", "status"], errors="ignore").to_csv(out / "pareto.csv", index=False)
    if not completed:
        raise SearchInterrupted(f"search stopped after {len(history)} finished trials; they are in {out / 'trials.csv'}")
    if not front:
        raise RuntimeError(f"no trial succeeded; see {out / 'trials.csv'} and the NNI trial logs")
    finalists, settings = retrain_finalists(options, space, front)
    pd.DataFrame([{**params, **result.metrics} for params, _, result in finalists]).to_csv(out / "finalists.csv", index=False)
    _, spec, result = finalists[0]  # chosen on validation; the test split is read from here on
    test_result = evaluate_network(spec, result.snn, settings, "testing", result.params)
    test = replace(settings, eval_starts=1).dataset(spec, "testing")
    inputs = torch.stack([test[i][0] for i in range(min(options.lava_samples, len(test)))])
    save_chosen(out, spec, result.snn, test_result, inputs)
    print(f"checking the chosen network on Lava ({len(inputs)} clips)", flush=True)
    (out / "lava.json").write_text(json.dumps(check_lava(result.snn, inputs, spec.steps_per_window), indent=2) + "\n")
    comparison = [_summary_row("TNAS-ER (chosen)", test_result.metrics), *measure_baselines(options, settings)]
    pd.DataFrame(comparison).to_csv(out / "comparison.csv", index=False)
    (out / "run.json").write_text(json.dumps({**asdict(options), "data": str(options.data), "out": str(out)}, indent=2) + "\n")
    return write_report(out)
