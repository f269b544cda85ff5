"""Learned baseline on the synthetic SEE-like set: a small ReLU CNN on Ex-Sy clips (CPU, a few minutes).

Shows that the generator is neither trivial nor noise: WAR (accuracy) and UAR (balanced accuracy, both
from scikit-learn) should sit clearly above chance (1/7) and clearly below 100%, with the confusable
pairs fear/surprise and anger/disgust visible in the confusion matrix. Test clips follow the SEE protocol
(20 seeded start points per test sequence). Writes ``baseline_cnn.json``, ``baseline_cnn_confusion.csv``
and ``baseline_cnn_confusion.png`` under ``--results``.

    python benchmarks/baseline_cnn.py [--data DIR] [--epochs 20] [--modality both]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, recall_score
from torch import nn
from torch.utils.data import DataLoader

from tnas_plugin.data import EMOTIONS, SEEDataset, SynthConfig, synthesize


class ClipCNN(nn.Module):
    """Frames of a clip stacked as input channels, three strided 3x3 ReLU convolutions, a linear read-out
    (no global pooling: where the brow and lids are matters)."""

    def __init__(self, clip_shape: tuple[int, int, int, int], classes: int, width: int = 24):
        super().__init__()
        frames, channels, height, width_px = clip_shape
        self.net = nn.Sequential(
            nn.Conv2d(frames * channels, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.Flatten(), nn.Dropout(0.3),
            nn.Linear(4 * width * -(-height // 8) * -(-width_px // 8), classes))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.net(clips.flatten(1, 2))


def train(model: nn.Module, data: SEEDataset, epochs: int, seed: int) -> None:
    loader = DataLoader(data, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed))
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for clips, labels in loader:
            optimiser.zero_grad()
            loss = loss_fn(model(clips), labels)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss) * len(labels)
        print(f"epoch {epoch + 1}/{epochs}: training loss {total / len(data):.3f}")


@torch.no_grad()
def predict(model: nn.Module, data: SEEDataset) -> np.ndarray:
    model.eval()
    return torch.cat([model(clips).argmax(1) for clips, _ in DataLoader(data, batch_size=256)]).numpy()


def save_confusion_png(matrix: np.ndarray, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    normalised = matrix / matrix.sum(1, keepdims=True)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i, j in np.ndindex(matrix.shape):
        ax.text(j, i, f"{normalised[i, j]:.2f}", ha="center", va="center", fontsize=8,
                color="white" if normalised[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (row-normalised recall)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="SEE-layout tree (default: generate the default synthetic set)")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--modality", choices=("event", "frame", "both"), default="both")
    parser.add_argument("--size", type=int, nargs=2, default=(48, 48), metavar=("H", "W"))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is robust on a busy machine)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp) / "see"
        if args.data is None:
            synthesize(root, SynthConfig())
        options = dict(modality=args.modality, size=tuple(args.size), clip_length=4, skip=3, seed=args.seed)
        train_set = SEEDataset(root, "training", **options)
        test_set = SEEDataset(root, "testing", **options)
        model = ClipCNN(train_set.clip_shape, len(EMOTIONS))
        start = time.perf_counter()
        train(model, train_set, args.epochs, args.seed)
        train_s = time.perf_counter() - start
        predicted = predict(model, test_set)
        meta = test_set.to_frame()

    true = np.array(test_set.targets)
    labels = list(range(len(EMOTIONS)))
    matrix = confusion_matrix(true, predicted, labels=labels)
    recall = recall_score(true, predicted, labels=labels, average=None, zero_division=0)
    by_lighting = {k: float(accuracy_score(true[idx], predicted[idx]))
                   for k, idx in meta.groupby("lighting").indices.items()}
    result = {
        "modality": args.modality, "size": list(args.size), "clip": "E4-S3", "epochs": args.epochs,
        "train_sequences": len(train_set.sequences), "test_sequences": len(test_set.sequences),
        "test_clips": len(test_set), "training_seconds": round(train_s, 1), "torch_threads": args.threads,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "war": float(accuracy_score(true, predicted)), "uar": float(balanced_accuracy_score(true, predicted)),
        "chance": 1 / len(EMOTIONS),
        "recall": dict(zip(EMOTIONS, map(float, recall))), "accuracy_by_lighting": by_lighting,
        "confusions": {f"{EMOTIONS[i]}->{EMOTIONS[j]}": float(matrix[i, j] / matrix[i].sum())
                       for i, j in [(2, 6), (6, 2), (0, 1), (1, 0)]},
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stem = f"baseline_cnn_{args.modality}"
    pd.DataFrame(matrix, index=EMOTIONS, columns=EMOTIONS).to_csv(args.results / f"{stem}_confusion.csv")
    save_confusion_png(matrix, args.results / f"{stem}_confusion.png",
                       f"ReLU CNN, {args.modality}, E4-S3: WAR {result['war']:.3f}, UAR {result['uar']:.3f}")
    (args.results / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
