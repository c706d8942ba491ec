"""Installed versions of the libraries a figure depends on, from package metadata only."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None (never imports it)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def installed_versions(names: Iterable[str]) -> dict[str, str]:
    """``{name: version}`` of those of ``names`` that are installed."""
    found = {name: package_version(name) for name in names}
    return {name: v for name, v in found.items() if v is not None}
