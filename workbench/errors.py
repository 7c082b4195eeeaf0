"""Errors that reach users as one clear line (never a bare traceback)."""

from __future__ import annotations


class WorkbenchError(Exception):
    """An error whose first line is meant for the user.

    `where` names the file, line, field or plugin at fault; it is printed first.
    """

    def __init__(self, message: str, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        head = f"{self.where}: {self.message}" if self.where else self.message
        return head

    def full(self) -> str:
        return self.one_line() + (f"\n  hint: {self.hint}" if self.hint else "")


class ConfigError(WorkbenchError):
    """A job config that cannot run as written."""


class PluginError(WorkbenchError):
    """A plugin that is missing, broken or in conflict with another."""


class DataError(WorkbenchError):
    """Training data that cannot be read or does not fit the trainer."""


class RunError(WorkbenchError):
    """A run directory that is missing, unreadable or in the wrong state."""
