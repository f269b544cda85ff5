"""Does the ReLU twin alone rank candidates as the TTFS network does?

For ``--candidates`` distinct candidates of the eye space (:func:`bench_training.sample_candidates`, so the
first ones are ``bench_training.py``'s) at seed 0, one ANN-assisted run each (``bench_training.py``'s ``ann``
path and its cache): the ReLU twin's validation UAR after its ``epochs - 1`` epochs (the ANN alone, no TTFS
evaluation) and the discrete-time TTFS network's after the exact mapping and 1 fine-tuning epoch, and the
seconds each costs (training, then its evaluation on the validation split; the twin's training seconds are
those up to its last epoch). The Spearman rank correlation of the two UARs says whether an ANN-only trial
would rank candidates as the current trial does.

Writes ``ann_rank.csv`` (one row per candidate), ``ann_rank.md`` (verdict first) and ``ann_rank.png`` to ``--out``.
``--compute-from N`` computes only candidates ``N`` and above and reads the others from the cache
(``bench_training.py`` computes them), so both can run side by side.

    python benchmarks/bench_ann_rank.py --candidates 30 --epochs 40
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_search  # noqa: E402  (the data set)
import bench_training  # noqa: E402  (the candidates, the ANN-assisted run and its cache)
from machine import describe  # noqa: E402

#: Spearman rank correlation from which an ANN-only trial mode would pay
GOOD_RANKING = 0.8


@dataclass(frozen=True)
class RankCorrelation:
    """How the ReLU twin's validation UAR ranks the candidates against the TTFS network's."""

    n: int
    rho: float
    p: float
    twin_s_median: float
    ttfs_s_median: float


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=40, help="epochs of the ANN-assisted path (ReLU twin + 1 fine-tuning)")
    parser.add_argument("--eval-every", type=int, default=4, help="as bench_training.py's, so its runs are reused")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compute-from", type=int, default=0, help="read candidates below this from the cache only")
    bench_training.add_data_args(parser)
    return bench_training.finish_data_args(parser.parse_args(argv))


def rank_correlation(table: pd.DataFrame) -> RankCorrelation:
    """Spearman's rho (and p) of the twin's and the TTFS network's validation UAR, and the median seconds of each."""
    rho, p = stats.spearmanr(table["twin_uar"], table["ttfs_uar"])
    return RankCorrelation(len(table), float(rho), float(p), float(table["twin_s"].median()), float(table["ttfs_s"].median()))


def verdict(result: RankCorrelation) -> str:
    """The report's opening sentence."""
    saving = (f"{result.twin_s_median:.1f} s instead of {result.ttfs_s_median:.1f} s per candidate (medians; "
              f"{1 - result.twin_s_median / result.ttfs_s_median:.0%} less)")
    if result.rho >= GOOD_RANKING:
        return (f"The ReLU twin alone ranks the candidates well (Spearman {result.rho:.2f}, p = {result.p:.1g}, "
                f"n = {result.n}): an ANN-only trial mode would pay, at {saving}.")
    return (f"The ReLU twin alone does not rank the candidates well enough (Spearman {result.rho:.2f} < {GOOD_RANKING}, "
            f"p = {result.p:.1g}, n = {result.n}), so the current trial (mapping, fine-tuning and the TTFS network's "
            f"evaluation) is kept; an ANN-only trial would cost {saving}.")


def plot(table: pd.DataFrame, result: RankCorrelation, path: Path) -> None:
    """Scatter of the TTFS network's validation UAR against the twin's."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 4.5))
    axis.scatter(table["twin_uar"], table["ttfs_uar"])
    low, high = bench_training.CHANCE * 0.9, max(table["twin_uar"].max(), table["ttfs_uar"].max()) + 0.02
    axis.plot([low, high], [low, high], color="grey", linestyle=":", label="equal")
    axis.set_xlabel("ReLU twin, validation UAR")
    axis.set_ylabel("TTFS network (mapped, fine-tuned), validation UAR")
    axis.set_title(f"Spearman {result.rho:.2f} (n = {result.n})")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    bench_search.ensure_data(args)
    began = time.perf_counter()
    runs = []
    for number, spec in enumerate(bench_training.sample_candidates(args.candidates)):
        runs.append(bench_training.cached_run(args, number, spec, "ann", 0, may_compute=number >= args.compute_from))
        print(f"candidate {number}: {'not cached yet' if runs[-1] is None else 'done'} "
              f"({time.perf_counter() - began:.0f} s)", flush=True)
    missing = [number for number, run in enumerate(runs) if run is None]
    print(f"{len(runs) - len(missing)} runs in {time.perf_counter() - began:.0f} s", flush=True)
    if missing:
        print(f"candidates {missing} are not in {args.cache} yet (bench_training.py computes them): no tables written")
        return 0
    table = bench_training.twin_table(bench_training.curves_frame(runs))
    result = rank_correlation(table)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "ann_rank.csv", index=False)
    plot(table, result, args.out / "ann_rank.png")
    lines = ["# Does the ReLU twin alone rank candidates as the TTFS network does?", "", verdict(result), "",
             f"{result.n} distinct candidates of the eye space, seed 0, {args.epochs} epochs ({args.epochs - 1} of the "
             "ReLU twin, 1 of discrete-time fine-tuning); both UARs on the validation split (development results). "
             f"Chance is 1/7 = {bench_training.CHANCE:.3f}; {int(bench_training.collapsed(table['ttfs_uar']).sum())} "
             f"TTFS networks and {int(bench_training.collapsed(table['twin_uar']).sum())} twins collapsed to one class.",
             "", "| | median validation UAR | median seconds (training + evaluation) |", "|---|---:|---:|",
             f"| ReLU twin alone | {table['twin_uar'].median():.3f} | {result.twin_s_median:.1f} |",
             f"| TTFS network (current trial) | {table['ttfs_uar'].median():.3f} | {result.ttfs_s_median:.1f} |", "",
             f"Spearman rho {result.rho:.3f}, p = {result.p:.2g}. Scatter: `ann_rank.png`; per candidate: `ann_rank.csv`.",
             "", f"Machine: {describe()}. Data: {args.data}."]
    (args.out / "ann_rank.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
