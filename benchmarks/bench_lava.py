"""Lava simulation of a trained TTFS network: throughput, agreement with PyTorch, and the operation counts Lava executed.

The hand-crafted TTFS CNN of the demo (event and intensity clips of 4 frames at 32x32, conv stages 8 and 16
channels with max-pool, classifier 64, S = 16) is trained with the project's pipeline (``measure_candidate``: ReLU twin, TTFS
conversion, discrete fine-tuning) for ``--epochs`` (the demo's 50) on the default synthetic SEE tree; its
test WAR/UAR are printed next to chance (1/7), flagged *collapsed* at UAR exactly 1/7. Then
``--lava-samples`` test clips are streamed through one compiled Lava graph (``Loihi2SimCfg``, CPU) with 1
and more samples side by side: samples/s of build + compile + run, agreement with the PyTorch discrete
model (float64, as Lava computes), and the synaptic events and active neuron updates the Lava models
tallied vs the analytic counter (``count_ttfs``). Energy and latency of this network and its baselines
are in ``bench_baselines.py``.

Prints the table and writes ``benchmarks/results/lava_throughput.csv``.

    python benchmarks/bench_lava.py [--epochs 50] [--lava-samples 50] [--samples-per-run 1 5 10 25]
"""
from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import torch

from machine import describe  # benchmarks/machine.py
from tnas_plugin.candidate import build_ann
from tnas_plugin.data import SynthConfig, synthesize
from tnas_plugin.hardware import count_ttfs, export_lava
from tnas_plugin.jobs.baselines import HANDCRAFTED_TTFS
from tnas_plugin.measurement import MeasurementSettings, evaluate_network, measure_candidate

RESULTS = Path(__file__).parent / "results"
SPEC = HANDCRAFTED_TTFS  # the demo's hand-crafted CNN: event and intensity frames, 4 per clip, 32x32


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")


def print_table(rows: list[dict]) -> None:
    widths = {key: max(len(key), *(len(str(row[key])) for row in rows)) for key in rows[0]}
    print("  ".join(key.rjust(width) for key, width in widths.items()))
    for row in rows:
        print("  ".join(str(row[key]).rjust(width) for key, width in widths.items()))


def lava_throughput(snn, frames, steps: int, samples_per_run: list[int], machine: str) -> list[dict]:
    snn = snn.double()
    with torch.no_grad():
        logits = snn.run(frames.double(), steps).logits.numpy()
    counted = count_ttfs(snn, frames.double(), steps)
    rows = []
    for block in samples_per_run:
        start = time.perf_counter()
        graph = export_lava(snn, steps, frames.double(), samples_per_run=block)
        lava = graph.run()
        seconds = time.perf_counter() - start
        rows.append({
            "samples_per_run": block, "samples": len(frames), "lava_steps": graph.num_steps, "seconds": f"{seconds:.1f}",
            "samples_per_s": f"{len(frames) / seconds:.2f}",
            "predictions_agree": f"{int((lava.predictions == logits.argmax(1)).sum())}/{len(frames)}",
            "max_readout_diff": f"{abs(lava.readouts - logits).max():.1e}",
            "synops_lava": f"{lava.synops:.1f}", "synops_counter": f"{counted.synaptic_events:.1f}",
            "active_updates_lava": f"{sum(lava.updates_active):.1f}", "active_updates_counter": f"{counted.updates_active:.1f}",
            "machine": machine,
        })
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/synthetic-see", help="SEE tree (generated if absent)")
    parser.add_argument("--epochs", type=int, default=50, help="training epochs (the demo's final epochs)")
    parser.add_argument("--lava-samples", type=int, default=50)
    parser.add_argument("--samples-per-run", type=int, nargs="+", default=[1, 5, 10, 25])
    args = parser.parse_args()
    if not Path(args.data, "emotion.json").exists():
        synthesize(args.data, SynthConfig(), progress=True)
    settings = MeasurementSettings.from_options(args.data, epochs=args.epochs, seed=0, eval_starts=1)
    result = measure_candidate(SPEC, build_ann(SPEC), settings)
    snn, steps = result.snn.cpu().eval(), SPEC.steps_per_window
    tested = evaluate_network(SPEC, snn, settings, "testing").metrics
    collapsed = math.isclose(tested["uar"], 1 / 7)
    print(f"trained candidate: test WAR {tested['war']:.3f}, UAR {tested['uar']:.3f} (chance {1 / 7:.3f}; "
          f"collapsed: {collapsed})", flush=True)
    test = settings.dataset(SPEC, "testing")
    frames = torch.stack([test[i][0] for i in range(min(args.lava_samples, len(test)))])
    machine = describe()
    throughput = lava_throughput(snn, frames, steps, args.samples_per_run, machine)
    for row in throughput:
        row.update(test_war=f"{tested['war']:.3f}", test_uar=f"{tested['uar']:.3f}", chance=f"{1 / 7:.3f}",
                   collapsed=collapsed, epochs=args.epochs)
    print(f"\nmachine: {machine}\n\nLava simulation ({SPEC.resolution}x{SPEC.resolution} clips, stages 8-16, "
          f"classifier 64, S={steps}):")
    print_table(throughput)
    RESULTS.mkdir(exist_ok=True)
    write_csv(RESULTS / "lava_throughput.csv", throughput)


if __name__ == "__main__":
    main()
