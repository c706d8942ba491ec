"""OpenVINO's usage telemetry, off in the plugin's process unless the user chose it.

``import openvino`` sends a usage event (a DNS lookup and an HTTPS request to Google Analytics)
through the ``openvino-telemetry`` package unless the user opted out with OpenVINO's documented
``opt_in_out --opt_out``; CI runners often forbid that egress. Every OpenVINO component (the
converter, NNCF) falls back to its own no-op stub when that package cannot be imported, so the
plugin makes it unimportable in its own process: nothing is written to the user's home and
nothing changes outside this process.

The user's explicit choice wins: ``CPUPERF_OPENVINO_TELEMETRY=1`` (or an ``opt_in_out --opt_in``
consent file) leaves the telemetry as OpenVINO configures it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "CPUPERF_OPENVINO_TELEMETRY"
PACKAGE = "openvino_telemetry"


def consent_file() -> Path:
    """Where ``opt_in_out`` stores the user's decision (``1`` in, ``0`` out) on Linux/macOS."""
    return Path.home() / "intel" / "openvino_telemetry"


def user_opted_in() -> bool:
    """Whether the user asked for OpenVINO telemetry (our variable, or OpenVINO's consent)."""
    choice = os.environ.get(ENV_VAR, "").strip().lower()
    if choice:
        return choice in ("1", "true", "yes", "on")
    try:
        return consent_file().read_text(encoding="utf-8").strip() == "1"
    except (OSError, UnicodeDecodeError, RuntimeError):  # RuntimeError: no home directory
        return False


def disable_openvino_telemetry() -> bool:
    """Make ``openvino_telemetry`` unimportable here, so OpenVINO uses its no-op stub.

    Returns whether it is off. Does nothing when the user opted in or the package was already
    imported (then it is too late, and not ours to undo)."""
    if user_opted_in():
        return False
    if sys.modules.get(PACKAGE, None) is not None:
        return False
    sys.modules[PACKAGE] = None  # type: ignore[assignment]  # import raises ImportError
    return True
