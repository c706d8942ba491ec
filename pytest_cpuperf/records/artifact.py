"""What a throughput baseline measured: the fingerprint of its model artifact.

An artifact is the model files a file backend compiled (an OpenVINO IR's ``.xml`` and ``.bin``,
an ONNX file), the compile recipe (the backend and the fixture keywords that compile it again)
and the runtime versions it ran on. A baseline that keeps it can be measured again beside a
changed model in the same moment (``same-moment``); one without it is judged on its stored
figure (``stored``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SAME_MOMENT = "same-moment"
"""Verdict basis: the candidate/baseline ratio of an interleaved run of both artifacts."""
STORED = "stored"
"""Verdict basis: the stored absolute figure."""
AGAINST = (SAME_MOMENT, STORED)
SAME_MOMENT_KEY = "same_moment"
"""Key of a throughput record's ``extra``: the baseline artifact's interleaved measurement."""
STORED_WHY_KEY = "stored_why"
"""Key of a throughput record's ``extra``: why no same-moment measurement ran."""
SHORT = 6
"""Characters of an artifact hash shown in messages and reports."""


def short(digest: str) -> str:
    """The first :data:`SHORT` characters of a sha256 (``"?"`` when unknown)."""
    return digest[:SHORT] if digest else "?"


@dataclass(frozen=True)
class Fingerprint:
    """One measured artifact: its files' hash, how it was compiled, what ran it."""

    sha256: str
    """sha256 over the files' own sha256s, in file-name order (names the store entry)."""
    backend: str
    model: str = ""
    """The file the backend reads (an IR's ``.xml``, an ONNX file): one of :attr:`files`."""
    recipe: dict[str, Any] = field(default_factory=dict)
    """The fixture keywords that compile the files again as they were compiled."""
    files: dict[str, str] = field(default_factory=dict)
    """File name -> its sha256."""
    runtime: dict[str, str] = field(default_factory=dict)
    """The runtime's versions (``{"openvino": "2025.1.0"}``)."""

    @property
    def short(self) -> str:
        return short(self.sha256)

    def same_build(self, other: Fingerprint) -> bool:
        """Whether ``other`` is these files compiled the same way (runtime aside)."""
        return (self.sha256, self.backend, self.recipe) == \
            (other.sha256, other.backend, other.recipe)

    def runtime_changes(self, old: Fingerprint) -> str:
        """``openvino 2024.6.0 -> 2025.1.0`` for each runtime version ``old`` differs in."""
        return ", ".join(f"{k} {old.runtime.get(k, '?')} -> {v}"
                         for k, v in sorted(self.runtime.items()) if old.runtime.get(k) != v)

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "backend": self.backend, "model": self.model,
                "recipe": {k: self.recipe[k] for k in sorted(self.recipe)},
                "files": dict(sorted(self.files.items())),
                "runtime": dict(sorted(self.runtime.items()))}

    @classmethod
    def from_dict(cls, data: Any, where: str = "artifact") -> Fingerprint:
        """Read a stored fingerprint; a ``ValueError`` names ``where`` and the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object, got {data!r:.200}")
        digest, backend, model = data.get("sha256"), data.get("backend"), data.get("model", "")
        if not isinstance(digest, str) or len(digest) != 64 or \
                any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{where}: field 'sha256' must be 64 lower-case hex digits, got "
                             f"{digest!r:.80}")
        if not isinstance(backend, str) or not backend:
            raise ValueError(f"{where}: field 'backend' must be a backend name, got "
                             f"{backend!r:.80}")
        if not isinstance(model, str):
            raise ValueError(f"{where}: field 'model' must be a file name, got {model!r:.80}")
        parts: dict[str, dict[str, Any]] = {}
        for key in ("recipe", "files", "runtime"):
            value = data.get(key) or {}
            if not isinstance(value, Mapping) or (key != "recipe" and not all(
                    isinstance(v, str) for v in value.values())):
                raise ValueError(f"{where}: field {key!r} must be an object"
                                 + ("" if key == "recipe" else " of strings")
                                 + f", got {value!r:.200}")
            parts[key] = dict(value)
        return cls(sha256=digest, backend=backend, model=model, recipe=parts["recipe"],
                   files=parts["files"], runtime=parts["runtime"])


def read_fingerprint(data: Mapping[str, Any], where: str) -> Fingerprint | None:
    """The ``artifact`` of a stored object, checked; None when absent (older files)."""
    if data.get("artifact") is None:
        return None
    return Fingerprint.from_dict(data["artifact"], f"{where} artifact")
