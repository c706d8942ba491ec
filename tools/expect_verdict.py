"""Exit 0 when a report's metric has an expected verdict (comma separated), else 1 saying
what it was; with ``--against BASIS`` the verdict must also have been reached on that basis
(``same-moment`` or ``stored``).

    python tools/expect_verdict.py reports/ab-slower-head.json regression \
        first/test_first.py::test_tiny_bert_throughput tiny_bert/throughput
    python tools/expect_verdict.py --against same-moment reports/same-moment.json regression \
        first/test_first.py::test_tiny_bert_throughput tiny_bert/throughput

The main job runs known-slower models through ``cpuperf ab`` and through a stored baseline
re-measured beside them: a regression is what the job expects, and anything else (a pass,
an inconclusive, a verdict on the stored figure) fails the job.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    against = None
    if argv[:1] == ["--against"] and len(argv) > 1:
        against, argv = argv[1], argv[2:]
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
    if against is not None and found[0].get("against") != against:
        print(f"expect_verdict: {metric} of {test_id} was judged against "
              f"{found[0].get('against')!r}, expected {against!r}: {found[0]['message']}",
              file=sys.stderr)
        return 1
    print(f"expect_verdict: {metric} of {test_id} is {status}"
          f"{f' ({against})' if against else ''}, as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
