"""``tnas-er synops`` and ``tnas-er export-lava``: SynOps/energy table and Lava export of a trained checkpoint.

Both commands load a checkpoint (:func:`tnas_plugin.checkpoint.load_checkpoint`) and take their input
frames from the test split of a SEE tree, built exactly as the WAR/UAR evaluator builds them
(:func:`tnas_plugin.candidate.candidate_dataset`), one start point per sequence.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from tnas_plugin.candidate import candidate_dataset
from tnas_plugin.checkpoint import NoQuantizedNetwork, load_checkpoint, load_quantized_checkpoint
from tnas_plugin.errors import InputError, UsageError
from tnas_plugin.hardware import CostReport, available_profiles, count_ttfs, estimate_energy, load_profile
from tnas_plugin.hardware.profiles import LATENCY_MODELS

from .cli_args import add_data_options, int_range, positive_float


def load_inputs(args: argparse.Namespace):
    """``(snn, frames, steps_per_window)`` for the checkpoint and the first ``--samples`` test clips."""
    spec, snn, _ = load_checkpoint(args.checkpoint)
    test = candidate_dataset(spec, args.data, "testing", eval_starts=1, seed=args.seed, cache_dir=args.cache_dir,
                             annotations=args.annotations)
    frames = torch.stack([test[i][0] for i in range(min(args.samples, len(test)))])
    return snn, frames, args.steps_per_window or spec.steps_per_window


def format_table(report: CostReport) -> str:
    rows = [("layer", "spikes in", "synaptic events", "neurons", "active updates", "inactive updates", "spikes/neuron", "ANN MACs")]
    for row in report.layers:
        rate = "-" if row.spikes_per_neuron is None else f"{row.spikes_per_neuron:.3f}"
        rows.append((row.name, f"{row.spikes_in:.1f}", f"{row.synaptic_events:.0f}", str(row.neurons), f"{row.updates_active:.0f}",
                     f"{row.updates_inactive:.0f}", rate, str(row.macs)))
    rows.append(("total", "", f"{report.synaptic_events:.0f}", str(report.neurons), f"{report.updates_active:.0f}",
                 f"{report.updates_inactive:.0f}", f"{report.spikes_per_neuron:.3f}", str(report.macs)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths))) for r in rows)


def run_synops(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    if args.latency_model not in (None, *profile.latency_models):
        raise UsageError(f"--latency-model {args.latency_model}: profile {profile.name!r} supports "
                         f"{list(profile.latency_models)} only")
    snn, frames, steps = load_inputs(args)
    report = count_ttfs(snn, frames, steps)
    energy = estimate_energy(report, profile, args.latency_model, args.step_ms)
    ann = estimate_energy(report.ann_twin(), profile)
    if args.json:
        print(json.dumps({"totals": report.totals(), "per_layer": report.rows(), "energy": asdict(energy),
                          "ann_twin": asdict(ann)}, indent=2))
        return 0
    print(f"{report.samples} samples, {steps} steps per window, {report.time_steps} time steps; per inference:")
    print(format_table(report))
    print(f"energy on {profile.name}: {energy.energy_uj:.4g} uJ (synaptic events {energy.synop_energy_pj * 1e-6:.4g} uJ, "
          f"neuron updates {energy.update_energy_pj * 1e-6:.4g} uJ); ANN twin {ann.energy_uj:.4g} uJ; "
          f"latency {energy.latency_steps} steps = {energy.latency_ms:.4g} ms ({energy.latency_model} model)")
    return 0


def run_export_lava(args: argparse.Namespace) -> int:
    """Exit status 0 when Lava agrees with PyTorch on every sample (bit for bit with ``--fixed-point``), else 1."""
    snn, frames, steps = load_inputs(args)
    from tnas_plugin.hardware.lava_export import compare_with_torch, export_lava  # imports Lava: only once the inputs are good

    if args.fixed_point:
        snn = fixed_point_network(args, snn, steps)
    else:
        snn = snn.double()  # Lava's floating-point models compute in float64: compare like with like
    graph = export_lava(snn, steps, frames, samples_per_run=args.samples_per_run, fixed_point=args.fixed_point)
    print(f"Lava process graph ({graph.period} steps per sample period, {graph.samples_per_run} samples side by side):")
    print("\n".join(f"  {line}" for line in graph.wiring))
    start = time.perf_counter()
    lava = graph.run()
    seconds = time.perf_counter() - start
    comparison = compare_with_torch(snn, frames, steps, lava)
    agree, error = round(comparison.agreement * len(frames)), comparison.max_readout_difference
    counted = count_ttfs(snn, frames, steps).synaptic_events
    print(f"{len(frames)} samples in {graph.num_steps} Lava steps, {seconds:.1f} s "
          f"({len(frames) / seconds:.2f} samples/s, compile included)")
    model = "PyTorch integer" if args.fixed_point else "PyTorch discrete"
    print(f"predictions agree with the {model} model on {agree}/{len(frames)} samples; "
          f"max |readout difference| {error:.2e}; every spike step equal on "
          f"{round(comparison.spike_step_agreement * len(frames))}/{len(frames)} samples")
    print(f"SynOps per inference from Lava's spikes {lava.synops:.1f}; counter {counted:.1f}")
    exact = error == 0 and comparison.spike_step_agreement == 1 if args.fixed_point else error <= 1e-6
    return 0 if agree == len(frames) and exact else 1


def fixed_point_network(args: argparse.Namespace, snn, steps: int):
    """The checkpoint's saved integer network, or ``snn`` quantised to ``--weight-bits`` (default 8) for ``steps``."""
    from tnas_plugin.ttfs import quantize

    try:
        _, qnet, _ = load_quantized_checkpoint(args.checkpoint)
    except NoQuantizedNetwork:
        try:
            return quantize(snn, args.weight_bits or 8, steps_per_window=steps)
        except ValueError as error:  # a dense sum past Lava's accumulator, a threshold past the potential width
            raise InputError(f"{args.checkpoint}: cannot run in fixed point ({error})") from None
    if qnet.steps_per_window != steps or args.weight_bits not in (None, qnet.weight_bits):
        raise UsageError(f"{args.checkpoint}: its saved integer network has {qnet.weight_bits}-bit weights for "
                         f"{qnet.steps_per_window} steps per window; leave --weight-bits/--steps-per-window out")
    return qnet


def _common(parser: argparse.ArgumentParser, samples: int) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint file written by the trainer (tnas-er-ttfs/1)")
    parser.add_argument("--data", type=Path, required=True, help="SEE tree whose test split supplies the input clips")
    parser.add_argument("--samples", type=int_range(1, 100_000), default=samples, help="number of test clips (default %(default)s)")
    parser.add_argument("--steps-per-window", type=int_range(1, 4096), default=None,
                        help="time steps per window (default: the checkpoint's)")
    parser.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0, help="data seed (default %(default)s)")
    add_data_options(parser)


def register(subparsers) -> None:
    synops = subparsers.add_parser("synops", help="per-layer synaptic operations, energy and latency of a checkpoint")
    _common(synops, samples=64)
    synops.add_argument("--profile", default="loihi",
                        help=f"hardware profile: {', '.join(available_profiles())} or a YAML path (default %(default)s)")
    synops.add_argument("--latency-model", choices=tuple(LATENCY_MODELS), default=None,
                        help="latency model (default: the profile's; core_time needs per-operation times)")
    synops.add_argument("--step-ms", type=positive_float, default=None, help="time-step duration of the fixed_step model in ms (default: the profile's)")
    synops.add_argument("--json", action="store_true", help="print the report as JSON")
    synops.set_defaults(func=run_synops)

    export = subparsers.add_parser("export-lava", help="run a checkpoint as a Lava process graph and check it against PyTorch")
    _common(export, samples=50)
    export.add_argument("--samples-per-run", type=int_range(1, 1000), default=10, help="samples simulated side by side (default %(default)s)")
    export.add_argument("--fixed-point", action="store_true",
                        help="run the integer network on Lava's fixed_pt models (the checkpoint's saved one, or the network "
                             "quantised to --weight-bits) and require bit-exact agreement")
    export.add_argument("--weight-bits", type=int_range(2, 8), default=None,
                        help="weight bits when quantising for --fixed-point (default: the saved integer network's, else 8)")
    export.set_defaults(func=run_export_lava)
