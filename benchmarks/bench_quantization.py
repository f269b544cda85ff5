"""Fixed-point TTFS networks: test WAR/UAR at 8, 6 and 4-bit weights, before and after quantisation-aware fine-tuning.

Two networks, trained like the demo's finalists (``--epochs`` ReLU-twin epochs, then the TTFS fine-tuning
stage, one epoch by default; seed per repeat; the default synthetic data set; nothing chosen on the test split):

- the architecture in ``--architecture`` (default: the chosen network of the latest ``make demo``,
  ``results/demo/chosen/architecture.json``), named in the tables by its file and its layers;
- the hand-crafted TTFS CNN (:data:`tnas_plugin.jobs.baselines.HANDCRAFTED_TTFS`).

The ReLU twin is trained and converted once per network and seed (``train_ttfs``, the trainer's
pipeline); the converted TTFS network is then fine-tuned from the same copy, on the same shuffled data, in
each variant:

- ``float``: float fine-tuning, the float network evaluated in discrete time (what the float Lava models run);
- ``ptq`` (before QAT): that float-fine-tuned network quantised to ``b`` bits (:func:`tnas_plugin.ttfs.quantize`),
  evaluated as the integer network;
- ``qat`` (after QAT): fine-tuning with ``TrainConfig(weight_bits=b)``, i.e. quantisation-aware (rounded
  weights and biases in the forward pass, straight-through gradients), then the integer network evaluated
  -- what ``tnas-er train --weight-bits b`` runs.

Every network is evaluated once on the test split (20 start points per test sequence would be the SEE
protocol; ``--eval-starts`` as the demo, 4). The seed-0 8-bit QAT network of each architecture is also run
on Lava's ``fixed_pt`` models for ``--lava-samples`` test clips and compared with the PyTorch integer model.

Writes ``results/quantization.csv`` (one row per network, seed, variant), ``quantization_summary.csv``
(median and mean over seeds), ``quantization_lava.csv``, ``quantization.md`` and ``quantization.png``.

    python benchmarks/bench_quantization.py [--epochs 50 --seeds 3 --bits 8 6 4 --threads 2]
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from machine import describe  # noqa: E402  benchmarks/machine.py
from tnas_plugin.candidate import CandidateSpec, build_ann  # noqa: E402
from tnas_plugin.data import SynthConfig, synthesize  # noqa: E402
from tnas_plugin.jobs.baselines import HANDCRAFTED_TTFS  # noqa: E402
from tnas_plugin.measurement import MeasurementSettings  # noqa: E402
from tnas_plugin.metrics import recognition_report  # noqa: E402
from tnas_plugin.trainer import finetune, inference_model, predict, train_ttfs  # noqa: E402
from tnas_plugin.ttfs import quantize  # noqa: E402

RESULTS = Path(__file__).parent / "results"

DEMO_CHOSEN = Path("results/demo/chosen/architecture.json")


def networks(architecture: Path) -> dict[str, CandidateSpec]:
    """The two networks by name: the one in ``architecture`` (an architecture JSON), the hand-crafted one."""
    if not architecture.is_file():
        raise SystemExit(f"bench_quantization: {architecture}: no architecture JSON (run `make demo` first, or pass "
                         "--architecture PATH)")
    spec = CandidateSpec.from_dict(json.loads(architecture.read_text()))
    return {f"{architecture} ({spec.describe()})": spec, f"hand-crafted ({HANDCRAFTED_TTFS.describe()})": HANDCRAFTED_TTFS}


def with_bits(settings: MeasurementSettings, bits: int | None) -> MeasurementSettings:
    return dataclasses.replace(settings, train=dataclasses.replace(settings.train, weight_bits=bits))


def converted_network(spec, settings: MeasurementSettings):
    """The trainer's pipeline up to the TTFS fine-tuning: ReLU twin trained, calibrated, mapped (seconds too)."""
    start = time.perf_counter()
    train = dataclasses.replace(settings.train, finetune_epochs=0)
    snn = train_ttfs(build_ann(spec), training_loader(spec, settings), spec.steps_per_window, train).snn
    return snn, time.perf_counter() - start


def training_loader(spec, settings: MeasurementSettings) -> DataLoader:
    generator = torch.Generator().manual_seed(settings.train.seed)
    return DataLoader(settings.dataset(spec, "training"), batch_size=settings.batch_size, shuffle=True, generator=generator)


def fine_tuned(converted, spec, settings: MeasurementSettings):
    """A copy of ``converted`` fine-tuned as ``settings.train`` says (quantisation-aware with ``weight_bits``)."""
    snn = copy.deepcopy(converted)
    start = time.perf_counter()
    config = settings.train
    finetune(snn, training_loader(spec, settings), config.finetune_epochs, config.finetune_lr, spec.steps_per_window,
             "finetune", config)
    return snn, time.perf_counter() - start


def evaluate_row(name: str, seed: int, variant: str, bits: int | None, spec, snn, settings, seconds: float) -> dict:
    """Test WAR/UAR of ``snn`` (``bits``: of its integer twin), predicted as ``evaluate_network`` predicts (the
    operation counts it adds are not needed here)."""
    test = settings.dataset(spec, "testing")
    y_true, y_pred = predict(inference_model(snn, spec.steps_per_window, bits), DataLoader(test, batch_size=128),
                             torch.device("cpu"))
    metrics = recognition_report(y_true, y_pred, test.classes)
    return {"network": name, "seed": seed, "variant": variant, "weight_bits": bits or 32,
            "war": metrics["war"], "uar": metrics["uar"], "finetune_s": seconds}


def lava_check(name: str, spec, snn, settings, bits: int, samples: int) -> dict:
    from tnas_plugin.hardware.lava_export import compare_with_torch, run_lava

    test = dataclasses.replace(settings, eval_starts=1).dataset(spec, "testing")
    frames = torch.stack([test[i][0] for i in range(min(samples, len(test)))])
    qnet = quantize(snn, bits, steps_per_window=spec.steps_per_window)
    start = time.perf_counter()
    lava = run_lava(qnet, frames, spec.steps_per_window, samples_per_run=10, fixed_point=True)
    seconds = time.perf_counter() - start
    comparison = compare_with_torch(qnet, frames, spec.steps_per_window, lava)
    return {"network": name, "weight_bits": bits, **dataclasses.asdict(comparison), "seconds": seconds,
            "samples_per_s": len(frames) / seconds, "lava_steps": lava.num_steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architecture", type=Path, default=DEMO_CHOSEN,
                        help=f"architecture JSON to quantise besides the hand-crafted network (default {DEMO_CHOSEN})")
    parser.add_argument("--data", default=str(RESULTS / "synthetic-see"), help="SEE tree (generated if absent)")
    parser.add_argument("--epochs", type=int, default=50, help="ReLU-twin epochs (the demo's finalists: 50)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 6, 4])
    parser.add_argument("--finetune-epochs", type=int, default=1, help="TTFS fine-tuning epochs (the trainer's default: 1)")
    parser.add_argument("--eval-starts", type=int, default=4)
    parser.add_argument("--lava-samples", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    named = networks(args.architecture)
    if not Path(args.data, "emotion.json").exists():
        synthesize(args.data, SynthConfig(), progress=True)
    args.out.mkdir(parents=True, exist_ok=True)

    rows, lava_rows = [], []
    for seed in range(args.seeds):
        for name, spec in named.items():
            settings = MeasurementSettings.from_options(args.data, epochs=args.epochs, seed=seed, validation_seed=seed,
                                                        eval_starts=args.eval_starts, finetune_epochs=args.finetune_epochs)
            converted, seconds = converted_network(spec, settings)
            print(f"{name}, seed {seed}: ReLU twin trained and converted in {seconds:.0f} s", flush=True)
            trained, float_seconds = fine_tuned(converted, spec, settings)
            rows.append(evaluate_row(name, seed, "float", None, spec, trained, settings, float_seconds))
            for bits in args.bits:
                rows.append(evaluate_row(name, seed, "ptq", bits, spec, trained, settings, float_seconds))
                qat, seconds = fine_tuned(converted, spec, with_bits(settings, bits))
                rows.append(evaluate_row(name, seed, "qat", bits, spec, qat, settings, seconds))
                if seed == 0 and bits == 8:
                    lava_rows.append(lava_check(name, spec, qat, settings, bits, args.lava_samples))
                    print(lava_rows[-1], flush=True)
            print(pd.DataFrame(rows).tail(1 + 2 * len(args.bits)).to_string(index=False), flush=True)

    table = pd.DataFrame(rows)
    table.to_csv(args.out / "quantization.csv", index=False)
    summary = (table.groupby(["network", "variant", "weight_bits"], sort=False)[["war", "uar"]]
               .agg(["median", "mean"]).reset_index())
    summary.columns = ["_".join(c for c in column if c) for column in summary.columns]
    summary.to_csv(args.out / "quantization_summary.csv", index=False)
    lava = pd.DataFrame(lava_rows)
    lava.to_csv(args.out / "quantization_lava.csv", index=False)

    floats = table[table.variant == "float"].set_index(["network", "seed"])
    lines = [f"# Fixed-point TTFS networks: test WAR/UAR by weight bits ({args.seeds} seeds, {args.epochs} epochs)", "",
             f"Machine: {describe()}", "",
             "| network | weights | WAR median (mean) | UAR median (mean) | median loss vs float (WAR / UAR points) |",
             "|---|---|---|---|---|"]
    for (network, variant, bits), group in table.groupby(["network", "variant", "weight_bits"], sort=False):
        base = floats.loc[[(network, seed) for seed in group.seed]]
        loss_war = ((base.war.to_numpy() - group.war.to_numpy()) * 100)
        loss_uar = ((base.uar.to_numpy() - group.uar.to_numpy()) * 100)
        label = "float" if variant == "float" else f"{bits}-bit {'after QAT' if variant == 'qat' else 'before QAT'}"
        lines.append(f"| {network} | {label} | {group.war.median():.3f} ({group.war.mean():.3f}) | "
                     f"{group.uar.median():.3f} ({group.uar.mean():.3f}) | "
                     f"{pd.Series(loss_war).median():+.1f} / {pd.Series(loss_uar).median():+.1f} |")
    lines += ["", "Lava fixed point (seed 0, 8-bit QAT network, test clips):", "",
              lava.to_markdown(index=False) if len(lava) else "(none)", ""]
    (args.out / "quantization.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    figure, axes = plt.subplots(1, len(named), figsize=(5 * len(named), 3.5), sharey=True)
    for axis, network in zip(axes, named):
        part = table[table.network == network]
        float_war = part[part.variant == "float"].war.median()
        for variant, marker in (("ptq", "o--"), ("qat", "s-")):
            rows_v = part[part.variant == variant].groupby("weight_bits").war.median()
            axis.plot(rows_v.index, rows_v.to_numpy(), marker, label=f"{'before' if variant == 'ptq' else 'after'} QAT")
        axis.axhline(float_war, color="grey", lw=1, label="float")
        axis.set_title(network)
        axis.set_xlabel("weight bits")
        axis.set_xticks(sorted(args.bits))
    axes[0].set_ylabel("test WAR (median over seeds)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(args.out / "quantization.png", dpi=120)


if __name__ == "__main__":
    main()
