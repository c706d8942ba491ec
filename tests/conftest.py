"""Shared fixtures: tiny real models, built once per session and cached on disk."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

# pytester's in-process runs restore sys.modules afterwards; extension modules cannot be
# loaded twice, so the libraries the inner runs use are imported once here, up front.
import numpy  # noqa: F401
import pytest
import scipy.stats  # noqa: F401

import pytest_cpuperf.cache
import pytest_cpuperf.judge.evaluate
import pytest_cpuperf.report
import pytest_cpuperf.store.baselines

with contextlib.suppress(ImportError):  # without the openvino extra
    import openvino  # noqa: F401
with contextlib.suppress(ImportError):  # without the onnxruntime extra (onnx.checker broke
    import onnx.checker  # noqa: F401  # once an inner run imported it a second time)


@pytest.fixture(scope="session")
def tiny_int8_ir() -> Path:
    """Tiny BERT (2 layers, hidden 128), INT8, dense weights."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(), sparsity=0.0)


@pytest.fixture(scope="session")
def reference_ir() -> Path:
    """The same-run reference's IR (measure/reference.py, on by default), built here so that
    in-process pytester runs find it cached (building imports torch, which imports once)."""
    from pytest_cpuperf.measure.reference import reference_spec
    from pytest_cpuperf.models import build_ir

    return build_ir(reference_spec(), sparsity=0.0, int8=True)


# pytester points HOME at a temporary directory; its runs share this session's model cache
os.environ.setdefault("CPUPERF_CACHE_DIR", str(pytest_cpuperf.cache.cache_dir()))


@pytest.fixture(scope="session", autouse=True)
def _reference_built(request: pytest.FixtureRequest) -> None:
    """Every measurement runs with the same-run reference by default: load what building it
    needs, and build the OpenVINO one, once, up front (in-process pytester runs would load
    those libraries a second time)."""
    try:
        import torch  # noqa: F401

        # transformers loads its model modules lazily: load the BERT ones (the torch reference)
        from transformers import BertConfig, BertForSequenceClassification  # noqa: F401
    except ImportError:
        return
    try:
        import nncf  # noqa: F401
        import openvino  # noqa: F401
    except ImportError:  # the IPEX environment: torch references only
        return
    request.getfixturevalue("reference_ir")


@pytest.fixture(scope="session")
def tiny_sparse_int8_ir() -> Path:
    """Tiny BERT, 80% unstructured magnitude sparsity on encoder Linears, INT8."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(), sparsity=0.8)


@pytest.fixture(scope="session")
def slower_int8_ir() -> Path:
    """The tiny BERT with four times the layers: genuinely slower under the same test name.

    Four times the layers, not two: the slowdown then stays far beyond the CI of a 4-trial run
    even when one of its trials is disturbed, so the verdict is a regression, never
    inconclusive."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(layers=8), sparsity=0.0)


def find_console_script(name: str) -> str | None:
    """The console script ``name`` of the running interpreter's environment, else on PATH."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    return shutil.which(name)


@pytest.fixture(scope="session")
def console_script() -> Callable[[str], str]:
    """``console_script("pytest-benchmark")``: its path in this environment; skips if absent."""

    def find(name: str) -> str:
        path = find_console_script(name)
        if path is None:
            pytest.skip(f"console script {name!r} is not installed in this environment "
                        f"({sysconfig.get_path('scripts')}) nor on PATH")
        return path

    return find


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))  # Debian's postgresql package
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user() -> list[str]:
    """initdb refuses to run as root: run the server's binaries as the ``postgres`` user."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    return [runuser, "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Callable[[str], str]]:
    """A real PostgreSQL server in a temporary directory; yields ``new_database(name) -> URL``."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="cpuperf-pg-"))
    data = root / "data"
    if prefix:
        shutil.chown(root, user="postgres")
    port = _free_port()
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "cpuperf",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=100"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                    "-l", str(root / "server.log"), "start"], check=True, capture_output=True)

    def new_database(name: str) -> str:
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                        "cpuperf", name], check=True, capture_output=True)
        return f"postgresql://cpuperf@127.0.0.1:{port}/{name}"

    try:
        yield new_database
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``new_url(name)``: the URL of a fresh, empty database on a real server of each kind."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.db"
    pytest.importorskip("psycopg", reason="the history extra is not installed")
    server: Callable[[str], str] = request.getfixturevalue("postgres_server")
    return lambda name: server(f"{re.sub(r'[^a-z0-9_]', '_', name.lower())[:40]}_"
                               f"{uuid.uuid4().hex[:8]}")
