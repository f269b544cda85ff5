"""Range-checked ``argparse`` types and options shared by every ``tnas-er`` command (docs/ARCHITECTURE.md, "Reliability").

A value outside its range is a usage error: argparse prints the usage and ``argument --x: must be an
integer in [1, 65535], got 0`` and exits with status 2 before any work starts.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path


def _describe(kind: str, low, high) -> str:
    if high is None:
        return f"{kind} >= {low}"
    return f"{kind} in [{low}, {high}]"


def int_range(low: int, high: int | None = None):
    """An argparse ``type`` accepting integers ``low <= value <= high`` (no upper bound when None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {_describe('an integer', low, high)}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {_describe('an integer', low, high)}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its own messages
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type`` accepting finite numbers > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def parse_size(text: str) -> tuple[int, int]:
    """An argparse ``type``: ``"64x48"`` -> (64, 48) (height x width), both at least 1."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 64x64, got {text!r}") from None
    if min(height, width) < 1:
        raise argparse.ArgumentTypeError(f"size must be HxW with both at least 1, got {text!r}")
    return height, width


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--cache-dir`` and ``--annotations`` of every command that reads a SEE tree."""
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="decoded-frame cache (default DATA/.cache, or a user cache folder if DATA is read-only)")
    parser.add_argument("--annotations", type=Path, default=None, metavar="FILE",
                        help="annotation file, a path or a name inside the data folder (default: emotion.json or "
                             "emotion_new_adjust2.json, whichever is present)")
