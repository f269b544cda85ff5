"""What the data package says about bad input (docs/ARCHITECTURE.md, "Data"): an error, or a tolerance."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tnas_plugin.errors import InputError


class SEEDataError(InputError, ValueError):
    """A problem with a SEE-layout tree: ``path`` is the file or folder at fault, ``problem`` says what.

    ``sequence`` names the affected sequence where there is one. With ``on_error="skip"`` the same
    objects are collected in ``SEEDataset.skipped`` instead of being raised.
    """

    def __init__(self, path: str | Path, problem: str, sequence: str | None = None):
        self.path = Path(path)
        self.problem = problem
        self.sequence = sequence
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class SEEDataNote:
    """Something the SEE authors' own loader tolerates, accepted and named: ``path`` is where it was found,
    ``action`` what was found and what was done with it, ``sequence`` the sequence it concerns (if any)."""

    path: Path
    action: str
    sequence: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.action}"
