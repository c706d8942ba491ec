"""Where built and exported models are cached on disk."""

from __future__ import annotations

import os
from pathlib import Path

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
