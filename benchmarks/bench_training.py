"""ANN-assisted vs direct TTFS training of the same candidates at the same epoch budget, and how long direct
training takes to catch up.

For several candidates of the TTFS eye space and several seeds, both paths start from the same (seed-only)
initial weights and train on the default synthetic data set; every network is evaluated as the TTFS
network in discrete time (the candidate's steps per window) on the validation split (WAR and UAR).

- ANN-assisted: ``epochs - 1`` ReLU-twin epochs + 1 discrete TTFS fine-tuning epoch (``measure_candidate``,
  ``mode="ann"``).
- Direct: ``measure_candidate(mode="direct")`` (batch norm folded with the data's statistics) trained for ``multiples x epochs`` epochs in ONE run; the
  trainer's ``on_epoch`` callback evaluates the TTFS network on the validation split after each ``epochs`` epochs
  (its evaluation time is excluded from the clock), so the direct path's WAR/UAR at 1x (the equal budget),
  2x, 3x the budget come from one training run. The 1x point is exactly what a ``epochs``-epoch direct run
  gives (the training data order does not depend on the evaluations; ``--check`` verifies this).

Times: ``train_s`` = wall time from the start of ``measure_candidate`` (data, calibration included) to the
end of the last training epoch counted (evaluations excluded); ``seconds`` = the whole ``measure_candidate``
call (for the ANN path; final evaluation and SynOps counting included). "Catch-up": the smallest multiple at
which the direct path's UAR (and WAR) is >= the ANN-assisted path's final value, and the ratio of the direct
path's ``train_s`` there to the ANN path's ``train_s`` (for "not within 3x": a lower bound, the 3x ratio).

Writes ``results/training_modes.csv`` (one row per candidate, seed and mode/checkpoint),
``training_modes_summary.csv`` (medians and IQR per mode/checkpoint), ``training_modes_catchup.csv`` (per
candidate and seed) and ``training_modes.md``, each with the runs that collapsed (UAR exactly 1/7).

    python benchmarks/bench_training.py [--epochs 10 --candidates 4 --seeds 3 --multiples 3 --threads 1 --suffix '']
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from machine import describe  # benchmarks/machine.py
from tnas_plugin.data import SynthConfig, synthesize
from tnas_plugin.measurement import MeasurementSettings, measure_candidate
from tnas_plugin.metrics import recognition_report
from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.trainer import TrainCallbacks, predict

RESULTS = Path(__file__).parent / "results"


def measure_direct_with_checkpoints(candidate, settings: MeasurementSettings, every: int, multiples: int) -> tuple[list[dict], dict]:
    """One direct run of ``every * multiples`` epochs, the TTFS network evaluated after each ``every`` epochs.

    The trainer's ``on_epoch`` callback receives the TTFS network and evaluates it in discrete time.
    """
    spec = candidate.spec
    validation = settings.dataset(spec, "validation")  # what measure_candidate reports on
    validation_loader = DataLoader(validation, batch_size=settings.batch_size * 4)
    device = settings.train.torch_device()

    checkpoints: list[dict] = []
    excluded = [0.0]  # evaluation seconds so far

    def on_epoch(record, snn) -> dict:
        if (record.epoch + 1) % every:
            return {}
        now = time.perf_counter()
        snn.eval()
        y_true, y_pred = predict(lambda x: snn(x, spec.steps_per_window), validation_loader, device)
        snn.train()
        report = recognition_report(y_true, y_pred, validation.classes)
        checkpoints.append({"epochs": record.epoch + 1, "multiple": (record.epoch + 1) // every,
                            "train_s": now - start - excluded[0], "war": report["war"], "uar": report["uar"]})
        excluded[0] += time.perf_counter() - now
        return {"war": report["war"], "uar": report["uar"]}

    start = time.perf_counter()
    train = dataclasses.replace(settings.train, epochs=every * multiples)
    result = measure_candidate(spec, candidate.ann, dataclasses.replace(settings, train=train), TrainCallbacks(on_epoch=on_epoch))
    final = checkpoints[-1]
    if abs(final["uar"] - result.metrics["uar"]) > 1e-12 or abs(final["war"] - result.metrics["war"]) > 1e-12:
        raise AssertionError(f"checkpoint evaluation disagrees with measure_candidate: {final} vs {result.metrics}")
    return checkpoints, result.metrics


def iqr(series: pd.Series) -> float:
    return series.quantile(0.75) - series.quantile(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(RESULTS / "synthetic-see"), help="SEE tree (generated if absent)")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="the equal epoch budget of both paths")
    parser.add_argument("--multiples", type=int, default=3, help="the direct path trains this many budgets in one run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--suffix", default="", help="appended to the result file names (e.g. _e20)")
    parser.add_argument("--check", action="store_true",
                        help="also run the direct path for exactly --epochs and check it equals the 1x checkpoint")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not Path(args.data, "emotion.json").exists():
        synthesize(args.data, SynthConfig(), progress=True)
    space = TTFSEyeSpace(resolution=32, stage_choices=(1, 2), steps_choices=(16,))
    random_state = np.random.RandomState(0)
    samples = []
    for _ in range(args.candidates):
        samples.append({})
        space.random(memo=samples[-1], random_state=random_state)
    started = time.perf_counter()
    rows, catchup = [], []
    for c, sample in enumerate(samples):
        candidate = space.freeze(sample)
        arch = f"{candidate.spec.modality}/f{candidate.spec.frames}/" + "-".join(
            f"{s.channels}{s.pool}" for s in candidate.spec.stages) + f"/w{candidate.spec.classifier_width}"
        for seed in range(args.seeds):
            common = dict(seed=seed, eval_starts=4)
            # ANN-assisted: (epochs - 1) ANN epochs + 1 discrete fine-tuning epoch.
            last = [0.0]
            t0 = time.perf_counter()
            result = measure_candidate(candidate.spec, candidate.ann,
                                       MeasurementSettings.from_options(args.data, epochs=args.epochs - 1, finetune_epochs=1,
                                                                        mode="ann", **common),
                                       TrainCallbacks(on_epoch=lambda entry, network: last.__setitem__(0, time.perf_counter())))
            ann = {"candidate": c, "arch": arch, "seed": seed, "mode": "ann", "epochs": args.epochs, "multiple": 1,
                   "train_s": last[0] - t0, "seconds": time.perf_counter() - t0,
                   "war": result.metrics["war"], "uar": result.metrics["uar"]}
            rows.append(ann)
            print(ann, flush=True)
            # Direct: one run of multiples x epochs, evaluated after each budget.
            t0 = time.perf_counter()
            checkpoints, _ = measure_direct_with_checkpoints(
                candidate, MeasurementSettings.from_options(args.data, mode="direct", **common), args.epochs, args.multiples)
            for point in checkpoints:
                rows.append({"candidate": c, "arch": arch, "seed": seed, "mode": f"direct_{point['multiple']}x",
                             "epochs": point["epochs"], "multiple": point["multiple"], "train_s": point["train_s"],
                             "seconds": None, "war": point["war"], "uar": point["uar"]})
                print(rows[-1], flush=True)
            if args.check:
                plain = measure_candidate(candidate.spec, candidate.ann,
                                          MeasurementSettings.from_options(args.data, epochs=args.epochs, mode="direct",
                                                                           **common)).metrics
                same = plain["uar"] == checkpoints[0]["uar"] and plain["war"] == checkpoints[0]["war"]
                print(f"check: direct {args.epochs} epochs war/uar {plain['war']:.4f}/{plain['uar']:.4f} vs 1x checkpoint "
                      f"{checkpoints[0]['war']:.4f}/{checkpoints[0]['uar']:.4f}: {'equal' if same else 'DIFFERENT'}", flush=True)
            entry = {"candidate": c, "arch": arch, "seed": seed, "ann_war": ann["war"], "ann_uar": ann["uar"],
                     "ann_train_s": ann["train_s"]}
            for metric in ("uar", "war"):
                reached = next((p for p in checkpoints if p[metric] >= ann[metric]), None)
                entry[f"direct_reaches_{metric}_at"] = reached["multiple"] if reached else None
                point = reached or checkpoints[-1]
                entry[f"{metric}_time_ratio"] = point["train_s"] / ann["train_s"]
                entry[f"{metric}_time_ratio_is_lower_bound"] = reached is None
                # "ANN-assisted reaches this value >= 3x faster than direct": decided unless direct did not reach
                # it within the run and the run's time ratio is still under 3.
                ratio = entry[f"{metric}_time_ratio"]
                entry[f"ann_3x_faster_{metric}"] = "yes" if ratio >= 3 else ("undetermined" if reached is None else "no")
            catchup.append(entry)
    total = time.perf_counter() - started

    frame = pd.DataFrame(rows)
    catch = pd.DataFrame(catchup)
    args.out.mkdir(parents=True, exist_ok=True)
    catch.to_csv(args.out / f"training_modes_catchup{args.suffix}.csv", index=False)
    order = ["ann"] + [f"direct_{k}x" for k in range(1, args.multiples + 1)]
    frame["collapsed"] = np.isclose(frame["uar"], 1 / 7)  # one class predicted for every clip: UAR exactly chance
    frame.to_csv(args.out / f"training_modes{args.suffix}.csv", index=False)
    summary = frame.groupby("mode")[["epochs", "train_s", "war", "uar"]].agg(["median", iqr]).reindex(order)
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary = summary.drop(columns="epochs_iqr")
    summary["collapsed_runs"] = frame.groupby("mode")["collapsed"].sum().reindex(order)
    summary.to_csv(args.out / f"training_modes_summary{args.suffix}.csv")

    runs = len(catch)
    lines = [f"# ANN-assisted vs direct TTFS training ({args.candidates} candidates x {args.seeds} seeds, budget {args.epochs} epochs)",
             "", f"Machine: {describe()}. Total wall time {total:.0f} s. Data: {args.data} (built-in synthetic), "
             "resolution 32, 16 steps per window, 4 validation start points per sequence.", "",
             f"Chance is 1/7 = {1 / 7:.4f}; a collapsed run predicts one class (UAR exactly 1/7).", "",
             "| path | epochs | median train s (IQR) | median WAR (IQR) | median UAR (IQR) | collapsed runs |",
             "|---|---:|---:|---:|---:|---:|"]
    for mode, r in summary.iterrows():
        lines.append(f"| {mode} | {r['epochs_median']:.0f} | {r['train_s_median']:.1f} ({r['train_s_iqr']:.1f}) | "
                     f"{r['war_median']:.4f} ({r['war_iqr']:.4f}) | {r['uar_median']:.4f} ({r['uar_iqr']:.4f}) | "
                     f"{int(r['collapsed_runs'])}/{runs} |")
    speedup = summary.loc["direct_1x", "train_s_median"] / summary.loc["ann", "train_s_median"]
    lines += ["", f"Equal budget: the direct path's median training time is {speedup:.2f}x the ANN-assisted path's.", "",
              "Catch-up of the direct path to the ANN-assisted path's final value (per candidate and seed):", "",
              "| metric | reached at 1x | at 2x | at >= 3x | not within {m}x | median time ratio direct/ANN (lower bound where not reached) "
              "| ANN-assisted >= 3x faster: yes / no / undetermined |".replace("{m}", str(args.multiples)),
              "|---|---:|---:|---:|---:|---:|---:|"]
    for metric in ("uar", "war"):
        at = catch[f"direct_reaches_{metric}_at"]
        lines.append(f"| {metric.upper()} | {int((at == 1).sum())}/{runs} | {int((at == 2).sum())}/{runs} | "
                     f"{int((at >= 3).sum())}/{runs} | {int(at.isna().sum())}/{runs} | {catch[f'{metric}_time_ratio'].median():.2f} | "
                     + " / ".join(str(int((catch[f"ann_3x_faster_{metric}"] == v).sum())) for v in ("yes", "no", "undetermined")) + " |")
    ann_better = int(((catch["ann_uar"] >= frame[frame["mode"] == "direct_1x"]["uar"].values)
                      & (catch["ann_war"] >= frame[frame["mode"] == "direct_1x"]["war"].values)).sum())
    lines += ["", f"At the equal budget the ANN-assisted path has WAR and UAR both >= the direct path's in {ann_better}/{runs} runs."]
    (args.out / f"training_modes{args.suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
