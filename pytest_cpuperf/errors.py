"""Exceptions the plugin raises for its users."""

from __future__ import annotations


class CpuperfUsageError(ValueError):
    """Bad input from the user: the message names the parameter and the fix."""


class BaselineFileError(RuntimeError):
    """A baseline or report file is corrupt, foreign or of a newer schema; it is left as is."""


class CliError(Exception):
    """A usage error or unreadable input of the ``cpuperf`` command: printed, exit status 2."""
