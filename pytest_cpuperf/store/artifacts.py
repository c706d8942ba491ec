"""The artifact store: model files of measured baselines, kept by content.

An entry is ``<dir>/<sha256>/`` holding the artifact's files under their own names and a
``recipe.json`` (its :class:`~..records.artifact.Fingerprint`: backend, compile recipe, file
hashes, runtime). A writer fills a temporary folder beside it and publishes it by one rename,
so an entry is complete or absent; an existing entry is kept as it is. The default directory is
``artifacts/`` in the model cache (``$CPUPERF_CACHE_DIR``); ``--cpuperf-artifacts`` names
another (a persistent runner path, a CI cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import cache_dir
from ..records.artifact import Fingerprint

RECIPE = "recipe.json"
_CHUNK = 1 << 20


def default_artifact_dir() -> Path:
    """``artifacts/`` in the plugin's model cache."""
    return cache_dir() / "artifacts"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_sha256(files: Mapping[str, str]) -> str:
    """The artifact's hash: sha256 over ``name:sha256`` lines of its files, in name order
    (the IR's ``.bin`` is named by its ``.xml``, so the names belong to the artifact)."""
    text = "".join(f"{name}:{files[name]}\n" for name in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(files: Sequence[Path], backend: str, recipe: Mapping[str, Any],
                runtime: Mapping[str, str]) -> Fingerprint:
    """The fingerprint of ``files`` (the model file first) compiled by ``backend`` with
    ``recipe``."""
    hashes = {path.name: file_sha256(path) for path in files}
    return Fingerprint(sha256=artifact_sha256(hashes), backend=backend, model=files[0].name,
                       recipe=dict(recipe), files=hashes, runtime=dict(runtime))


@dataclass(frozen=True)
class ArtifactStore:
    """A content-addressed folder of artifacts."""

    root: Path

    def entry(self, digest: str) -> Path:
        return self.root / digest

    def find(self, artifact: Fingerprint) -> Path | None:
        """The complete entry of ``artifact`` (its recipe and every file of the right hash),
        or None."""
        entry = self.entry(artifact.sha256)
        if not (entry / RECIPE).is_file():
            return None
        for name, digest in artifact.files.items():
            path = entry / name
            if not path.is_file() or file_sha256(path) != digest:
                return None
        return entry

    def put(self, artifact: Fingerprint, files: Sequence[Path]) -> Path:
        """Keep ``files`` (those ``artifact`` fingerprints) as its entry; an existing entry is
        kept. ``OSError`` when the store cannot be written (nothing half-written is left)."""
        entry = self.entry(artifact.sha256)
        if (entry / RECIPE).is_file():
            return entry
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{artifact.short}.tmp", dir=self.root))
        try:
            os.chmod(staging, 0o755)  # as a plain folder, not mkdtemp's private one
            for path in files:
                shutil.copyfile(path, staging / path.name)
            (staging / RECIPE).write_text(json.dumps(artifact.to_dict(), indent=2) + "\n")
            for path in staging.iterdir():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
            try:
                os.rename(staging, entry)
            except OSError:
                if not (entry / RECIPE).is_file():  # not another writer's finished entry
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return entry
