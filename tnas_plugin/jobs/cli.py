"""The ``tnas-er`` command line: one subcommand per job, each registered by the module that owns it.

A command module exposes ``register(subparsers)``, which adds its parser(s) and sets ``func`` (called
with the parsed ``argparse.Namespace``; its return value is the exit code).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

# Modules that contribute subcommands, in the order they appear in ``tnas-er --help``.
COMMAND_MODULES: list[str] = ["tnas_plugin.jobs.commands", "tnas_plugin.jobs.front", "tnas_plugin.jobs.data_commands",
                              "tnas_plugin.jobs.hardware_commands"]

EPILOG = """examples:
  tnas-er search                                   the whole job on the built-in synthetic data
  tnas-er data synth --out data/synthetic-see      write the synthetic SEE-like data set
  tnas-er synops results/search/chosen/model.pt --data data/synthetic-see
  tnas-er export-lava results/search/chosen/model.pt --data data/synthetic-see
  tnas-er COMMAND --help                           options of one command
"""


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line like every other error (exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tnas-er",
        description="Search, train, evaluate and deploy TTFS spiking networks for eye-based emotion recognition.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit status 0 done, 1 bad data or files, 2 usage error, 128 + N stopped by signal N.

    The one place a user error becomes an exit status: a :class:`~tnas_plugin.errors.TnasError` prints one
    line (``tnas-er COMMAND: <file>: <problem>``), never a traceback, and exits with its ``exit_code``. A stop
    by SIGINT, SIGTERM or SIGHUP ends the processes the command started and leaves at once
    (docs/ARCHITECTURE.md, "Reliability").
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    from tnas_plugin.errors import TnasError

    from .signals import Stopped, end_child_processes, exit_now, say, stop_on_signals

    name = " ".join(filter(None, ("tnas-er", args.command, getattr(args, "data_command", None))))
    with stop_on_signals() as stop, warnings.catch_warnings():
        # NNI 3.0 probes every torch.nn attribute when nni.nas loads and warns about the non-module ones newer
        # torch adds: about NNI's probe, nothing the user did. Silenced for the command only, not process-wide.
        warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module", category=RuntimeWarning)
        try:
            return int(args.func(args) or 0)
        except TnasError as error:
            say(f"{name}: {error}", sys.stderr)
            return error.exit_code
        except Stopped:
            pass
        finally:
            if stop.signum is not None:
                say(f"{name}: stopped by {stop.name}", sys.stderr)
                end_child_processes()
                exit_now(128 + stop.signum)


if __name__ == "__main__":
    sys.exit(main())
