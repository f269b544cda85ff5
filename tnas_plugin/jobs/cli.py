"""The ``tnas-er`` command line: one subcommand per job, each registered by the module that owns it.

A command module exposes ``register(subparsers)``, which adds its parser(s) and sets ``func`` (called
with the parsed ``argparse.Namespace``; its return value is the exit code).
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute subcommands, in the order they appear in ``tnas-er --help``.
COMMAND_MODULES: list[str] = ["tnas_plugin.jobs.commands", "tnas_plugin.jobs.front", "tnas_plugin.data.cli",
                              "tnas_plugin.hardware.cli"]

EPILOG = """examples:
  tnas-er search                                   the whole job on the built-in synthetic data
  tnas-er data synth --out data/synthetic-see      write the synthetic SEE-like data set
  tnas-er synops results/search/chosen/model.pt --data data/synthetic-see
  tnas-er export-lava results/search/chosen/model.pt --data data/synthetic-see
  tnas-er COMMAND --help                           options of one command
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
