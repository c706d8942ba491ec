#!/usr/bin/env python3
"""Install the README's recipe into a fresh venv and check that it holds a CPU torch.

    python tools/install_check.py [--constraints FILE] [--torch-index URL] [--no-cache]

Makes a venv in a temporary directory with the Python running this script, and runs in it

    pip install -c FILE torch==VERSION           (VERSION: the torch pin of FILE)
    pip install -c FILE "<this repository>[openvino]"

then checks inside the venv that ``torch.version.cuda`` is None and that no installed
distribution is a CUDA one (a name starting with ``nvidia-`` or ``cuda-``). Prints the venv's
size and the time taken. Exit status: 0 a CPU-only install, 1 a CUDA build or CUDA packages got
in, 2 a usage error or a step that failed (pip, the check inside the venv).

The repository is copied (without .git, .tox, venvs and build output) and installed from the
copy, so the check leaves the work tree as it was. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONSTRAINTS = REPO / "constraints" / "torch-2.13-cpu.txt"
EXTRAS = "openvino"
CUDA_PREFIXES = ("nvidia-", "cuda-")
NOT_COPIED = (".git", ".tox", ".venv*", "build", "dist", "*.egg-info", "__pycache__",
              "reports", ".benchmarks", ".pytest_cache", ".mypy_cache", ".ruff_cache")
PIP_LOG_TAIL = 30

PROBE = """
import importlib.metadata, json
import torch
names = sorted({(d.metadata["Name"] or "").lower() for d in importlib.metadata.distributions()})
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "names": names}))
"""


class CheckError(Exception):
    """A step that could not run; its message names the step and the fix."""


def torch_pin(constraints: Path) -> str:
    """The ``torch==VERSION`` line of ``constraints``."""
    try:
        text = constraints.read_text()
    except OSError as exc:
        raise CheckError(f"--constraints {constraints}: cannot read it ({exc.strerror}); pass "
                         f"a constraints file with a line torch==VERSION") from None
    for line in text.splitlines():
        found = re.fullmatch(r"\s*torch\s*==\s*([\w.+!-]+)\s*(#.*)?", line)
        if found:
            return f"torch=={found.group(1)}"
    raise CheckError(f"--constraints {constraints}: no line torch==VERSION in it; the check "
                     f"installs the torch that file pins")


def copy_source(target: Path) -> Path:
    """A copy of the repository without VCS data, venvs and build output."""
    shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(*NOT_COPIED))
    return target


def pip_install(python: Path, args: Sequence[str], log: Path, step: str) -> float:
    """Run ``python -m pip install ARGS``, its output appended to ``log``; seconds taken."""
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print(f"[install-check] {step}: pip install {' '.join(args)}", flush=True)
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-PIP_LOG_TAIL:])
        raise CheckError(f"{step}: pip exited {done.returncode} after {seconds:.0f} s; the "
                         f"last lines of its output:\n{tail}")
    return seconds


def probe(python: Path) -> dict[str, Any]:
    """What the venv holds: torch's version and CUDA, every distribution's name."""
    done = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise CheckError(f"importing torch in the new venv failed (exit {done.returncode}):\n"
                         f"{done.stderr.strip()}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def problems(found: dict[str, Any]) -> list[str]:
    """Why the venv is not a CPU-only install; empty when it is."""
    wrong = []
    if found["cuda"] is not None:
        wrong.append(f"torch {found['torch']} is a CUDA build (torch.version.cuda = "
                     f"{found['cuda']!r})")
    names = found["names"]
    cuda = [name for name in names if name.startswith(CUDA_PREFIXES)]
    if cuda:
        wrong.append(f"{len(cuda)} CUDA distribution(s) installed: {', '.join(cuda)}")
    return wrong


def size_bytes(root: Path) -> tuple[int, int]:
    """(bytes, files) of the regular files under ``root``; symlinks are not followed."""
    total = files = 0
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if not path.is_symlink():
                total += path.stat().st_size
                files += 1
    return total, files


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s"


def run_check(constraints: Path, torch_index: str | None, no_cache: bool) -> int:
    pin = torch_pin(constraints)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cpuperf-install-check-") as temp:
        root = Path(temp)
        env_dir = root / "venv"
        print(f"[install-check] a venv of {sys.executable} ({sys.version.split()[0]}) in "
              f"{env_dir}", flush=True)
        venv.create(env_dir, with_pip=True)
        python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
        source = copy_source(root / "src")
        common = ["-c", str(constraints)]
        if torch_index:
            common += ["--extra-index-url", torch_index]
        if no_cache:
            common.append("--no-cache-dir")
        log = root / "pip.log"
        torch_s = pip_install(python, [*common, pin], log, "step 1 of 2 (torch)")
        extras_s = pip_install(python, [*common, f"{source}[{EXTRAS}]"], log,
                               f"step 2 of 2 (pytest-cpuperf[{EXTRAS}])")
        found = probe(python)
        size, files = size_bytes(env_dir)
        took = time.monotonic() - started
        print(f"[install-check] torch {found['torch']}, torch.version.cuda = "
              f"{found['cuda']!r}, {len(found['names'])} distributions")
        print(f"[install-check] venv: {size / 1e6:,.0f} MB in {files:,} files; took "
              f"{minutes(took)} (torch {minutes(torch_s)}, pytest-cpuperf[{EXTRAS}] "
              f"{minutes(extras_s)}), pip cache {'off' if no_cache else 'on'}")
        wrong = problems(found)
    if wrong:
        print("install-check: FAILED: the recipe did not keep a CPU-only torch:\n  "
              + "\n  ".join(wrong) + f"\n  constraints: {constraints}; every pip call must "
              f"carry -c with that file (a pin in an earlier pip call does not hold)",
              file=sys.stderr)
        return 1
    print("install-check: OK: CPU torch, no CUDA packages")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=Path, default=DEFAULT_CONSTRAINTS,
                        help=f"constraints file with a torch==VERSION line (default "
                             f"{DEFAULT_CONSTRAINTS.relative_to(REPO)})")
    parser.add_argument("--torch-index", metavar="URL",
                        help="an extra index with CPU torch wheels for both pip calls, e.g. "
                             "https://download.pytorch.org/whl/cpu (default: none, pip's own "
                             "configuration)")
    parser.add_argument("--no-cache", action="store_true",
                        help="download everything (pip --no-cache-dir), as on a fresh machine")
    args = parser.parse_args(argv)
    try:
        return run_check(args.constraints.resolve(), args.torch_index, args.no_cache)
    except CheckError as exc:
        print(f"install-check: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
