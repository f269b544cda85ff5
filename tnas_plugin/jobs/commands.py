"""``tnas-er search | train | evaluate | report``: the search job and its pieces."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

SEARCH_EPILOG = """examples:
  tnas-er search                                 # synthetic data, web UI on :8080, results in results/search
  tnas-er search --budget 30 --port 8081 --out results/run2
  tnas-er search --data /datasets/SEE --resolution 48 --epochs 30
"""


def _search(args: argparse.Namespace) -> int:
    from tnas_plugin.data import SEEDataError

    from .search_job import SearchInterrupted, SearchOptions, run_search

    options = SearchOptions(data=args.data, out=args.out, budget=args.budget, port=args.port, listen=args.listen,
                            announce_ui=not args.quiet,
                            seed=args.seed, epochs=args.epochs, final_epochs=args.final_epochs, resolution=args.resolution,
                            population=args.population, finalists=args.finalists,
                            efficiency=None if args.efficiency == "none" else args.efficiency)
    try:
        report = run_search(options)
    except SearchInterrupted as stopped:
        print(f"tnas-er search: {stopped}")
        return 130
    except (FileNotFoundError, SEEDataError) as bad_data:
        print(f"tnas-er search: {bad_data}")
        return 2
    print(f"results: {args.out.resolve()}  (report: {report})")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tnas_plugin.candidate import CandidateSpec, build_ann
    from tnas_plugin.checkpoint import save_checkpoint
    from tnas_plugin.measurement import MeasurementSettings, measure_candidate
    from tnas_plugin.trainer import epoch_progress

    spec = CandidateSpec.from_dict(json.loads(args.architecture.read_text()))
    settings = MeasurementSettings.from_options(args.data, epochs=args.epochs, seed=args.seed, mode=args.mode)
    with epoch_progress(settings.train, "training") as callbacks:
        result = measure_candidate(spec, build_ann(spec), settings, callbacks)
    save_checkpoint(args.out, spec, result.snn, result.metrics)
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
    test = candidate_dataset(spec, args.data, "testing", eval_starts=args.eval_starts, seed=args.seed)
    y_true, y_pred = predict(lambda x: snn(x, spec.steps_per_window), DataLoader(test, batch_size=128), torch.device("cpu"))
    lighting = [test.metadata(i)["lighting"] for i in range(len(test))]
    print(json.dumps(recognition_report(y_true, y_pred, test.classes, lighting), indent=2))
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import write_report

    print(f"report: {write_report(args.results)}")
    return 0


def _listen_address(text: str) -> str:
    from tnas_plugin.strategies.manager_listen import check_address

    try:
        return check_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers) -> None:
    search = subparsers.add_parser("search", help="the whole job: search, retrain the Pareto front, Lava check, report",
                                   epilog=SEARCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    search.add_argument("--data", type=Path, default=Path("data/synthetic-see"),
                        help="SEE tree (default %(default)s, generated if absent)")
    search.add_argument("--budget", type=int, default=16, help="number of trials (default %(default)s)")
    search.add_argument("--port", type=int, default=8080, help="NNI manager / web UI port (default %(default)s)")
    search.add_argument("--listen", metavar="ADDRESS", type=_listen_address, default="127.0.0.1",
                        help="address NNI's manager (REST API, web UI) listens on (default %(default)s: this machine "
                             "only); another one, e.g. 0.0.0.0, prints a warning: the manager has no authentication")
    search.add_argument("--quiet", action="store_true",
                        help="do not print the web UI address (NNI's manager serves the web UI either way)")
    search.add_argument("--out", type=Path, default=Path("results/search"), help="results directory (default %(default)s)")
    search.add_argument("--seed", type=int, default=0, help="seed of data, training and search (default %(default)s)")
    search.add_argument("--epochs", type=int, default=25, help="training epochs per trial (default %(default)s)")
    search.add_argument("--final-epochs", type=int, default=50,
                        help="training epochs of the retrained finalists and the baselines (default %(default)s)")
    search.add_argument("--resolution", type=int, default=32, help="input resolution in pixels (default %(default)s)")
    search.add_argument("--population", type=int, default=8, help="evolution population size (default %(default)s)")
    search.add_argument("--finalists", type=int, default=3, help="Pareto candidates retrained at the end (default %(default)s)")
    search.add_argument("--efficiency", choices=("synops", "energy_uj", "latency_steps", "params", "none"), default="none",
                        help="efficiency objective minimised next to WAR and UAR (default %(default)s)")
    search.set_defaults(func=_search)

    train = subparsers.add_parser("train", help="train one architecture (JSON) and save its TTFS checkpoint",
                                  epilog="example:\n  tnas-er train results/search/chosen/architecture.json --data data/synthetic-see",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("architecture", type=Path, help="architecture JSON (as written to <results>/chosen/architecture.json)")
    train.add_argument("--data", type=Path, default=Path("data/synthetic-see"), help="SEE tree (default %(default)s)")
    train.add_argument("--out", type=Path, default=Path("model.pt"), help="checkpoint to write (default %(default)s)")
    train.add_argument("--epochs", type=int, default=15)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--mode", choices=("ann", "direct"), default="ann", help="ANN-assisted (default) or direct TTFS training")
    train.set_defaults(func=_train)

    evaluate = subparsers.add_parser("evaluate", help="WAR, UAR, per-class recall and per-lighting accuracy of a checkpoint",
                                     epilog="example:\n  tnas-er evaluate results/search/chosen/model.pt --data data/synthetic-see",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--data", type=Path, default=Path("data/synthetic-see"), help="SEE tree (default %(default)s)")
    evaluate.add_argument("--eval-starts", type=int, default=20, help="clip start points per test sequence (SEE protocol: 20)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.set_defaults(func=_evaluate)

    report = subparsers.add_parser("report", help="redraw the plots and report.md of a results directory")
    report.add_argument("results", type=Path, help="results directory written by tnas-er search")
    report.set_defaults(func=_report)
