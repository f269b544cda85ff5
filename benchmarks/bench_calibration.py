"""Window calibration: TTFS windows sized at the maximum vs the 99th percentile of each layer's activations.

A searched-size candidate (event clips of 4 frames at 32x32, conv stages 8 and 16 channels with max-pool,
classifier 64) is trained as a ReLU network (``train_ann``, ``--epochs``) on the default synthetic SEE tree,
then mapped to TTFS (``ann_to_ttfs``, margin 1.1) once with windows at the maximum activation
(``percentile=100``: exact on the calibration clips) and once at the 99th percentile (Rueckauer et al.,
Front. Neurosci. 11:682, 2017), both without fine-tuning. Test accuracy (WAR) of the ANN, of the continuous
TTFS network and of the discrete one at ``--steps`` steps per window, for each seed; medians printed and
written to ``benchmarks/results/calibration.csv``.

    python benchmarks/bench_calibration.py [--data DIR] [--epochs 25] [--seeds 3] [--steps 4 16 64]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from machine import describe  # benchmarks/machine.py
from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann, candidate_dataset
from tnas_plugin.data import SynthConfig, synthesize
from tnas_plugin.trainer import calibration_inputs, predict, seed_everything, train_ann
from tnas_plugin.ttfs import ann_to_ttfs

RESULTS = Path(__file__).parent / "results"
SPEC = CandidateSpec(modality="event", frames=4, steps_per_window=16, resolution=32,
                     stages=(StageSpec(8, 3, "max"), StageSpec(16, 3, "max")), classifier_width=64, num_classes=7)


def accuracy(model, loader) -> float:
    y_true, y_pred = predict(model, loader, torch.device("cpu"))
    return float((y_true == y_pred).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/synthetic-see"), help="SEE tree (generated if absent)")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.data / "emotion.json").exists():
        synthesize(args.data, SynthConfig(seed=0))
    rows = []
    for seed in range(args.seeds):
        train = candidate_dataset(SPEC, args.data, "training", seed=seed, validation_seed=seed)
        test = DataLoader(candidate_dataset(SPEC, args.data, "testing", seed=seed), batch_size=128)
        loader = DataLoader(train, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed))
        seed_everything(seed)
        ann = build_ann(SPEC)
        train_ann(ann, loader, args.epochs, 3e-3, torch.device("cpu"))
        ann.eval()
        calibration = calibration_inputs(loader, 4)
        row = {"seed": seed, "epochs": args.epochs, "ann": accuracy(ann, test)}
        for percentile in (100.0, 99.0):
            snn = ann_to_ttfs(ann, calibration, margin=1.1, percentile=percentile)
            row[f"p{percentile:g}_continuous"] = accuracy(lambda x: snn(x), test)
            for steps in args.steps:
                row[f"p{percentile:g}_S{steps}"] = accuracy(lambda x, s=steps: snn(x, s), test)
        rows.append(row)
        print(row, flush=True)
    frame = pd.DataFrame(rows).assign(machine=describe())
    RESULTS.mkdir(parents=True, exist_ok=True)
    frame.to_csv(RESULTS / "calibration.csv", index=False)
    print("median test accuracy:\n" + frame.drop(columns=["seed", "machine"]).median().to_string())


if __name__ == "__main__":
    main()
