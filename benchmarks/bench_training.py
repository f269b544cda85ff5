"""ANN-assisted vs direct TTFS training of the same candidates at the same epoch budget.

For several candidates of the TTFS eye space and several seeds, both paths train for the same number of
epochs (ANN-assisted: all but one as the ReLU twin, the last as discrete TTFS fine-tuning) on the
default synthetic data set; we record wall time per candidate and the TTFS network's WAR
and UAR on the test split (discrete time, the candidate's steps per window). Medians and spreads (IQR)
are printed and written to ``benchmarks/results/training_modes.csv`` (per run) and
``training_modes_summary.csv``. Run: ``python benchmarks/bench_training.py [--candidates 3 --seeds 2]``.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tnas_plugin.data import SynthConfig, synthesize
from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.strategies.evaluator import EvaluationSettings, measure_candidate

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(RESULTS / "synthetic-see"), help="SEE tree (generated if absent)")
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    if not Path(args.data, "emotion.json").exists():
        synthesize(args.data, SynthConfig(), progress=True)
    space = TTFSEyeSpace(resolution=32, stage_choices=(1, 2), steps_choices=(16,))
    random_state = np.random.RandomState(0)
    samples = []
    for _ in range(args.candidates):
        samples.append({})
        space.random(memo=samples[-1], random_state=random_state)
    rows = []
    for c, sample in enumerate(samples):
        for seed in range(args.seeds):
            for mode in ("ann", "direct"):
                # Equal budgets: ANN-assisted = (epochs - 1) ANN epochs + 1 discrete fine-tuning epoch.
                settings = EvaluationSettings(args.data, epochs=args.epochs - (mode == "ann"),
                                              finetune_epochs=int(mode == "ann"), mode=mode, seed=seed, eval_starts=4)
                torch.manual_seed(seed)  # both modes start from the same initial weights
                candidate = space.freeze(sample)
                start = time.perf_counter()
                result = measure_candidate(candidate.spec, candidate.ann, settings)
                rows.append({"candidate": c, "seed": seed, "mode": mode, "seconds": time.perf_counter() - start,
                             "war": result.metrics["war"], "uar": result.metrics["uar"]})
                print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    frame.to_csv(RESULTS / "training_modes.csv", index=False)
    summary = frame.groupby("mode")[["seconds", "war", "uar"]].agg(["median", lambda s: s.quantile(0.75) - s.quantile(0.25)])
    summary.columns = [f"{metric}_{'iqr' if stat == '<lambda_0>' else stat}" for metric, stat in summary.columns]
    summary.to_csv(RESULTS / "training_modes_summary.csv")
    print(f"\nmachine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}")
    print(summary.to_string())
    speedup = summary.loc["direct", "seconds_median"] / summary.loc["ann", "seconds_median"]
    print(f"ANN-assisted is {speedup:.2f}x faster per candidate (median wall time)")


if __name__ == "__main__":
    main()
