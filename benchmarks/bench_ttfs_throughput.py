"""Inference throughput of a trained TTFS network (closed form) vs its time-stepped rate twin, on real clips.

The hand-crafted TTFS CNN (``HANDCRAFTED_TTFS``) is trained by the project's pipeline for ``--epochs`` (the
demo's 50 by default) on the default synthetic SEE tree; its test WAR/UAR are printed next to chance (1/7)
and flagged *collapsed* when UAR is exactly 1/7. On a batch of test clips it is timed in continuous time
(the clipped-ReLU ANN twin), in discrete time (S steps per window, what Lava runs) and as its rate twin
(IF neurons, ``tnas_plugin.jobs.baselines.rate_twin``, T steps). Throughput is samples/s (median of
``--repeats`` interleaved timed forwards after one warm-up); spikes per neuron count hidden neurons on the
same clips. Prints a table and writes ``benchmarks/results/ttfs_throughput.csv``.

    python benchmarks/bench_ttfs_throughput.py [--data DIR] [--epochs 50] [--batch 64] [--rate-steps T]
"""
from __future__ import annotations

import argparse
import csv
import math
import statistics
import time
from pathlib import Path

import torch

from machine import describe  # benchmarks/machine.py
from tnas_plugin.candidate import build_ann
from tnas_plugin.data import SynthConfig, synthesize
from tnas_plugin.jobs.baselines import HANDCRAFTED_TTFS, RATE_TWIN_STEPS, evaluate_stepped, rate_twin
from tnas_plugin.measurement import MeasurementSettings, evaluate_network, measure_candidate

SPEC = HANDCRAFTED_TTFS


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
    parser.add_argument("--data", type=Path, default=Path("data/synthetic-see"), help="SEE tree (generated if absent)")
    parser.add_argument("--epochs", type=int, default=50, help="training epochs (the demo's final epochs)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rate-steps", type=int, default=RATE_TWIN_STEPS, help="time steps T of the rate twin")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ttfs_throughput.csv")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.data / "emotion.json").exists():
        synthesize(args.data, SynthConfig(seed=0))
    settings = MeasurementSettings.from_options(args.data, epochs=args.epochs, seed=0)
    result = measure_candidate(SPEC, build_ann(SPEC), settings)
    snn = result.snn.cpu().eval()
    tested = evaluate_network(SPEC, snn, settings, "testing").metrics
    collapsed = math.isclose(tested["uar"], 1 / 7)
    print(f"trained: test WAR {tested['war']:.3f}, UAR {tested['uar']:.3f} (chance {1 / 7:.3f}; collapsed: {collapsed})")
    test = settings.dataset(SPEC, "testing")
    x = torch.stack([test[i][0] for i in range(min(args.batch, len(test)))])
    S, T = SPEC.steps_per_window, args.rate_steps
    twin = rate_twin(snn, T)
    names = ["TTFS continuous (ANN twin)", f"TTFS discrete S={S}", f"rate twin (IF) T={T}"]
    with torch.inference_mode():
        rates = samples_per_second(dict(zip(names, [snn, lambda v: snn(v, S), twin])), x, args.repeats)
        spikes = [snn.run(x).total_spikes_per_neuron, snn.run(x, S).total_spikes_per_neuron]
    spikes.append(evaluate_stepped(twin, [(x, torch.zeros(len(x), dtype=torch.long))])[2].spikes_per_neuron)
    latencies = [f"{snn.num_windows} windows", f"{snn.latency_steps(S)} steps", f"{T} steps"]
    machine = describe()
    print(f"machine: {machine}; batch {len(x)} test clips {tuple(x.shape[1:])}, median of {args.repeats}")
    print(f"{'model':<30}{'samples/s':>12}{'x rate':>9}{'spikes/neuron':>15}  latency")
    table = []
    for name, spike, latency in zip(names, spikes, latencies):
        rate, ratio = rates[name], rates[name] / rates[names[-1]]
        print(f"{name:<30}{rate:>12.1f}{ratio:>9.1f}{spike:>15.3f}  {latency}")
        table.append({"model": name, "samples_per_s": f"{rate:.1f}", "ratio_vs_rate_twin": f"{ratio:.2f}",
                      "spikes_per_neuron": f"{spike:.3f}", "latency": latency, "batch": len(x), "test_war": tested["war"],
                      "test_uar": tested["uar"], "chance": 1 / 7, "collapsed": collapsed, "epochs": args.epochs,
                      "machine": machine})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
