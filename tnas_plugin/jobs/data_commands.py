"""``tnas-er data``: ``synth`` writes a synthetic SEE-like tree; ``check`` validates a SEE tree."""
from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

from tnas_plugin.data import MODALITIES, SynthConfig, synthesize
from tnas_plugin.data.preflight import check_tree
from tnas_plugin.errors import UsageError

from .cli_args import add_data_options, int_range, parse_size
from .results import check_writable


def run_synth(args: argparse.Namespace) -> int:
    check_writable(args.out)
    try:
        config = SynthConfig(subjects=args.subjects, seed=args.seed, size=args.size)
        summary = synthesize(args.out, config, progress=True, workers=args.workers)
    except (FileExistsError, ValueError) as exc:  # an --out that holds a tree, or settings the generator refuses
        raise UsageError(str(exc)) from None
    print(f"wrote {summary['sequences']} sequences ({summary['training']} training, {summary['testing']} testing, "
          f"{summary['frames']} frames per modality) to {args.out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    checked = check_tree(args.root, MODALITIES[args.modality], size=args.size, cache_dir=args.cache_dir, progress=True,
                         annotations=args.annotations)
    for split, records in checked.sequences.items():
        counts = Counter(record.info.emotion for record in records)
        lighting = Counter(record.info.lighting for record in records)
        print(f"{split}: {len(records)} sequences, {len({r.info.subject for r in records})} subjects; "
              f"classes {dict(sorted(counts.items()))}; lighting {dict(sorted(lighting.items()))}")
    print_notes(checked.notes)
    print_problems(checked.problems)
    tolerated = f" ({len(checked.notes)} tolerated, listed above)" if checked.notes else ""
    print(("ok" if checked.ok else f"{len(checked.problems)} problems") + tolerated)
    return 0 if checked.ok else 1


def print_problems(problems) -> None:
    """One ``bad: <path>: <problem>`` line per problem (as ``data check`` and the jobs' preflight print them)."""
    for problem in problems:
        print(f"bad: {problem}")


def print_notes(notes) -> None:
    """One ``tolerated: <path>: <what was found and done>`` line per note (what the SEE authors' loader accepts)."""
    for note in notes:
        print(f"tolerated: {note}")


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="generate or check eye-emotion data in the SEE layout")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = actions.add_parser("synth", help="write a synthetic SEE-like data set (event + intensity JPEGs, emotion.json) in the real form")
    defaults = SynthConfig()
    synth.add_argument("--out", type=Path, required=True, help="output folder (must not already hold a SEE tree)")
    synth.add_argument("--subjects", type=int_range(2, 10_000), default=defaults.subjects, help="number of subjects (default %(default)s)")
    synth.add_argument("--seed", type=int_range(0, 2**32 - 1), default=defaults.seed, help="random seed (default %(default)s)")
    synth.add_argument("--size", type=parse_size, default=defaults.size, metavar="HxW",
                       help="frame size (default %dx%d)" % defaults.size)
    synth.add_argument("--workers", type=int_range(1, 256), default=min(4, os.cpu_count() or 1),
                       help="processes rendering in parallel (default %(default)s; the output does not depend on it)")
    synth.set_defaults(func=run_synth)

    check = actions.add_parser("check", help="validate a SEE tree, decode it into the cache, list bad sequences")
    check.add_argument("root", type=Path, help="folder holding event/ (or event_30/), frame/ and the annotation file")
    check.add_argument("--modality", choices=tuple(MODALITIES), default="both")
    check.add_argument("--size", type=parse_size, default=None, metavar="HxW", help="resolution to cache (default: as stored)")
    add_data_options(check)
    check.set_defaults(func=run_check)
