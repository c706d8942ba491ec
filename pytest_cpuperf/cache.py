"""Where built and exported models are cached on disk, and how a build gets there: under a key
of everything it depends on, built in a staging directory and published by one rename."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_VAR = "CPUPERF_CACHE_DIR"


def cache_dir() -> Path:
    """``$CPUPERF_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-cpuperf``, else ``~/.cache/...``."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "pytest-cpuperf"
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_key(data: Mapping[str, Any]) -> str:
    """A short, stable hash of ``data`` (JSON with sorted keys): names a cached build."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def staging_dir(target: Path) -> Path:
    """A fresh directory of this process beside ``target``, to build into before
    :func:`publish`."""
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def publish(tmp: Path, target: Path) -> None:
    """Rename a finished build directory into place in one step; when another process got
    there first, keep theirs and drop this one."""
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
