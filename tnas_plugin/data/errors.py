"""The one exception the data package raises for bad input (docs/ARCHITECTURE.md, "Data")."""
from __future__ import annotations

from pathlib import Path


class SEEDataError(ValueError):
    """A problem with a SEE-layout tree: ``path`` is the file or folder at fault, ``problem`` says what.

    ``sequence`` names the affected sequence where there is one. With ``on_error="skip"`` the same
    objects are collected in ``SEEDataset.skipped`` instead of being raised.
    """

    def __init__(self, path: str | Path, problem: str, sequence: str | None = None):
        self.path = Path(path)
        self.problem = problem
        self.sequence = sequence
        super().__init__(f"{self.path}: {problem}")
