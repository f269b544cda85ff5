"""Results of a search as files a person reads: CSV tables, PNG plots and a Markdown report.

Plots use matplotlib's non-interactive Agg backend. Every function writes one file and returns its path.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pareto(trials: pd.DataFrame, front: pd.DataFrame, path: Path) -> Path:
    """WAR vs UAR of every finished trial, colour = SynOps per inference (log scale), front members circled."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    done = trials.dropna(subset=["war", "uar"])
    points = ax.scatter(done["war"], done["uar"], c=np.log10(done["synops"].clip(lower=1)), cmap="viridis", s=36)
    fig.colorbar(points, ax=ax, label="log10 SynOps per inference")
    ax.plot(front["war"], front["uar"], "o", mfc="none", mec="red", ms=11, label="Pareto front")
    ax.set_xlabel("WAR (accuracy)")
    ax.set_ylabel("UAR (balanced accuracy)")
    ax.set_title(f"{len(done)} trials")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path) -> Path:
    """Row-normalised confusion matrix (rows: true emotion) with the counts written in."""
    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="recall")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _save(fig, path)


def plot_bars(values: dict[str, float], ylabel: str, title: str, path: Path, log: bool = False) -> Path:
    """One bar per named value (per-lighting accuracy, SynOps per layer, ...)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(values) + 2), 3.8))
    ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)


def plot_spike_time_histograms(spike_times: list[np.ndarray], names: list[str], steps_per_window: int, path: Path) -> Path:
    """Histogram of spike times (in time steps) of each spiking layer; one panel per layer."""
    fig, axes = plt.subplots(len(names), 1, figsize=(6, 1.6 * len(names) + 0.6), sharex=True, squeeze=False)
    for ax, times, name in zip(axes[:, 0], spike_times, names):
        ax.hist(times, bins=np.arange(times.min(initial=0), times.max(initial=0) + 2) - 0.5, color="tab:orange")
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    axes[-1, 0].set_xlabel(f"spike time step ({steps_per_window} steps per window)")
    return _save(fig, path)



def _table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".4g")


def write_report(out: Path) -> Path:
    """Plots and ``report.md`` from the tables a search wrote into ``out`` (re-runnable: ``tnas-er report``)."""
    out = Path(out)
    trials = pd.read_csv(out / "trials.csv")
    front = pd.read_csv(out / "pareto.csv")
    comparison = pd.read_csv(out / "comparison.csv")
    metrics = json.loads((out / "chosen" / "metrics.json").read_text())
    architecture = json.loads((out / "chosen" / "architecture.json").read_text())
    lava = json.loads((out / "lava.json").read_text())
    run = json.loads((out / "run.json").read_text())
    per_layer = pd.read_csv(out / "synops_per_layer.csv")
    confusion = pd.read_csv(out / "confusion.csv", index_col=0)
    spikes = np.load(out / "spike_times.npz")
    layers = [name for name in spikes.files if name != "steps_per_window"]

    plot_pareto(trials, front, out / "pareto.png")
    plot_confusion(confusion.to_numpy(), list(confusion.columns), out / "confusion.png")
    lighting = {key[len("acc_"):]: value for key, value in metrics.items() if key.startswith("acc_")}
    plot_bars(lighting, "accuracy", "chosen network: accuracy per lighting", out / "lighting.png")
    plot_bars(dict(zip(per_layer["name"], per_layer["synops"])), "SynOps per inference", "chosen network: SynOps per layer",
              out / "synops_per_layer.png", log=True)
    plot_spike_time_histograms([spikes[name] for name in layers], layers, int(spikes["steps_per_window"]), out / "spike_times.png")

    failed = int((trials["status"] == "failed").sum())
    front_columns = [c for c in ("war", "uar", "synops", "energy_uj", "latency_steps", "params") if c in front.columns]
    lines = [
        "# TNAS-ER search report",
        "",
        "## Summary (measured in this run, test split)",
        "",
        _table(comparison),
        "",
        f"WAR = accuracy, UAR = balanced accuracy; SynOps and energy per inference on the `{run['hardware_profile']}` "
        f"hardware profile; latency in time steps. Data: `{run['data']}`; {run['budget']} trials of {run['epochs']} epochs; finalists and "
        f"baselines trained for {run['final_epochs']} epochs.",
        "",
        f"## Search: {len(trials)} trials ({failed} failed), {len(front)} on the Pareto front of "
        f"(WAR, UAR{', ' + run['efficiency'] if run.get('efficiency') else ''})",
        "",
        "![Pareto front](pareto.png)",
        "",
        _table(front[front_columns]),
        "",
        "Every trial with every metric: [trials.csv](trials.csv); the front: [pareto.csv](pareto.csv); "
        "the retrained finalists: [finalists.csv](finalists.csv).",
        "",
        "## Chosen network",
        "",
        f"Architecture ([chosen/architecture.json](chosen/architecture.json)): modality {architecture['modality']}, "
        f"{architecture['frames']} frames per clip, {len(architecture['stages'])} conv stages "
        f"{[tuple(s.values()) for s in architecture['stages']]} (channels, kernel, pooling), classifier width "
        f"{architecture['classifier_width']}, {architecture['steps_per_window']} steps per window. "
        f"Checkpoint: [chosen/model.pt](chosen/model.pt).",
        "",
        f"WAR {metrics['war']:.3f}, UAR {metrics['uar']:.3f}, {metrics['synops']:.4g} SynOps and "
        f"{metrics['spikes_per_neuron']:.3f} spikes per neuron per inference, latency {metrics['latency_steps']} steps.",
        "",
        "![Confusion matrix](confusion.png) ![Accuracy per lighting](lighting.png)",
        "",
        "![SynOps per layer](synops_per_layer.png) ![Spike times per layer](spike_times.png)",
        "",
        "## Lava check",
        "",
        f"On Lava's CPU simulator (Loihi2SimCfg, floating point) the chosen network predicted the same class as the "
        f"PyTorch discrete-time model on {lava['agreement']:.0%} of {lava['samples']} test clips; max |readout "
        f"difference| {lava['max_readout_difference']:.2e}; SynOps per inference from Lava's spikes "
        f"{lava['lava_synops']:.4g}.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
