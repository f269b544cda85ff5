"""TTFS vs its baselines on accuracy, operations, energy and latency: one table per seed, medians over seeds.

For each seed, on the default synthetic SEE tree (the demo's data) and with the demo's epochs:

1. the hand-crafted TTFS CNN (``HANDCRAFTED_TTFS``) is trained by the project's pipeline
   (``measure_candidate``: ReLU twin, TTFS mapping, discrete fine-tuning) on the training split;
2. its rate twin (IF neurons, ``beta = 1``, Bernoulli input) is swept over T = 8 ... 256 on the validation
   subjects; the smallest T reaching 95 % of the TTFS network's validation accuracy is kept (else 256,
   and the curve says so) -- ``rate_sweep_seed<S>.csv``;
3. a SEEN-style LIF CNN of the same architecture is trained with BPTT for the same epochs on the same data;
4. every network is scored once on the test subjects (WAR, UAR; a run whose UAR is exactly 1/7 predicts
   one class: *collapsed*), and its operations are counted on the same 64 test clips, priced on the
   ``loihi`` (core-time latency) and ``cmos45nm`` profiles; the ANN twin is the TTFS network in
   continuous time (the clipped-ReLU ANN) and costs its MACs.

``--ablation E`` (default 12) also trains LIF variants for E epochs (seed 0) to show what kept the old LIF baseline
at the loss of chance (``lif_ablation.csv``). The per-seed tables are merged into ``baselines.csv`` (median
per network, collapsed runs counted) and ``baselines.png`` after the seeds run (or alone: ``--summarize``).

    python benchmarks/bench_baselines.py --seeds 0 1 2 [--epochs 50] [--data DIR] [--ablation 12] [--threads N]
    python benchmarks/bench_baselines.py --summarize
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd
import torch
from snntorch import spikegen
from torch.utils.data import DataLoader

from machine import describe  # benchmarks/machine.py
from tnas_plugin.candidate import build_ann
from tnas_plugin.data import SynthConfig, synthesize
from tnas_plugin.hardware import count_ttfs
from tnas_plugin.jobs.baselines import (HANDCRAFTED_TTFS, SEENStyleLIF, cost_columns, evaluate_stepped, rate_twin,
                                        smallest_rate_steps, train_stepped)
from tnas_plugin.measurement import MeasurementSettings, measure_candidate
from tnas_plugin.metrics import recognition_report
from tnas_plugin.trainer import predict

RESULTS = Path(__file__).parent / "results"
PROFILES = ("loihi", "cmos45nm")
CHANCE = 1 / 7
COST_CLIPS = 64
RATE_CHOICES = (8, 16, 32, 64, 128, 256)


def ensure_data(root: Path) -> Path:
    if not (root / "emotion.json").exists():
        print(f"generating the default synthetic SEE tree in {root}", flush=True)
        synthesize(root, SynthConfig(seed=0))
    return root


def scores(y_true, y_pred, classes) -> dict:
    report = recognition_report(y_true, y_pred, classes)
    return {"war": report["war"], "uar": report["uar"], "collapsed": bool(math.isclose(report["uar"], CHANCE))}


def run_seed(data: Path, seed: int, epochs: int, machine: str) -> pd.DataFrame:
    spec = HANDCRAFTED_TTFS
    settings = MeasurementSettings.from_options(data, epochs=epochs, seed=seed, validation_seed=seed)
    start = time.perf_counter()
    result = measure_candidate(spec, build_ann(spec), settings)
    snn = result.snn.cpu().eval()
    print(f"seed {seed}: TTFS trained in {time.perf_counter() - start:.0f} s, validation WAR {result.metrics['war']:.3f}", flush=True)
    validation, test = settings.dataset(spec, "validation"), settings.dataset(spec, "testing")
    val_loader, test_loader = DataLoader(validation, batch_size=128), DataLoader(test, batch_size=128)
    cost_inputs = torch.stack([test[i][0] for i in range(min(COST_CLIPS, len(test)))])
    cost_loader = [(cost_inputs, torch.zeros(len(cost_inputs), dtype=torch.long))]
    rows = []

    def add(name: str, y_true, y_pred, report, val_war: float, extra: dict | None = None) -> None:
        rows.append({"seed": seed, "network": name, **scores(y_true, y_pred, test.classes), "val_war": val_war,
                     **cost_columns(report, PROFILES), **(extra or {})})
        print(f"  {name}: test WAR {rows[-1]['war']:.3f} UAR {rows[-1]['uar']:.3f}", flush=True)

    steps = spec.steps_per_window
    ttfs_report = count_ttfs(snn, cost_inputs, steps)
    add(f"TTFS (hand-crafted CNN, S={steps})", *predict(lambda x: snn(x, steps), test_loader, torch.device("cpu")),
        ttfs_report, result.metrics["war"], {"T": ttfs_report.time_steps})
    ann_val = predict(lambda x: snn(x), val_loader, torch.device("cpu"))
    add("ANN twin (clipped ReLU)", *predict(lambda x: snn(x), test_loader, torch.device("cpu")), ttfs_report.ann_twin(),
        float((ann_val[0] == ann_val[1]).mean()))

    target = 0.95 * result.metrics["war"]
    found, curve = smallest_rate_steps(snn, val_loader, target, RATE_CHOICES, seed=seed)
    pd.DataFrame([{"seed": seed, "T": t, "val_war": acc, "target": target} for t, acc in curve]).to_csv(
        RESULTS / f"rate_sweep_seed{seed}.csv", index=False)
    rate_steps = found or RATE_CHOICES[-1]
    torch.manual_seed(seed)
    twin = rate_twin(snn, rate_steps)
    y_true, y_pred, _ = evaluate_stepped(twin, test_loader, count=False)
    add(f"rate twin (IF, T={rate_steps}{'' if found else ', 95 % not reached'})", y_true, y_pred,
        evaluate_stepped(twin, cost_loader)[2], dict(curve)[rate_steps], {"T": rate_steps})

    train_loader = DataLoader(settings.dataset(spec, "training"), batch_size=settings.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(seed))
    lif = SEENStyleLIF(spec)
    start = time.perf_counter()
    history = train_stepped(lif, train_loader, epochs, settings.train.lr, seed)
    lif_val = evaluate_stepped(lif, val_loader, count=False)
    y_true, y_pred, _ = evaluate_stepped(lif, test_loader, count=False)
    print(f"  LIF BPTT trained in {time.perf_counter() - start:.0f} s, final loss {history[-1].loss:.3f}", flush=True)
    add(f"LIF BPTT (SEEN-style, T={lif.steps})", y_true, y_pred, evaluate_stepped(lif, cost_loader)[2],
        float((lif_val[0] == lif_val[1]).mean()), {"T": lif.steps, "final_loss": history[-1].loss})
    frame = pd.DataFrame(rows).assign(epochs=epochs, machine=machine)
    frame.to_csv(RESULTS / f"baselines_seed{seed}.csv", index=False)
    return frame


class _RateInputLIF(SEENStyleLIF):
    """The old baseline's input: each presented frame becomes one Bernoulli spike map (rate code)."""

    def _present(self, x):
        for frame in super()._present(x):
            yield spikegen.rate(frame.clamp(0, 1), num_steps=1)[0]


def ablation(data: Path, epochs: int) -> None:
    """The LIF BPTT baseline with one ingredient changed at a time (seed 0, validation accuracy)."""
    spec = HANDCRAFTED_TTFS
    settings = MeasurementSettings.from_options(data, epochs=epochs, seed=0, validation_seed=0)
    train_loader = DataLoader(settings.dataset(spec, "training"), batch_size=settings.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(0))
    val_loader = DataLoader(settings.dataset(spec, "validation"), batch_size=128)
    variants = {
        "baseline as shipped (direct input, BN on every layer, arctan surrogate slope 2)": lambda: SEENStyleLIF(spec),
        "narrow surrogate (slope 25)": lambda: SEENStyleLIF(spec, surrogate_slope=25.0),
        "no BN on the hidden Linear": lambda: _without_linear_norm(SEENStyleLIF(spec)),
        "no BN on the hidden Linear + narrow surrogate": lambda: _without_linear_norm(SEENStyleLIF(spec, surrogate_slope=25.0)),
        "Bernoulli rate-coded input (old baseline)": lambda: _RateInputLIF(spec),
    }
    rows = []
    for name, build in variants.items():
        torch.manual_seed(0)
        model = build()
        history = train_stepped(model, train_loader, epochs, settings.train.lr, 0)
        y_true, y_pred, _ = evaluate_stepped(model, val_loader, count=False)
        rows.append({"variant": name, "epochs": epochs, "final_loss": history[-1].loss, "ln7": math.log(7),
                     "val_war": float((y_true == y_pred).mean())})
        print(rows[-1], flush=True)
    pd.DataFrame(rows).assign(machine=describe()).to_csv(RESULTS / "lif_ablation.csv", index=False)


def _without_linear_norm(model: SEENStyleLIF) -> SEENStyleLIF:
    for block in model.blocks:
        if isinstance(block.norm, torch.nn.BatchNorm1d):
            block.norm = None
    return model


def summarize() -> None:
    runs = pd.concat([pd.read_csv(path) for path in sorted(RESULTS.glob("baselines_seed*.csv"))])
    runs["kind"] = runs["network"].str.split(" \\(").str[0]
    numeric = [c for c in runs.columns if runs[c].dtype.kind in "fi" and c not in ("seed",)]
    summary = runs.groupby("kind", sort=False)[numeric].median()
    summary["runs"] = runs.groupby("kind", sort=False).size()
    summary["collapsed_runs"] = runs.groupby("kind", sort=False)["collapsed"].sum()
    summary["chance"] = CHANCE
    summary.to_csv(RESULTS / "baselines.csv")
    print(summary.to_string())
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, profile in zip(axes, PROFILES):
        for kind, group in runs.groupby("kind", sort=False):
            column = f"energy_uj_{profile}"
            ax.scatter(group[column], group["war"], label=kind, s=40)
        ax.axhline(CHANCE, color="grey", ls=":", label="chance")
        ax.set_xscale("log")
        ax.set_xlabel(f"energy per inference on {profile} (µJ)")
        ax.set_ylabel("test WAR")
    axes[0].legend(fontsize=7)
    fig.suptitle("TTFS vs baselines, one point per seed (bench_baselines.py)")
    fig.tight_layout()
    fig.savefig(RESULTS / "baselines.png", dpi=120)
    print(f"wrote {RESULTS / 'baselines.csv'} and baselines.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/synthetic-see"))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=50, help="epochs of every network (the demo's final epochs)")
    parser.add_argument("--ablation", type=int, default=12, help="epochs of the LIF ablation (0: skip)")
    parser.add_argument("--summarize", action="store_true", help="merge the per-seed tables and plot")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default), e.g. 1 per seed run in parallel")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.summarize:
        summarize()
        return
    data = ensure_data(args.data)
    machine = describe()
    print(machine, flush=True)
    for seed in args.seeds:
        print(run_seed(data, seed, args.epochs, machine).drop(columns=["machine"]).to_string(), flush=True)
    if args.seeds:
        summarize()
    if args.ablation:
        ablation(data, args.ablation)


if __name__ == "__main__":
    main()
