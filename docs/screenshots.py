"""Regenerate the report screenshots in docs/img/ from a real pytest-cpuperf run.

    python docs/screenshots.py            # needs Debian's `chromium` (apt-get install chromium)

Runs a small demo suite twice in a temporary directory (``--cpuperf-update``, then a gate run
in which one model lost its sparse kernels), writes the HTML and Markdown reports, and takes
screenshots of the HTML report at 1400 and 400 px. The demo records its figures with
``cpuperf.record`` so it needs no model and runs in seconds; the reports are the plugin's own.
Then it fills a seeded history (two machine classes, 2% noise, a known slowdown on each) and
screenshots ``cpuperf history report`` (docs/img/history-trend.png; needs the ``history`` and
``detect`` extras).
tests/test_report_browser.py uses the same functions to check the layout in headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from html import unescape
from pathlib import Path
from typing import Any

DEMO_TESTS = '''
import os

import pytest

AFTER = os.environ.get("CPUPERF_DEMO_PHASE") == "after"
CONFIG = {"NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "THROUGHPUT",
          "INFERENCE_PRECISION_HINT": "f32"}
MODELS = {  # throughput before and after, samples/s
    "bert-base-seq64-int8-dense-streams2": (106.0, 106.5),
    "bert-base-seq64-int8-sparse75-streams2": (144.0, 104.0),
    "bert-base-seq128-int8-dense-streams2": (52.0, 51.6),
    "bert-base-seq128-int8-sparse75-streams2": (70.0, 69.4),
    "distilbert-seq64-int8-dense-streams2": (210.0, 212.0),
}


def trials(centre, seed):
    return [centre * (1 + 0.012 * (((i * 7 + seed) % 5) - 2)) for i in range(6)]


def kernels(model):
    sparse = "sparse" in model and not (AFTER and "bert-base-seq64" in model)
    exec_type = "brgemm_avx512_amx_sparse_I8" if sparse else "brgemm_avx512_amx_I8"
    return {"exec_types": {exec_type: 56}, "matmul_layers": 56,
            "sparse_layers": 56 if sparse else 0, "amx_layers": 56, "dominant_isa": "amx"}


@pytest.mark.cpuperf
@pytest.mark.parametrize("model", sorted(MODELS))
def test_bert_throughput(cpuperf, model):
    before, after = MODELS[model]
    centre = after if AFTER else before
    versions = {"openvino": "2026.4.0" if AFTER else "2026.3.0", "nncf": "2.19.0"}
    cpuperf.record("throughput", centre, kind="throughput", unit="samples/s",
                   samples=trials(centre, len(model)), config=CONFIG, versions=versions,
                   kernels=kernels(model))
    cpuperf.record("latency_p90_ms", 1000 * 2 / centre * 1.1, kind="latency", unit="ms",
                   higher_is_better=False, versions=versions)


@pytest.mark.cpuperf
def test_sst2_accuracy(cpuperf):
    cpuperf.record("accuracy", 0.9106 if AFTER else 0.9117, kind="accuracy",
                   versions={"openvino": "2026.4.0" if AFTER else "2026.3.0"})
'''


def run_demo(workdir: Path) -> dict[str, Path]:
    """Record baselines, then gate a run with a regression; the reports' paths by format."""
    (workdir / "test_bert_demo.py").write_text(DEMO_TESTS)
    (workdir / "pytest.ini").write_text("[pytest]\n")
    reports = {ext: workdir / "reports" / f"cpuperf.{ext}" for ext in ("html", "md", "json")}
    for phase in ("before", "after"):
        args = ["--cpuperf-update"] if phase == "before" else [
            arg for path in reports.values() for arg in ("--cpuperf-report", str(path))]
        env = {**os.environ, "CPUPERF_DEMO_PHASE": phase}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--cpuperf", *args], cwd=workdir, env=env, check=False,
                       capture_output=True, text=True, timeout=600)
    missing = [str(p) for p in reports.values() if not p.exists()]
    if missing:
        raise RuntimeError(f"the demo run wrote no report {', '.join(missing)}")
    return reports


def chromium() -> str | None:
    """Debian's ``chromium`` (or another Chromium/Chrome on PATH), None when absent."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    browser = chromium()
    if browser is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True,
                          timeout=120, check=False)


PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="report" width="{width}" height="{height}" style="border:0;display:block"
 srcdoc="{srcdoc}"></iframe>
<script>
document.getElementById("report").addEventListener("load", (event) => {{
  const win = event.target.contentWindow, doc = win.document, root = doc.documentElement;
  const verdict = doc.getElementById("verdict"), first = doc.querySelector(".fail, .warn");
  const probe = {{scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
                 innerHeight: win.innerHeight,
                 verdictBottom: verdict ? verdict.getBoundingClientRect().bottom : null,
                 firstIssueBottom: first ? first.getBoundingClientRect().bottom : null,
                 firstIssueText: first ? first.textContent : null}};
  const out = document.createElement("pre");
  out.id = "layout-probe";
  out.textContent = JSON.stringify(probe);
  document.body.appendChild(out);
}});
</script></body></html>"""


def layout(html: Path, width: int, height: int, profile: Path) -> dict[str, Any]:
    """How the report lays out in a ``width`` x ``height`` viewport (an iframe, since headless
    windows are at least 500 px wide): the page's scroll and client widths, and where the
    verdict and the first failure end, in px from the top."""
    from html import escape

    probe = html.with_name(html.stem + f".probe{width}.html")
    probe.write_text(PROBE.format(width=width, height=height,
                                  srcdoc=escape(html.read_text(), quote=True)))
    proc = _chromium(["--dump-dom", f"--window-size={max(width, 1400) + 20},{height + 100}",
                      probe.as_uri()], profile)
    start = proc.stdout.find('id="layout-probe">')
    if start < 0:
        raise RuntimeError(f"chromium printed no layout probe: {proc.stderr[-2000:]}")
    text = proc.stdout[start + len('id="layout-probe">'):].split("</pre>", 1)[0]
    data: dict[str, Any] = json.loads(unescape(text))
    return data


def screenshot(html: Path, png: Path, width: int, height: int, profile: Path) -> None:
    """A PNG of the first ``height`` px of the report in a ``width`` px wide window."""
    png.parent.mkdir(parents=True, exist_ok=True)
    proc = _chromium([f"--screenshot={png}", f"--window-size={width},{height}", html.as_uri()],
                     profile)
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot: {proc.stderr[-2000:]}")


HISTORY_SERIES = {  # test id -> machine -> (runs, index of the change, relative change)
    "tests/test_bert.py::test_sparse": {"xeon-sapphire-rapids-amx": (80, 50, -0.28),
                                        "epyc-zen4-avx512": (80, 10**6, 0.0)},
    "tests/test_bert.py::test_dense": {"xeon-sapphire-rapids-amx": (80, 10**6, 0.0),
                                       "epyc-zen4-avx512": (80, 30, -0.05)},
}
HISTORY_LEVEL = {"xeon-sapphire-rapids-amx": 144.0, "epyc-zen4-avx512": 64.0}


def fill_history(url: str, seed: int = 15) -> None:
    """A seeded history: every machine class runs every test on each of 80 commits."""
    import random

    from pytest_cpuperf.history.context import RunContext
    from pytest_cpuperf.history.store import HistoryRun, HistoryStore
    from pytest_cpuperf.records.results import MetricRecord, MetricResult, RunReport
    from pytest_cpuperf.status import Status

    rng = random.Random(seed)
    store = HistoryStore.open(url)
    for machine, level in HISTORY_LEVEL.items():
        for run in range(80):
            results = []
            for test_id, machines in HISTORY_SERIES.items():
                _, at, change = machines[machine]
                centre = level * (1.3 if "sparse" in test_id and "xeon" in machine else 1.0)
                value = centre * (1 + change if run >= at else 1) * (1 + 0.02 * rng.gauss(0, 1))
                record = MetricRecord(test_id, "throughput", "throughput", "samples/s", value,
                                      [value * (1 + 0.01 * rng.gauss(0, 1)) for _ in range(5)])
                results.append(MetricResult(record, Status.PASS, ""))
            created = f"2026-10-{1 + run // 24:02d}T{run % 24:02d}:00:00+00:00"
            report = RunReport(machine={"key": machine}, results=results, created=created)
            commit = f"{rng.getrandbits(160):040x}"
            store.append(HistoryRun.from_report(report, RunContext(
                f"{machine}-{run}", commit, "main", None), {"tolerance": 0.05}))
    store.close()


def history_report(workdir: Path) -> Path:
    """``cpuperf history report`` of a seeded history, through the real command."""
    db, html = workdir / "history.db", workdir / "trend.html"
    fill_history(f"sqlite:///{db}")
    subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "history", "report", str(html),
                    "--history", f"sqlite:///{db}"], check=True, capture_output=True, text=True,
                   timeout=300)
    return html


def main() -> int:
    out = Path(__file__).resolve().parent / "img"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reports = run_demo(work)
        for width, height in ((1400, 1000), (400, 1000)):
            png = out / f"report-{width}.png"
            screenshot(reports["html"], png, width, height, work / "profile")
            print(f"wrote {png}")
        shutil.copy(reports["md"], out / "report-example.md")
        print(f"wrote {out / 'report-example.md'}")
        png = out / "history-trend.png"
        screenshot(history_report(work), png, 860, 770, work / "profile")
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
