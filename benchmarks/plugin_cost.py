"""The plugin's cost when off: ``python -m benchmarks.plugin_cost [--runs 21] [--budget-ms 50]``.

Times whole processes, ``python -m pytest -q`` on one trivial test, with the plugin (no
``--cpuperf``) and with ``-p no:cpuperf``, interleaved (the arm that goes first alternates),
after one untimed pair. Prints each arm's median, the difference of the medians and its 95%
bootstrap interval, and exits 1 when the median difference exceeds the budget (issue #25:
50 ms). The child processes import this checkout's package (its root goes first on
PYTHONPATH). What the plugin imports at start-up is checked by tests/test_startup_cost.py.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 50.0
RESAMPLES = 4000
TRIVIAL_TEST = "def test_one():\n    assert 1 + 1 == 2\n"


@dataclass(frozen=True)
class Cost:
    """The two arms' wall times (seconds) and what they say."""

    with_plugin: list[float]
    without_plugin: list[float]
    low_ms: float
    high_ms: float
    """The 95% bootstrap interval of the difference of the medians (ms)."""

    @property
    def difference_ms(self) -> float:
        return (statistics.median(self.with_plugin)
                - statistics.median(self.without_plugin)) * 1000

    def lines(self) -> list[str]:
        on, off = statistics.median(self.with_plugin), statistics.median(self.without_plugin)
        return [f"with the plugin:   median {on * 1000:.1f} ms of {len(self.with_plugin)} runs",
                f"-p no:cpuperf:     median {off * 1000:.1f} ms of {len(self.without_plugin)} runs",
                f"difference:        {self.difference_ms:+.1f} ms (95% bootstrap interval "
                f"{self.low_ms:+.1f} to {self.high_ms:+.1f} ms)"]


def write_suite(root: Path) -> Path:
    """One trivial test under a rootdir with its own (empty) ini file."""
    (root / "pytest.ini").write_text("[pytest]\n")
    test = root / "test_one.py"
    test.write_text(TRIVIAL_TEST)
    return test


def child_env() -> dict[str, str]:
    """The environment of the timed runs: no pytest options or plugins from outside, this
    checkout's package first on the path, and bytecode written and reused as an installed
    package has it (``PYTHONDONTWRITEBYTECODE`` would make every run compile every module)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                        "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def command(test: Path, plugin: bool, *extra: str) -> list[str]:
    """``python -m pytest -q`` on ``test``, with ``-p no:cpuperf`` unless ``plugin``."""
    disable = () if plugin else ("-p", "no:cpuperf")
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *disable, *extra,
            test.name]


def run_once(test: Path, plugin: bool, env: dict[str, str]) -> float:
    """Wall seconds of one whole ``pytest -q`` process on ``test``."""
    began = time.perf_counter()
    done = subprocess.run(command(test, plugin), cwd=test.parent, env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"pytest failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def check_arms(test: Path, env: dict[str, str]) -> None:
    """The plugin loads in the first arm and not in the second (else the A/B measures
    nothing): its marker is listed by ``--markers`` only with it."""
    for plugin in (True, False):
        done = subprocess.run(command(test, plugin, "--markers"), cwd=test.parent, env=env,
                              capture_output=True, text=True, check=False)
        listed = "@pytest.mark.cpuperf(" in done.stdout
        if done.returncode or listed != plugin:
            raise RuntimeError(f"the plugin is {'not ' if plugin else ''}loaded in the "
                               f"{'with' if plugin else 'without'} arm: "
                               f"{done.stdout[-1000:]}{done.stderr[-1000:]}")


def bootstrap_interval(a: Sequence[float], b: Sequence[float], resamples: int = RESAMPLES,
                       seed: int = 25) -> tuple[float, float]:
    """95% percentile-bootstrap interval of ``median(a) - median(b)``, each arm resampled on
    its own."""
    rng = random.Random(seed)
    diffs = sorted(statistics.median(rng.choices(a, k=len(a)))
                   - statistics.median(rng.choices(b, k=len(b))) for _ in range(resamples))
    return diffs[int(0.025 * (resamples - 1))], diffs[int(0.975 * (resamples - 1))]


def measure(runs: int) -> Cost:
    """``runs`` timed runs per arm, interleaved, after one untimed pair."""
    env = child_env()
    on: list[float] = []
    off: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cpuperf-plugin-cost-") as tmp:
        test = write_suite(Path(tmp))
        check_arms(test, env)
        run_once(test, True, env)
        run_once(test, False, env)
        for n in range(runs):
            for plugin in ((True, False) if n % 2 == 0 else (False, True)):
                (on if plugin else off).append(run_once(test, plugin, env))
    low, high = bootstrap_interval(on, off)
    return Cost(on, off, low * 1000, high * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plugin_cost",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21,
                        help="timed runs per arm (default: 21)")
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS,
                        help=f"largest median difference that passes (default: {BUDGET_MS:g})")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    load = os.getloadavg()[0]
    cost = measure(args.runs)
    for line in cost.lines():
        print(line)
    within = cost.difference_ms <= args.budget_ms
    print(f"{'within' if within else 'OVER'} the budget of {args.budget_ms:g} ms "
          f"(load average {load:.2f} before, {os.getloadavg()[0]:.2f} after)")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
