"""``tnas-er search | train | evaluate | report``: the search job and its pieces."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tnas_plugin.errors import InputError, UsageError

from .cli_args import add_data_options, int_range
from .results import check_writable
from .signals import say

# Options of a search run that --resume takes from the stopped run (None on the command line: not given).
_RUN_OPTIONS = ("data", "out", "budget", "seed", "epochs", "final_epochs", "resolution", "population", "finalists",
                "efficiency", "cache_dir", "annotations", "validation_split", "final_training", "skip_bad", "concurrency",
                "engine", "baselines")
# --efficiency NAME -> the metric key minimised next to WAR and UAR (None: WAR and UAR only)
EFFICIENCY = {"energy": "energy_uj", "synops": "synops", "latency": "latency_steps", "params": "params", "none": None}

# --baselines NAME: the reference networks measured after the search (SearchOptions.baselines)
BASELINES = {
    "full": "the hand-crafted TTFS CNN; the chosen network's ANN twin, rate twin and SEEN-style LIF CNN",
    "fast": "the hand-crafted TTFS CNN and the chosen network's ANN twin",
    "none": "none (the report compares the chosen network with chance only)",
}

# --quick: SearchOptions of a smoke run that still learns (its CPU time is measured in README.md)
QUICK = dict(budget=4, epochs=5, final_epochs=10, finalists=2, population=4, baselines="fast", lava_samples=5)


SEARCH_EPILOG = """examples:
  tnas-er search                                 # synthetic data, web UI on :8080, results in results/search
  tnas-er search --quick --out results/quick     # a smoke run that still learns (minutes of CPU)
  tnas-er search --budget 30 --port 8081 --out results/run2
  tnas-er search --data /datasets/SEE --resolution 48 --epochs 30
  tnas-er search --out results/run2 --overwrite  # replace an earlier run's results
  tnas-er search --resume results/run2           # continue a stopped run (Ctrl-C, SIGTERM, SIGHUP)

exit status: 0 done, 1 bad data or files (one line names the file), 2 usage error,
128 + N stopped by signal N (the finished trials stay in OUT.partial/trials.csv)
"""


def _search(args: argparse.Namespace) -> int:
    from .search_job import SearchOptions, run_search

    given = {name: value for name, value in vars(args).items() if name in _RUN_OPTIONS and value is not None}
    if args.resume is not None and (given or args.overwrite or args.quick):
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in
                          [*given, *(["overwrite"] if args.overwrite else []), *(["quick"] if args.quick else [])])
        raise UsageError(f"--resume continues a run with the options it was started with; {flags} cannot be given "
                         "with it (only --port, --listen and --quiet)")
    from tnas_plugin.strategies.manager_listen import bind_problem
    from tnas_plugin.strategies.manager_start import SECONDS_VARIABLE

    problem = bind_problem(args.listen)  # before anything starts: NNI's manager would fail after starting up
    if problem is not None:
        raise UsageError(f"--listen {args.listen}: this machine cannot listen on it ({problem}); give one of its addresses")
    if not os.environ.get(SECONDS_VARIABLE, "1").isdigit() or os.environ.get(SECONDS_VARIABLE) == "0":
        raise UsageError(f"{SECONDS_VARIABLE}={os.environ[SECONDS_VARIABLE]!r}: must be a whole number of seconds, at least 1")
    options = SearchOptions(port=args.port, listen=args.listen, announce_ui=not args.quiet,
                            **{**(QUICK if args.quick else {}), **given})  # options given win over --quick's
    if args.efficiency is not None:
        options.efficiency = EFFICIENCY[args.efficiency]
    report = run_search(options, overwrite=args.overwrite, resume_from=args.resume)
    say(f"results: {report.parent.resolve()}  (report: {report})")
    return 0


def load_architecture(path: Path):
    """The ``CandidateSpec`` of an architecture JSON file; ``InputError`` naming the file otherwise (sizes
    are checked before anything is allocated: :class:`tnas_plugin.candidate.CandidateSpec`)."""
    from tnas_plugin.candidate import CandidateSpec

    try:
        return CandidateSpec.from_dict(json.loads(path.read_text()))
    except OSError as error:
        raise InputError(f"{path}: cannot read the architecture ({error.strerror or error})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not a JSON file ({error})") from None
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise InputError(f"{path}: not a valid architecture ({type(error).__name__}: {error})") from None


def check_data(data: Path, spec, cache_dir: Path | None, annotations: Path | None = None) -> None:
    """The preflight of ``train`` and ``evaluate``: the candidate's modality folders, at its resolution."""
    from tnas_plugin.data import MODALITIES
    from tnas_plugin.data.preflight import check_tree

    from .data_commands import print_problems

    checked = check_tree(data, MODALITIES[spec.modality], size=(spec.resolution, spec.resolution), cache_dir=cache_dir,
                         annotations=annotations)
    if not checked.ok:
        print_problems(checked.problems)
        raise InputError(f"{data}: {len(checked.problems)} problem(s), listed above as `tnas-er data check` lists them")


def _train(args: argparse.Namespace) -> int:
    from tnas_plugin.checkpoint import save_checkpoint
    from tnas_plugin.candidate import build_ann
    from tnas_plugin.measurement import MeasurementSettings, measure_candidate
    from tnas_plugin.trainer import epoch_progress
    from tnas_plugin.ttfs import quantize

    spec = load_architecture(args.architecture)
    if args.out.exists() and not args.overwrite:
        raise UsageError(f"{args.out} exists; pass --overwrite to replace it or choose another --out")
    check_writable(args.out.parent)  # before training, not after
    check_data(args.data, spec, args.cache_dir, args.annotations)
    settings = MeasurementSettings.from_options(args.data, epochs=args.epochs, seed=args.seed, mode=args.mode,
                                                cache_dir=None if args.cache_dir is None else str(args.cache_dir),
                                                annotations=None if args.annotations is None else str(args.annotations),
                                                weight_bits=args.weight_bits)
    with epoch_progress(settings.train, "training") as callbacks:
        result = measure_candidate(spec, build_ann(spec), settings, callbacks)
    partial = args.out.with_name(f".{args.out.name}.partial")
    quantized = None if args.weight_bits is None else quantize(result.snn, args.weight_bits, steps_per_window=spec.steps_per_window)
    save_checkpoint(partial, spec, result.snn, result.metrics, quantized=quantized)
    os.replace(partial, args.out)
    print(json.dumps(result.metrics, indent=2))
    print(f"checkpoint: {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader

    from tnas_plugin.candidate import candidate_dataset
    from tnas_plugin.checkpoint import load_checkpoint
    from tnas_plugin.metrics import recognition_report
    from tnas_plugin.trainer import predict

    spec, snn, _ = load_checkpoint(args.checkpoint)
    check_data(args.data, spec, args.cache_dir, args.annotations)
    test = candidate_dataset(spec, args.data, "testing", eval_starts=args.eval_starts, seed=args.seed, cache_dir=args.cache_dir,
                             annotations=args.annotations)
    y_true, y_pred = predict(lambda x: snn(x, spec.steps_per_window), DataLoader(test, batch_size=128), torch.device("cpu"))
    lighting = [test.metadata(i)["lighting"] for i in range(len(test))]
    print(json.dumps(recognition_report(y_true, y_pred, test.classes, lighting), indent=2))
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import write_report

    if not (args.results / "trials.csv").is_file():
        raise InputError(f"{args.results / 'trials.csv'}: missing; give a results folder written by tnas-er search")
    try:
        print(f"report: {write_report(args.results)}")
    except FileNotFoundError as missing:
        raise InputError(f"{missing.filename}: missing; give a results folder written by tnas-er search") from None
    return 0


def _nnictl_config(args: argparse.Namespace) -> int:
    from .search_job import SearchOptions
    from .tuner_search import nnictl_yaml

    options = SearchOptions(**{name: value for name in ("data", "budget", "epochs", "concurrency", "seed", "resolution")
                               if (value := getattr(args, name)) is not None})
    if args.efficiency is not None:
        options.efficiency = EFFICIENCY[args.efficiency]
    if not (options.data / "emotion.json").is_file():
        raise InputError(f"{options.data / 'emotion.json'}: not a SEE tree (create one with: tnas-er data synth --out {options.data})")
    if args.out.exists() and not args.overwrite:
        raise UsageError(f"{args.out} exists; pass --overwrite to replace it or choose another --out")
    check_writable(args.out.resolve().parent)
    args.out.write_text(f"# nnictl create --config {args.out} --port 8080   (written by tnas-er nnictl-config)\n"
                        + nnictl_yaml(options, args.out.resolve().parent))
    print(f"wrote {args.out}: {options.budget} trials of {options.epochs} epochs on {options.data.resolve()}, "
          f"{options.concurrency} side by side; run it with: nnictl create --config {args.out} --port 8080")
    return 0


def _listen_address(text: str) -> str:
    from tnas_plugin.strategies.manager_listen import check_address

    try:
        return check_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers) -> None:
    from tnas_plugin.candidate import MAX_RESOLUTION

    search = subparsers.add_parser("search", help="the whole job: search, retrain the Pareto front, Lava check, report",
                                   epilog=SEARCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Run options default to None ("not given", which --resume checks); SearchOptions holds the defaults.
    search.add_argument("--data", type=Path, help="SEE tree (default data/synthetic-see, generated if absent)")
    search.add_argument("--budget", type=int_range(1, 100_000), help="number of trials, each a distinct network (default 100)")
    search.add_argument("--port", type=int_range(1, 65535),
                        help="NNI manager / web UI port (default: 8080, or the next free port if it is busy; a port "
                             "given here that is busy stops the job before NNI starts)")
    search.add_argument("--listen", metavar="ADDRESS", type=_listen_address, default="127.0.0.1",
                        help="address NNI's manager (REST API, web UI) listens on (default %(default)s: this machine "
                             "only); another one, e.g. 0.0.0.0, prints a warning: the manager has no authentication")
    search.add_argument("--quiet", action="store_true",
                        help="do not print the web UI address (NNI's manager serves the web UI either way)")
    search.add_argument("--out", type=Path,
                        help="results folder (default results/search); written through OUT.partial, moved to OUT when done")
    search.add_argument("--overwrite", action="store_true", help="replace the results (or a stopped run) already in --out")
    search.add_argument("--resume", type=Path, metavar="OUT",
                        help="continue the stopped run of this --out folder, with its options and NNI experiment ID")
    search.add_argument("--seed", type=int_range(0, 2**32 - 1), help="seed of data, training and search (default 0)")
    search.add_argument("--epochs", type=int_range(1, 10_000), help="training epochs per trial (default 15, low fidelity; the finalists get --final-epochs)")
    search.add_argument("--final-epochs", type=int_range(1, 10_000),
                        help="training epochs of the retrained finalists and the baselines (default 50)")
    search.add_argument("--resolution", type=int_range(8, MAX_RESOLUTION),
                        help="input resolution in pixels (default 32; at least 8 for three pooling stages)")
    search.add_argument("--population", type=int_range(2, 10_000), help="evolution population size (default 16)")
    search.add_argument("--finalists", type=int_range(1, 100),
                        help="trials retrained at the end, promoted in turn as the most accurate overall, within "
                             "the hand-crafted network's cost, half of it and a quarter of it (default 8)")
    search.add_argument("--efficiency", choices=tuple(EFFICIENCY),
                        help="cost minimised next to WAR and UAR: energy on the hardware profile (default), SynOps, "
                             "latency in steps, parameters, or none (WAR and UAR only)")
    search.add_argument("--concurrency", type=int_range(1, 64),
                        help="trials side by side, one torch thread each (default 2)")
    search.add_argument("--engine", choices=("tuner", "nas"),
                        help="tuner (default): HPO-style NNI experiment with Lightning-free trials; "
                             "nas: NasExperiment (NAS-mode trials, several seconds more start-up each)")
    search.add_argument("--validation-split", choices=("take", "subject"),
                        help="how validation is carved from the training subset (default: as the test split was "
                             "carved: takes within subjects when test subjects also appear in training, as in SEE's "
                             "official split, else whole subjects)")
    search.add_argument("--keep-validation-out", dest="final_training", action="store_const", const="training",
                        help="after the choice, keep training the chosen network and the baselines on the training "
                             "split only (default: retrain them on training + validation)")
    search.add_argument("--baselines", choices=tuple(BASELINES),
                        help="reference networks measured after the search: " +
                             "; ".join(f"{name}: {what}" for name, what in BASELINES.items()) + " (default full)")
    search.add_argument("--quick", action="store_true",
                        help="a smoke run that still learns, in minutes of CPU time: " +
                             ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in QUICK.items()
                                       if name in _RUN_OPTIONS) +
                             f", Lava checked on {QUICK['lava_samples']} clips (options given override these)")
    add_data_options(search)
    search.add_argument("--skip-bad", action="store_true", default=None,
                        help="leave out the sequences the data check finds bad (listed in report.md) instead of stopping")
    search.set_defaults(func=_search)

    config = subparsers.add_parser(
        "nnictl-config", help="write the nnictl configuration of the search, every path absolute (runs from any folder)",
        epilog="example:\n  tnas-er nnictl-config --out ~/see_search.yml --epochs 5 --budget 20\n"
               "  nnictl create --config ~/see_search.yml --port 8080",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    config.add_argument("--out", type=Path, default=Path("see_search.yml"), help="YAML file to write (default %(default)s)")
    config.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    config.add_argument("--data", type=Path, help="SEE tree the trials read (default data/synthetic-see)")
    config.add_argument("--budget", type=int_range(1, 100_000), help="number of trials (default 100)")
    config.add_argument("--epochs", type=int_range(1, 10_000), help="training epochs per trial (default 15)")
    config.add_argument("--concurrency", type=int_range(1, 64), help="trials side by side (default 2)")
    config.add_argument("--seed", type=int_range(0, 2**32 - 1), help="seed of training and search (default 0)")
    config.add_argument("--resolution", type=int_range(8, MAX_RESOLUTION), help="input resolution in pixels (default 32)")
    config.add_argument("--efficiency", choices=tuple(EFFICIENCY), help="cost minimised next to WAR and UAR (default energy)")
    config.set_defaults(func=_nnictl_config)

    train = subparsers.add_parser("train", help="train one architecture (JSON) and save its TTFS checkpoint",
                                  epilog="example:\n  tnas-er train results/search/chosen/architecture.json --data data/synthetic-see",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("architecture", type=Path, help="architecture JSON (as written to <results>/chosen/architecture.json)")
    train.add_argument("--data", type=Path, default=Path("data/synthetic-see"), help="SEE tree (default %(default)s)")
    train.add_argument("--out", type=Path, default=Path("model.pt"), help="checkpoint to write (default %(default)s)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing --out checkpoint")
    train.add_argument("--epochs", type=int_range(1, 10_000), default=15)
    train.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0)
    add_data_options(train)
    train.add_argument("--mode", choices=("ann", "direct"), default="ann", help="ANN-assisted (default) or direct TTFS training")
    train.add_argument("--weight-bits", type=int_range(2, 8), default=None,
                       help="fixed-point weights: quantisation-aware TTFS fine-tuning, metrics of the integer network, "
                            "which the checkpoint also stores (default: float)")
    train.set_defaults(func=_train)

    evaluate = subparsers.add_parser("evaluate", help="WAR, UAR, per-class recall and per-lighting accuracy of a checkpoint",
                                     epilog="example:\n  tnas-er evaluate results/search/chosen/model.pt --data data/synthetic-see",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--data", type=Path, default=Path("data/synthetic-see"), help="SEE tree (default %(default)s)")
    evaluate.add_argument("--eval-starts", type=int_range(1, 1000), default=20,
                          help="clip start points per test sequence (SEE protocol: 20)")
    evaluate.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0)
    add_data_options(evaluate)
    evaluate.set_defaults(func=_evaluate)

    report = subparsers.add_parser("report", help="redraw the plots and report.md of a results directory")
    report.add_argument("results", type=Path, help="results directory written by tnas-er search")
    report.set_defaults(func=_report)
