"""Export a local Hugging Face model directory to OpenVINO IR through optimum-intel."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..cache import cache_dir
from ..errors import CpuperfUsageError


def _fingerprint(directory: Path) -> str:
    digest = hashlib.sha256()
    for item in sorted(directory.iterdir()):
        if item.is_file():
            stat = item.stat()
            digest.update(f"{item.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def export_hf_directory(directory: Path) -> Path:
    """IR of ``directory`` (a saved transformers model), exported once and cached by content."""
    target = cache_dir() / "hf-export" / f"{directory.name}-{_fingerprint(directory)}"
    xml = target / "openvino_model.xml"
    if xml.exists():
        return xml
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CpuperfUsageError(f"{directory}/config.json is not readable JSON: {exc}") from exc
    architectures = config.get("architectures") or []
    try:
        from optimum.intel import OVModelForFeatureExtraction, OVModelForSequenceClassification
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CpuperfUsageError(
            "compiling a Hugging Face directory needs optimum-intel: "
            "pip install 'pytest-cpuperf[openvino]'") from exc
    cls = (OVModelForSequenceClassification
           if any(a.endswith("ForSequenceClassification") for a in architectures)
           else OVModelForFeatureExtraction)
    exported = cls.from_pretrained(str(directory), export=True, compile=False)
    _publish(exported, target)
    return xml


def _publish(exported: object, target: Path) -> None:
    """Save ``exported`` in a directory of this process's own, then rename it to ``target``
    (one rename: other processes see all of it or nothing); the private copy never stays."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", dir=target.parent))
    try:
        exported.save_pretrained(str(tmp))  # type: ignore[attr-defined]
        try:
            tmp.rename(target)  # replaces an empty leftover directory too
        except OSError:
            if not (target / "openvino_model.xml").exists():
                raise CpuperfUsageError(
                    f"the export cache {target} exists without openvino_model.xml; delete "
                    f"it (or set CPUPERF_CACHE_DIR) and run again") from None
            # another process published the same export first: keep theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
