"""Exit 0 when a report's metric has an expected verdict (comma separated), else 1 saying
what it was.

    python tools/expect_verdict.py reports/ab-slower-head.json regression \
        first/test_first.py::test_tiny_bert_throughput tiny_bert/throughput

The main job runs a known-slower head through ``cpuperf ab``: its regression verdict is
what the job expects, and anything else (a pass, an inconclusive) fails the job.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    report, expected, test_id, metric = argv
    try:
        results = json.loads(Path(report).read_text())["results"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"expect_verdict: cannot read {report}: {exc}", file=sys.stderr)
        return 1
    found = [r for r in results if r["test_id"].endswith(test_id) and r["metric"] == metric]
    if not found:
        print(f"expect_verdict: {report} has no {metric} of {test_id}", file=sys.stderr)
        return 1
    status = found[0]["status"]
    if status not in expected.split(","):
        print(f"expect_verdict: {metric} of {test_id} is {status!r}, expected {expected!r}: "
              f"{found[0]['message']}", file=sys.stderr)
        return 1
    print(f"expect_verdict: {metric} of {test_id} is {status}, as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
