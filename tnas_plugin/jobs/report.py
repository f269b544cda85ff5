"""Results of a search as files a person reads: CSV tables, PNG plots and a Markdown report.

Plots use matplotlib's non-interactive Agg backend. Every function writes one file and returns its path.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tnas_plugin.candidate import CandidateSpec  # noqa: E402
from tnas_plugin.pareto import hypervolume  # noqa: E402

from .baselines import HANDCRAFTED_TTFS  # noqa: E402


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def hypervolume_2d(uar, cost, reference: tuple[float, float]) -> float:
    """Area dominated by the points (UAR maximised, cost minimised) and bounded by ``reference`` = (UAR, cost)
    (:func:`tnas_plugin.pareto.hypervolume`); points beyond it count 0."""
    return hypervolume([(-u, c) for u, c in zip(uar, cost)], (-reference[0], reference[1]))


def hypervolume_reference(baselines: pd.DataFrame, trials: pd.DataFrame, cost: str,
                          num_classes: int = 7) -> tuple[float, float, str]:
    """(chance UAR 1/num_classes, 2x the hand-crafted TTFS CNN's validation cost, what that cost is); without
    baselines (``--baselines none``) 2x the dearest trial's cost."""
    handcrafted = baselines[baselines["network"] == HANDCRAFTED]
    if len(handcrafted):
        return 1 / num_classes, 2 * float(handcrafted[f"val_{cost}"].iloc[0]), "the hand-crafted network's"
    return 1 / num_classes, 2 * float(trials[f"val_{cost}"].max()), "the dearest trial's"


def plot_uar_vs_cost(trials: pd.DataFrame, front: pd.DataFrame, baselines: pd.DataFrame, cost: str, path: Path) -> Path:
    """Validation UAR against ``cost`` (log scale) of every finished trial; the front and every baseline marked."""
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    done = trials.dropna(subset=["val_uar", f"val_{cost}"])
    # baselines hollow and beneath the trials and the front: a baseline at a front point never hides it
    for (_, row), marker in zip(baselines.iterrows(), ("*", "s", "D", "^", "v", "P")):
        ax.plot(row[f"val_{cost}"], row["val_uar"], marker, mfc="none", mec="black", ms=14, zorder=1, label=row["network"])
    ax.scatter(done[f"val_{cost}"], done["val_uar"], s=22, color="tab:blue", alpha=0.6, zorder=2, label=f"trials ({len(done)})")
    steps = front.sort_values(f"val_{cost}")
    ax.plot(steps[f"val_{cost}"], steps["val_uar"], "o", mfc="none", mec="red", ms=10, zorder=3, label="Pareto front")
    ax.axhline(1 / 7, color="grey", lw=0.8, ls=":", label="chance (1/7)")
    ax.set_xscale("log")
    ax.set_xlabel(f"{cost} per inference (validation clips)")
    ax.set_ylabel("validation UAR")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7)
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



CHOSEN = "TNAS-ER (chosen)"  #: the chosen network's row in comparison.csv
HANDCRAFTED = "hand-crafted TTFS CNN"  #: the hand-crafted network's row in comparison.csv


def verdict(comparison: pd.DataFrame, chosen_is_handcrafted: bool, num_classes: int = 7) -> str:
    """The report's opening sentences, computed from ``comparison`` (comparison.csv, test split): the chosen
    network's test UAR and energy against the hand-crafted TTFS CNN's, their ratios, chance level (1 /
    ``num_classes``), and every network below twice chance named."""
    rows = comparison.set_index("network")
    chance = 1 / num_classes
    chosen = rows.loc[CHOSEN]
    figures = f"test UAR {chosen['test_uar']:.3f} at {chosen['test_energy_uj']:.3g} µJ per inference"
    if chosen_is_handcrafted:
        text = (f"The chosen network is the hand-crafted TTFS CNN itself: no searched network beat it on validation. "
                f"It reaches {figures}; chance is {chance:.3f}.")
    elif HANDCRAFTED in rows.index:
        handcrafted = rows.loc[HANDCRAFTED]
        text = (f"The chosen network reaches {figures}, the hand-crafted TTFS CNN (trained alike) "
                f"{handcrafted['test_uar']:.3f} at {handcrafted['test_energy_uj']:.3g} µJ: "
                f"{chosen['test_uar'] / handcrafted['test_uar']:.2f}x its UAR at "
                f"{chosen['test_energy_uj'] / handcrafted['test_energy_uj']:.2f}x its energy. Chance is {chance:.3f}.")
    else:
        text = f"The chosen network reaches {figures}; chance is {chance:.3f}. No baselines were measured (--baselines none)."
    weak = [name for name, uar in rows["test_uar"].items() if uar < 2 * chance]
    if weak:
        text += (f" **Below twice chance (test UAR < {2 * chance:.3f}), barely learned:** {', '.join(weak)}; train "
                 "longer (--epochs, --final-epochs) or on more data before reading anything into these figures.")
    return text


def _table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".4g")


def write_report(out: Path) -> Path:
    """Plots and ``report.md`` from the tables a search wrote into ``out`` (re-runnable: ``tnas-er report``)."""
    out = Path(out)
    trials = pd.read_csv(out / "trials.csv")
    front = pd.read_csv(out / "pareto.csv")
    comparison = pd.read_csv(out / "comparison.csv")
    baselines = pd.read_csv(out / "baselines_validation.csv")
    metrics = json.loads((out / "chosen" / "metrics.json").read_text())
    architecture = json.loads((out / "chosen" / "architecture.json").read_text())
    lava = json.loads((out / "lava.json").read_text())
    run = json.loads((out / "run.json").read_text())
    per_layer = pd.read_csv(out / "synops_per_layer.csv")
    confusion = pd.read_csv(out / "confusion.csv", index_col=0)
    spikes = np.load(out / "spike_times.npz")
    layers = [name for name in spikes.files if name != "steps_per_window"]

    cost = run.get("efficiency") or "energy_uj"
    plot_uar_vs_cost(trials, front, baselines, cost, out / "pareto.png")
    done = trials.dropna(subset=["val_uar", f"val_{cost}"])
    *reference, reference_name = hypervolume_reference(baselines, done, cost)
    volume = hypervolume_2d(done["val_uar"], done[f"val_{cost}"], reference)
    handcrafted = baselines[baselines["network"] == HANDCRAFTED]
    handcrafted_volume = (f"the hand-crafted network alone, trained like the finalists, covers "
                          f"{hypervolume_2d(handcrafted['val_uar'], handcrafted[f'val_{cost}'], reference):.4g}"
                          if len(handcrafted) else "no baselines were measured (--baselines none)")
    plot_confusion(confusion.to_numpy(), list(confusion.columns), out / "confusion.png")
    lighting = {key[len("acc_"):]: value for key, value in metrics.items() if key.startswith("acc_")}
    plot_bars(lighting, "accuracy", "chosen network: accuracy per lighting", out / "lighting.png")
    plot_bars(dict(zip(per_layer["name"], per_layer["synaptic_events"])), "SynOps per inference", "chosen network: SynOps per layer",
              out / "synops_per_layer.png", log=True)
    plot_spike_time_histograms([spikes[name] for name in layers], layers, int(spikes["steps_per_window"]), out / "spike_times.png")

    failed = int((trials["status"] == "failed").sum())
    distinct = len(trials)
    shown = ("val_war", "val_uar", "val_synops", "val_energy_uj", "val_latency_steps", f"val_{cost}", "params")
    front_columns = [c for c in dict.fromkeys(shown) if c in front.columns]  # the search's cost objective always shown
    chosen_is_handcrafted = CandidateSpec.from_dict(architecture) == replace(HANDCRAFTED_TTFS, resolution=run["resolution"])
    lines = [
        "# TNAS-ER search report",
        "",
        f"**Verdict.** {verdict(comparison, chosen_is_handcrafted, architecture['num_classes'])}",
        "",
        "## Protocol",
        "",
        "SEE-style data ships a training and a testing subset. A validation split is carved from the training subset "
        f"the way the test split was carved (`--validation-split {run.get('validation_split', 'auto')}`: takes within "
        f"subjects when test subjects also appear in training, as in SEE's official split, else whole subjects; 20 %, "
        f"picked by seed {run['seed']}). Every trial trains on the rest and is measured on validation; the search's "
        "objectives, the Pareto front, the finalists and the chosen network (the best validation fitness within the "
        "hand-crafted network's validation cost) all use validation metrics (`val_` columns of trials.csv, pareto.csv, "
        "finalists.csv). Then the chosen network and the baselines are retrained "
        + ("on training + validation" if run.get("final_training", "training+validation") != "training" else
           "on training only (`--keep-validation-out`)")
        + " and the test split is read once: the table below (`test_` columns of comparison.csv), the chosen "
        "network's figures and the Lava check. The finalists' rows are the networks measured on validation, read on "
        "test to show how well validation predicted it.",
        "",
        "## Summary (measured in this run, test split)",
        "",
        _table(comparison),
        "",
        f"WAR = accuracy, UAR = balanced accuracy; SynOps and energy per inference on the `{run['hardware_profile']}` "
        f"hardware profile; latency in time steps. Data: `{run['data']}`; {run['budget']} trials of {run['epochs']} epochs; finalists and "
        f"baselines trained for {run['final_epochs']} epochs.",
        "",
        f"## Search: {distinct} distinct networks ({failed} failed), {len(front)} on the Pareto front of "
        f"(WAR, UAR{', ' + run['efficiency'] if run.get('efficiency') else ''}) on validation",
        "",
        "![validation UAR against cost](pareto.png)",
        "",
        f"Hypervolume of (validation UAR, {cost}) over every trial: **{volume:.4g}**, from the reference point "
        f"(UAR 1/7, 2x {reference_name} {cost} = {reference[1]:.4g}); {handcrafted_volume}. "
        "Trials that collapse to one class fail with that reason (trials.csv).",
        "",
        _table(front[front_columns]),
        "",
        "Every trial with every metric: [trials.csv](trials.csv); the front: [pareto.csv](pareto.csv); "
        "the retrained finalists: [finalists.csv](finalists.csv); the baselines on validation: "
        "[baselines_validation.csv](baselines_validation.csv).",
        "",
        "## Chosen network (test split)",
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
    lines += fixed_point_section(out, metrics)
    lines += tolerated_section(out)
    lines += skipped_section(out)
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def fixed_point_section(out: Path, metrics: dict) -> list[str]:
    """Float vs fixed-point test WAR/UAR of the chosen network and its Lava ``fixed_pt`` check (``fixed_point.json``)."""
    if not (out / "fixed_point.json").is_file():
        return []
    fixed = json.loads((out / "fixed_point.json").read_text())
    lava, bits = fixed["lava"], fixed["weight_bits"]
    table = pd.DataFrame([{"weights": "float", "test_war": metrics["war"], "test_uar": metrics["uar"]},
                          {"weights": f"{bits}-bit integer", "test_war": fixed["test_war"], "test_uar": fixed["test_uar"]}])
    return ["## Fixed point", "",
            f"The chosen network quantised after training (`tnas_plugin.ttfs.quantize`, {bits}-bit weights with a "
            "power-of-two scale per layer, 24-bit saturating potentials, integer time steps):", "",
            _table(table), "",
            f"On Lava's fixed-point models (`fixed_pt`: PyDenseModelBitAcc, PyConvModelFixed and the TTFS models) it "
            f"predicted the same class as the PyTorch integer model on {lava['agreement']:.0%} of {lava['samples']} test "
            f"clips, max |integer readout difference| {lava['max_readout_difference']:.0f}, every spike step equal on "
            f"{lava['spike_step_agreement']:.0%} of them.", ""]


def tolerated_section(out: Path) -> list[str]:
    """The report's count and list of what the data check accepted as the SEE authors' loader does
    (``tolerated.csv``); none: no section."""
    if not (out / "tolerated.csv").is_file():
        return []
    tolerated = pd.read_csv(out / "tolerated.csv", keep_default_na=False)
    sequences = len({s for s in tolerated["sequence"] if s})
    return ["## Tolerated data", "",
            f"The data check accepted {len(tolerated)} thing(s) that the SEE authors' loader tolerates, concerning "
            f"{sequences} sequence(s) ([tolerated.csv](tolerated.csv)):", "",
            *(f"- `{row.sequence or '(tree)'}`: `{row.path}`: {row.tolerated}" for row in tolerated.itertuples()), ""]


def skipped_section(out: Path) -> list[str]:
    """The report's list of the sequences ``--skip-bad`` left out (``skipped.csv``); none: no section."""
    if not (out / "skipped.csv").is_file():
        return []
    skipped = pd.read_csv(out / "skipped.csv", keep_default_na=False)
    return ["## Skipped data (--skip-bad)", "",
            f"The data check found {len(skipped)} problem(s); these sequences were left out of every split "
            "([skipped.csv](skipped.csv)):", "",
            *(f"- `{row.sequence or '(tree)'}`: `{row.path}`: {row.problem}" for row in skipped.itertuples()), ""]
