"""Data throughput: synthetic generation (sequences/s, frames/s) and SEEDataset loading, cold vs cached.

Generates the default synthetic set (``SynthConfig()``) into a temporary folder, then loads the test split
(modality "both", the SEE protocol's 20 start points per sequence) twice: cold (empty cache: every JPEG
decoded) and cached (decoded tensors from ``<root>/.cache``). Each pass builds the dataset and reads every
clip through a DataLoader in the main process with one torch thread (as in a DataLoader worker; on a
busy 2-core machine OpenMP threads in ``torch.stack`` cost 100x). Writes ``bench_data.json`` under
``--results``, with the machine's load average, since other processes skew the numbers.

    python benchmarks/bench_data.py [--subjects 24] [--size 64 64]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tnas_plugin.data import SEEDataset, SynthConfig, synthesize


def load_pass(root: Path) -> dict:
    start = time.perf_counter()
    data = SEEDataset(root, "testing", "both", eval_starts=20)
    built = time.perf_counter()
    clips = sum(len(batch) for batch, _ in DataLoader(data, batch_size=64))
    done = time.perf_counter()
    return {"clips": clips, "build_s": round(built - start, 3), "read_s": round(done - built, 3),
            "clips_per_s": round(clips / (done - start), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=SynthConfig().subjects)
    parser.add_argument("--size", type=int, nargs=2, default=SynthConfig().size, metavar=("H", "W"))
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="generation processes")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = SynthConfig(subjects=args.subjects, size=tuple(args.size))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "see"
        start = time.perf_counter()
        summary = synthesize(root, config, workers=args.workers)
        gen_s = time.perf_counter() - start
        cold, cached = load_pass(root), load_pass(root)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread",
        "load_average_1min": round(os.getloadavg()[0], 2),
        "config": {"subjects": config.subjects, "size": list(config.size), "frames": list(config.frames)},
        "generation": {**summary, "workers": args.workers, "seconds": round(gen_s, 2), "sequences_per_s": round(summary["sequences"] / gen_s, 1),
                       "frames_per_s": round(summary["frames"] / gen_s, 1),
                       "jpegs_per_s": round(2 * summary["frames"] / gen_s, 1)},
        "loading_testing_both_20_starts": {"cold": cold, "cached": cached},
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "bench_data.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
