"""Errors a user can act on.

Each carries what went wrong, where (file:line or config field) and how to fix it, and is
reported as a single line on stderr with a non-zero exit code, never as a traceback.
"""

from __future__ import annotations


class SparseError(Exception):
    """Base class: one line of `where: what; fix` for the user."""

    exit_code = 1

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text}; {self.fix}" if self.fix else text


class ConfigError(SparseError):
    """A config value is invalid (bad range, unknown option, inconsistent fields)."""

    exit_code = 2


class InputError(SparseError):
    """Input data is malformed, missing or inconsistent."""

    exit_code = 3


class UpstreamError(SparseError):
    """A referenced run directory is missing, incomplete or of the wrong kind."""

    exit_code = 3
