"""Check the off-IPEX A/B report: both sides ran, and its verdicts name both serving paths.

    python tools/check_off_ipex.py reports/ab-off-ipex.json .tox/ipex-examples/bin/python

Exit 0 when the report holds ``serving/throughput`` and ``agreement/top1_agreement`` of
``migration/test_off_ipex.py``, each judged head against base, with base's model an IPEX one
(``ipex-...``) and head's stock ``torch.compile`` (``torch-compile-...``), as the verdicts'
``models: base ..., head ...`` note says. The verdicts themselves are not checked: the true
head/base ratio of the move is unknown. Exit 0 with a notice when the IPEX environment (the
second argument) does not exist: there was no base side to run. Exit 1 otherwise, saying what
is missing.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

TEST_FILE = "migration/test_off_ipex.py"
METRICS = ("serving/throughput", "agreement/top1_agreement")
VERDICTS = ("pass", "regression", "improvement", "inconclusive")
MODELS = re.compile(r"models: base (?P<base>\S+), head (?P<head>\S+?)(?:;|$|\s)")
PATHS = {"base": "ipex-", "head": "torch-compile-"}


def problems(results: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(what is wrong, what was found) over the report's results of :data:`METRICS`."""
    wrong: list[str] = []
    found: list[str] = []
    for metric in METRICS:
        rows = [r for r in results if TEST_FILE in r["test_id"] and r["metric"] == metric]
        if not rows:
            wrong.append(f"no {metric} of {TEST_FILE}")
        for row in rows:
            where = f"{metric} of {row['test_id']}"
            if row["status"] not in VERDICTS:
                wrong.append(f"{where} is {row['status']!r}, not a verdict: {row['message']}")
                continue
            match = MODELS.search(row["message"])
            if match is None:
                wrong.append(f"{where} names no models of the two sides: {row['message']}")
                continue
            for side, prefix in PATHS.items():
                if not match[side].startswith(prefix):
                    wrong.append(f"{where}: {side} ran {match[side]!r}, expected {prefix}...")
            found.append(f"{where}: {row['status']} (base {match['base']}, head "
                         f"{match['head']})")
    return wrong, found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    report, base_python = argv
    if not Path(base_python).is_file():
        print(f"check_off_ipex: the off-IPEX A/B did not run: the IPEX environment's Python "
              f"{base_python} does not exist (run `tox -e ipex-examples,examples` to build it "
              f"first)")
        return 0
    try:
        results = json.loads(Path(report).read_text())["results"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"check_off_ipex: cannot read {report}: {exc}", file=sys.stderr)
        return 1
    wrong, found = problems(results)
    for line in wrong:
        print(f"check_off_ipex: {line}", file=sys.stderr)
    for line in found:
        print(f"check_off_ipex: {line}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
