"""Lava simulation throughput, and SynOps/energy of a TTFS network vs its ANN twin and a rate-coded LIF network.

A searched-size candidate (event clips of 2 frames at 32x32, conv stages 8 and 16 channels with max-pool,
classifier 64, S = 16) is trained with the project's pipeline (``measure_candidate``: ReLU twin, TTFS
conversion, discrete fine-tuning) on the default synthetic SEE tree, then:

1. Lava throughput: ``--lava-samples`` test clips streamed through one compiled Lava graph
   (``Loihi2SimCfg``, CPU) with 1 and more samples side by side; samples/s of build + compile + run,
   and agreement with the PyTorch discrete model (float64, as Lava computes).
2. SynOps per inference (counted from real spikes, ``count_synops``) and energy on the ``loihi`` and
   ``cmos45nm`` profiles for the TTFS network, its ANN twin (MACs) and a rate-coded snntorch LIF network of
   the same architecture and weights (``tnas_plugin.jobs.baselines.RateLIFTwin``; Bernoulli input,
   SynOps counted per time step with ``synapse_counts``; a LIF neuron is updated every step on any
   core, so its updates are ``neurons x T``).

Prints both tables and writes ``benchmarks/results/lava_throughput.csv`` and ``synops_energy.csv``.

    python benchmarks/bench_lava.py [--lava-samples 50] [--samples-per-run 1 5 10 25] [--lif-steps 16 32 64]
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from pathlib import Path

import torch

from machine import describe  # benchmarks/machine.py
from tnas_plugin.jobs.baselines import RateLIFTwin
from tnas_plugin.data import SynthConfig, synthesize
from tnas_plugin.hardware import count_synops, estimate_energy, export_lava, load_profile
from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.measurement import MeasurementSettings, measure_candidate

RESULTS = Path(__file__).parent / "results"
SPEC = CandidateSpec(modality="event", frames=2, steps_per_window=16, resolution=32,
                     stages=(StageSpec(8, 3, "max"), StageSpec(16, 3, "max")), classifier_width=64, num_classes=7)
PROFILES = ("loihi", "cmos45nm")


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
    rows = []
    for block in samples_per_run:
        start = time.perf_counter()
        graph = export_lava(snn, steps, frames.double(), samples_per_run=block)
        lava = graph.run()
        seconds = time.perf_counter() - start
        rows.append({
            "samples_per_run": block, "samples": len(frames), "lava_steps": graph.num_steps, "seconds": f"{seconds:.1f}",
            "samples_per_s": f"{len(frames) / seconds:.2f}",
            "predictions_agree": f"{int((lava['predictions'] == logits.argmax(1)).sum())}/{len(frames)}",
            "max_readout_diff": f"{abs(lava['readouts'] - logits).max():.1e}", "machine": machine,
        })
        print(rows[-1], flush=True)
    return rows


def run_lif(lif: RateLIFTwin, frames: torch.Tensor) -> tuple[float, torch.Tensor, float]:
    """One forward of the LIF twin: SynOps per sample over all steps, mean readout, hidden spikes per sample."""
    counter = {"synops": torch.zeros(len(frames), dtype=torch.float64), "spikes": torch.zeros(len(frames), dtype=torch.float64)}
    with torch.no_grad():
        readout = lif(frames, counter)
    return counter["synops"].mean().item(), readout, counter["spikes"].mean().item()


def energy_rows(snn, frames, labels, steps: int, lif_steps: list[int], machine: str) -> list[dict]:
    profiles = {name: load_profile(name) for name in PROFILES}
    report = count_synops(snn, frames, steps)
    with torch.no_grad():
        continuous, discrete = snn(frames), snn(frames, steps)
    accuracy = lambda logits: f"{(logits.argmax(1) == labels).double().mean().item():.3f}"  # noqa: E731
    ttfs = {name: estimate_energy(report, profile) for name, profile in profiles.items()}
    rows = [{
        "network": "ANN twin (MACs; clipped-ReLU accuracy)", "steps": "-", "ops_per_inference": report["ann_macs"],
        "spikes_per_neuron": "-",
        "neuron_updates": report["neurons"], "accuracy": accuracy(continuous),
        **{f"energy_uj_{name}": f"{e['ann_energy_pj'] * 1e-6:.3f}" for name, e in ttfs.items()},
    }, {
        "network": f"TTFS S={steps}", "steps": report["latency_steps"], "ops_per_inference": f"{report['total']:.0f}",
        "spikes_per_neuron": f"{report['spikes_per_neuron']:.3f}",
        "neuron_updates": " / ".join(str(e["neuron_updates"]) for e in ttfs.values()), "accuracy": accuracy(discrete),
        **{f"energy_uj_{name}": f"{e['energy_pj'] * 1e-6:.3f}" for name, e in ttfs.items()},
    }]
    for steps_lif in lif_steps:
        torch.manual_seed(0)
        lif = RateLIFTwin(snn, steps_lif)
        synops, readout, spikes = run_lif(lif, frames)
        hidden = report["neurons"] - report["per_layer"][-1]["neurons"]
        lif_report = {**report, "total": synops, "latency_steps": steps_lif}
        energies = {name: estimate_energy(lif_report, dataclasses.replace(profile, neuron_updates="per_step"))
                    for name, profile in profiles.items()}
        rows.append({
            "network": f"snntorch LIF rate T={steps_lif}", "steps": steps_lif, "ops_per_inference": f"{synops:.0f}",
            "spikes_per_neuron": f"{spikes / hidden:.3f}", "neuron_updates": report["neurons"] * steps_lif,
            "accuracy": accuracy(readout),
            **{f"energy_uj_{name}": f"{e['energy_pj'] * 1e-6:.3f}" for name, e in energies.items()},
        })
    for row in rows:
        row["machine"] = machine
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(RESULTS / "synthetic-see"), help="SEE tree (generated if absent)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lava-samples", type=int, default=50)
    parser.add_argument("--samples-per-run", type=int, nargs="+", default=[1, 5, 10, 25])
    parser.add_argument("--energy-samples", type=int, default=200)
    parser.add_argument("--lif-steps", type=int, nargs="+", default=[16, 32, 64])
    args = parser.parse_args()
    if not Path(args.data, "emotion.json").exists():
        synthesize(args.data, SynthConfig(), progress=True)
    torch.manual_seed(0)
    settings = MeasurementSettings.from_options(args.data, epochs=args.epochs, eval_starts=1)
    result = measure_candidate(SPEC, build_ann(SPEC), settings)
    print(f"trained candidate: WAR {result.metrics['war']:.3f}, UAR {result.metrics['uar']:.3f}", flush=True)
    test = settings.dataset(SPEC, "testing")
    count = max(args.lava_samples, args.energy_samples)
    frames = torch.stack([test[i][0] for i in range(min(count, len(test)))])
    labels = torch.tensor([test.targets[i] for i in range(len(frames))])
    machine = describe()
    snn, steps = result.snn.cpu().eval(), SPEC.steps_per_window
    energy = energy_rows(snn, frames[:args.energy_samples], labels[:args.energy_samples], steps, args.lif_steps, machine)
    throughput = lava_throughput(snn, frames[:args.lava_samples], steps, args.samples_per_run, machine)
    print(f"\nmachine: {machine}\n\nLava simulation ({SPEC.resolution}x{SPEC.resolution} event clips, stages 8-16, "
          f"classifier 64, S={steps}):")
    print_table(throughput)
    print(f"\nper inference, mean of {min(len(frames), args.energy_samples)} test clips (neuron updates: loihi / cmos45nm):")
    print_table(energy)
    RESULTS.mkdir(exist_ok=True)
    write_csv(RESULTS / "lava_throughput.csv", throughput)
    write_csv(RESULTS / "synops_energy.csv", energy)


if __name__ == "__main__":
    main()
