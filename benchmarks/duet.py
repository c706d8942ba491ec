"""Duet against turns: which way of running two worker processes gives the narrower ratio per
second of CI time on this machine.

Each run starts a fresh pair of worker processes (base and head, the head optionally a deeper
model), measures them for ``--seconds`` of wall time in one layout, and keeps the run's ratio
(head / base, the geometric mean over its rounds). A layout is ``KIND:SECONDS``:

- ``turns``: the two take turns of SECONDS on the whole machine (A-B, B-A, ...), each compiled
  as a test compiles it (the plugin's default options); ``turns:1`` is ``cpuperf ab``'s;
- ``duet``: both run at the same time, each pinned to its own half of the cores and compiled
  for that half (streams 1, threads = half the cores, OpenVINO's own pinning off), swapping
  halves every round of SECONDS so that a faster core cancels;
- ``alone``: compiled and pinned as in a duet, but taking turns, the other half idle: whatever
  separates ``alone`` from ``turns`` is the half-machine configuration, whatever separates it
  from ``duet`` is the neighbour on the other half;
- ``pinned``: both at the same time, each process started pinned to its own half and compiled
  by the plugin's defaults (which size themselves to the process's CPUs), never moved; the
  halves swap run by run (``cpuperf ab --mode duet`` swaps them pair by pair). SECONDS is the
  length of a round. Base is started, compiled and warmed up first, then head;
- ``together``: as ``pinned``, but both processes are started, compiled and warmed up at the
  same time, so neither goes first.

The layouts take turns run by run. A fresh pair per run keeps each process's own offset in the
run-to-run sd, as in ``cpuperf ab``. The sd of the runs' log ratios is what a verdict's error
really is; ``sd x sqrt(wall seconds)`` puts the layouts on one scale per second of measurement.
``--hog`` keeps a busy loop on one core throughout (:func:`benchmarks.noisy.hogs`).

    python -m benchmarks.duet --runs 12 --seconds 8
    python -m benchmarks.duet --runs 8 --head-layers 3 --layouts turns:1,duet:0.25 --hog
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, cpu_line, load, rounded, save_series, say
from .noisy import hogs

KINDS = ("turns", "duet", "alone", "pinned", "together")


def parse_layouts(text: str) -> list[tuple[str, float]]:
    """``turns:1,duet:0.25`` -> [("turns", 1.0), ("duet", 0.25)]; exits naming the option."""
    layouts = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, turn = item.partition(":")
        try:
            seconds = float(turn)
        except ValueError:
            seconds = -1.0
        if kind not in KINDS or not seconds > 0:
            raise SystemExit(f"--layouts: {item!r} is not KIND:SECONDS with KIND one of "
                             f"{', '.join(KINDS)} (e.g. turns:1,duet:0.25)")
        layouts.append((kind, seconds))
    if not layouts:
        raise SystemExit("--layouts: name at least one, e.g. turns:1,duet:0.25")
    return layouts


def pin_process(cpus: list[int]) -> None:
    """Pin every thread of this process to ``cpus`` (a thread's affinity is its own on Linux)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, OSError):  # a thread that ended meanwhile
            continue


def serve(ir: str, half: bool) -> None:
    """Worker: compile ``ir``, then for each ``{"cpus": [...], "seconds": s}`` line on stdin run
    the request queue pinned to ``cpus`` for ``s`` seconds, draining at the end, and print the
    rate (samples/s over the whole turn, drain included)."""
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    cores = sorted(os.sched_getaffinity(0))
    options = (check_options(streams=1, threads=max(1, len(cores) // 2),
                             config={"ENABLE_CPU_PINNING": "NO"}) if half else check_options())
    compiled = compile_model(ir, options)
    target = compiled.timing_target(compiled.example_inputs())
    queue, done = target.queue, [0]
    queue.set_callback(lambda _request, _data: done.__setitem__(0, done[0] + 1))

    def turn(seconds: float) -> float:
        done[0] = 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            queue.start_async()
        queue.wait_all()
        return done[0] * target.batch_size / (time.perf_counter() - began)

    turn(1.0)  # warm-up
    print(json.dumps({"ready": True, "requests": len(queue)}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["cpus"] is not None:
            pin_process(command["cpus"])
        rate = turn(float(command["seconds"]))
        print(json.dumps({"rate": rate, "cpus": sorted(os.sched_getaffinity(0))}), flush=True)


class Worker:
    def __init__(self, ir: Path, half: bool, cpus: list[int] | None = None,
                 wait: bool = True) -> None:
        """``cpus``: start the process pinned to them (its compile sizes itself to them);
        ``wait``: until it is ready (else call :meth:`reply` for that)."""
        self.process = subprocess.Popen(
            [PYTHON, "-m", "benchmarks.duet", "--serve", str(ir)] + (["--half"] if half else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parent.parent,
            preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus))
        if wait:
            self.reply()

    def send(self, cpus: list[int] | None, seconds: float) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cpus": cpus, "seconds": seconds}) + "\n")
        self.process.stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a duet worker exited with {self.process.wait()}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def one_run(kind: str, base_ir: Path, head_ir: Path, seconds: float,
            turn: float, swap: bool = False) -> dict[str, Any]:
    """One run: fresh workers, ``seconds`` of measurement; the round ratios and their mean.
    ``swap``: with ``pinned``, base starts on the second half."""
    cores = sorted(os.sched_getaffinity(0))
    half = len(cores) // 2
    halves = (cores[:half], cores[half:2 * half])
    duet = kind in ("duet", "pinned", "together")
    if kind in ("pinned", "together"):
        at_once = kind == "together"
        base = Worker(base_ir, False, list(halves[swap]), wait=not at_once)
        head = Worker(head_ir, False, list(halves[not swap]), wait=not at_once)
        if at_once:
            base.reply()
            head.reply()
    else:
        base, head = Worker(base_ir, kind != "turns"), Worker(head_ir, kind != "turns")
    logs: list[float] = []
    seen: list[dict[str, list[int]]] = []
    began = time.perf_counter()
    try:
        while time.perf_counter() - began < seconds:
            flip = len(logs) % 2 == 1
            if duet:
                moved = kind == "duet"  # pinned and together stay where they started
                base.send(list(halves[flip]) if moved else None, turn)
                head.send(list(halves[not flip]) if moved else None, turn)
                replies = {"base": base.reply(), "head": head.reply()}
            else:
                replies = {}
                where = cores if kind == "turns" else list(halves[flip])
                for name, worker in ((("head", head), ("base", base)) if flip else
                                     (("base", base), ("head", head))):
                    worker.send(where, turn)
                    replies[name] = worker.reply()
            rates = {name: reply["rate"] for name, reply in replies.items()}
            if len(seen) < 2:
                seen.append({name: reply["cpus"] for name, reply in replies.items()})
            logs.append(math.log(rates["head"] / rates["base"]))
    finally:
        base.close()
        head.close()
    wall = time.perf_counter() - began
    pairs = [(logs[i] + logs[i + 1]) / 2 for i in range(0, len(logs) - 1, 2)]
    return {"layout": f"{kind}:{turn:g}", "log_ratio": statistics.fmean(logs),
            "rounds": len(logs), "wall_s": wall,
            "round_sd": statistics.stdev(logs) if len(logs) > 1 else None,
            "pair_sd": statistics.stdev(pairs) if len(pairs) > 1 else None, "load": load(),
            "cpus": seen}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One layout's runs: pooled ratio, the sd of the run ratios (logs) and that sd scaled to
    one second of measurement by the runs' median wall time."""
    logs = [r["log_ratio"] for r in rows]
    sd = statistics.stdev(logs) if len(logs) > 1 else float("nan")
    wall = statistics.median(r["wall_s"] for r in rows)
    return {"runs": len(rows), "ratio": rounded(math.exp(statistics.fmean(logs))),
            "run_sd": rounded(sd), "sd_x_sqrt_s": rounded(sd * math.sqrt(wall)),
            "rounds": statistics.median(r["rounds"] for r in rows),
            "round_sd": rounded(statistics.median(r["round_sd"] for r in rows if r["round_sd"])),
            "wall_s": rounded(wall, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", metavar="IR", help=argparse.SUPPRESS)
    parser.add_argument("--half", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=20, help="runs per layout (default 20)")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="seconds of measurement per run (default 8)")
    parser.add_argument("--layouts", default="turns:1,turns:0.25,duet:1,duet:0.25",
                        help="KIND:SECONDS per turn or duet round, comma-separated (default "
                             "turns:1,turns:0.25,duet:1,duet:0.25; turns:1 is cpuperf ab's)")
    parser.add_argument("--layers", type=int, help="base model's layers (default: 2 tiny, 12 base)")
    parser.add_argument("--head-layers", type=int, help="head model's layers (default: A/A)")
    parser.add_argument("--base-model", action="store_true",
                        help="bert-base sizes (12 layers unless --layers) instead of tiny")
    parser.add_argument("--hog", action="store_true", help="a busy loop on one core")
    parser.add_argument("--name", default="duet", help="results/<name>.json and .md")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.half)
        return 0
    layouts = parse_layouts(args.layouts)
    if len(os.sched_getaffinity(0)) < 2:
        parser.error("duet needs at least 2 cores (one per side)")

    from pytest_cpuperf.models import BertSpec, build_ir

    make = BertSpec.bert_base if args.base_model else BertSpec.tiny
    base_spec = make(layers=args.layers) if args.layers else make()
    base_ir = build_ir(base_spec, progress=say)
    head_ir = (build_ir(make(layers=args.head_layers), progress=say)
               if args.head_layers else base_ir)
    rows: list[dict[str, Any]] = []
    meta = {"cpu": cpu_line(), "seconds": args.seconds,
            "layers": base_spec.layers, "head_layers": args.head_layers or base_spec.layers,
            "hidden": base_spec.hidden, "hog": args.hog}
    with hogs(1 if args.hog else 0, delay_s=0):
        for run_no in range(args.runs):
            shift = run_no % len(layouts)
            for kind, turn in layouts[shift:] + layouts[:shift]:
                row = one_run(kind, base_ir, head_ir, args.seconds, turn, run_no % 2 == 1)
                rows.append(row)
                say(f"run {run_no + 1}/{args.runs} {row['layout']}: "
                    f"x{math.exp(row['log_ratio']):.4f} "
                    f"({row['rounds']} rounds, round sd {row['round_sd']:.3f})")
            names = list(dict.fromkeys(r["layout"] for r in rows))
            table = {name: summary([r for r in rows if r["layout"] == name])
                     for name in names}
            text = "\n".join([f"# {args.name}: {json.dumps(meta)}", "",
                              "| layout | runs | ratio | run sd | sd x sqrt(s) | rounds | "
                              "round sd | wall s |", "|---|---|---|---|---|---|---|---|"] +
                             [f"| {k} | " + " | ".join(str(v) for v in row.values()) + " |"
                              for k, row in table.items()])
            save_series(args.name, {"meta": meta, "layouts": table}, rows, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
