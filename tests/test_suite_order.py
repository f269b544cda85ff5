"""The suite's order (tests/conftest.py) names tests that exist: a renamed test would silently lose its place."""
import re
from pathlib import Path

from conftest import LONGEST_FIRST

TESTS = Path(__file__).resolve().parent


def test_every_test_run_first_exists():
    for node in LONGEST_FIRST:
        file, name = node.split("::")
        function = re.sub(r"\[.*\]$", "", name)
        assert re.search(rf"^def {function}\(", (TESTS / file).read_text(), re.MULTILINE), node
