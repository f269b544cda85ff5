"""The errors a user can cause, each with the exit status of ``tnas-er`` (docs/ARCHITECTURE.md, "Reliability").

Library code raises them and never prints or exits; ``tnas_plugin.jobs.cli.main`` is the one place that
turns one into a line on stderr (``tnas-er COMMAND: FILE: PROBLEM``) and its ``exit_code``.
"""
from __future__ import annotations


class TnasError(Exception):
    """A job that cannot go on, said in one line (exit status 1), e.g. a search in which no trial succeeded."""

    exit_code = 1


class InputError(TnasError):
    """A missing, unreadable, unwritable or invalid file or folder (exit status 1)."""


class MissingNetwork(InputError):
    """A file that does not hold the network asked of it (exit status 1)."""


class UsageError(TnasError):
    """A command line that cannot be run as given: an option out of range or at odds with the others (exit status 2)."""

    exit_code = 2
