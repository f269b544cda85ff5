"""Inference throughput: closed-form TTFS forward vs a time-stepped snntorch LIF network.

Both networks have the same architecture and the same (data-normalised) weights: the TTFS twin of a
ReLU CNN from ``tnas_plugin.ttfs.ann_to_ttfs``, and an snntorch ``Leaky`` network (subtractive reset,
rate-coded input over ``T`` steps) built from the TTFS layers' ``effective_weight()``/``effective_bias()``
(the usual rate conversion with data-based normalisation). Throughput is samples/s (median of
``--repeats`` timed forwards after one warm-up) at one batch size on one machine; spikes per neuron
count hidden neurons only. Prints a table and writes ``benchmarks/results/ttfs_throughput.csv``.

    python benchmarks/bench_ttfs_throughput.py [--batch 64] [--lif-steps 32] [--steps-per-window 32]
"""
from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from machine import describe  # benchmarks/machine.py
from tnas_plugin.jobs.baselines import RateLIFTwin
from tnas_plugin.ttfs import ann_to_ttfs

INPUT_SHAPE = (2, 64, 64)  # one eye: event frame + intensity frame
CLASSES = 7


def make_ann() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32 * 16 * 16, 128), nn.ReLU(), nn.Linear(128, CLASSES),
    ).eval()


def lif_spikes(lif: RateLIFTwin, x: torch.Tensor) -> float:
    """Hidden spikes per sample of the LIF twin."""
    counter = {"synops": torch.zeros(len(x), dtype=torch.float64), "spikes": torch.zeros(len(x), dtype=torch.float64)}
    lif(x, counter)
    return counter["spikes"].mean().item()


def samples_per_second(forwards: dict, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median samples/s of each forward; repeats are interleaved so that all models see the same machine load."""
    times = {name: [] for name in forwards}
    for forward in forwards.values():
        forward(x)  # warm-up
    for _ in range(repeats):
        for name, forward in forwards.items():
            start = time.perf_counter()
            forward(x)
            times[name].append(time.perf_counter() - start)
    return {name: x.shape[0] / statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lif-steps", type=int, default=32, help="time steps T of the rate-coded LIF network")
    parser.add_argument("--steps-per-window", type=int, default=32, help="S of the discrete TTFS forward")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ttfs_throughput.csv")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    calibration, x = torch.rand(256, *INPUT_SHAPE), torch.rand(args.batch, *INPUT_SHAPE)
    ann = make_ann()
    snn = ann_to_ttfs(ann, calibration)
    lif = RateLIFTwin(snn, args.lif_steps)
    S, T = args.steps_per_window, args.lif_steps
    names = ["ANN (reference)", "TTFS continuous", f"TTFS discrete S={S}", f"snntorch LIF rate T={T}"]
    with torch.inference_mode():
        rates = samples_per_second(dict(zip(names, [ann, snn, lambda v: snn(v, S), lif])), x, args.repeats)
        spikes = [None, snn.run(x).total_spikes_per_neuron, snn.run(x, S).total_spikes_per_neuron,
                  lif_spikes(lif, x) / snn.run(x[:1]).hidden_neurons]
    latencies = ["1 pass", f"{snn.num_windows} windows", f"{snn.latency_steps(S)} steps", f"{T} steps"]
    machine = describe()
    print(f"machine: {machine}; batch {args.batch}, input {INPUT_SHAPE}, median of {args.repeats}")
    print(f"{'model':<26}{'samples/s':>12}{'x LIF':>9}{'spikes/neuron':>15}  latency")
    table = []
    for name, spike, latency in zip(names, spikes, latencies):
        rate, ratio, spike_text = rates[name], rates[name] / rates[names[-1]], "-" if spike is None else f"{spike:.3f}"
        print(f"{name:<26}{rate:>12.1f}{ratio:>9.1f}{spike_text:>15}  {latency}")
        table.append({"model": name, "samples_per_s": f"{rate:.1f}", "ratio_vs_lif": f"{ratio:.2f}",
                      "spikes_per_neuron": spike_text, "latency": latency, "batch": args.batch, "machine": machine})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
