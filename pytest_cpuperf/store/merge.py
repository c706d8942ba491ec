"""``cpuperf baseline-merge %O %A %B``: a git merge driver that joins baseline files record by
record.

Plain ``git merge`` already merges branches that change records far apart in a baseline file
(see :func:`.baselines.render`). It cannot merge two branches that add tests next to each other
in the sorted file (a test added at the end on both, say), nor files of the older layout that
both branches rewrote. This driver can: it reads the common ancestor (``%O``), our side
(``%A``) and their side (``%B``) as records, and for each (test, metric)

- a record changed (added, re-recorded, removed) on one side only takes that side;
- a record changed the same way on both sides is kept once;
- a record changed differently on both sides (the same metric re-recorded on both branches) is a
  true conflict.

Without a true conflict it writes the merged file over ``%A`` (atomically, in the current
layout) and exits 0. With one it writes nothing, names every conflicting test and metric on
stderr and exits 1: git then reports the file as conflicted, holding our side unchanged.
Unreadable input exits 2, also leaving the conflict to the user.

Install it in a repository (the attribute is committed, the driver is configured per clone)::

    # .gitattributes (patterns with a slash are relative to the .gitattributes file)
    .cpuperf/*.json merge=cpuperf
    # or, for baseline directories anywhere in the tree (examples/.cpuperf, ...):
    # **/.cpuperf/*.json merge=cpuperf

    git config merge.cpuperf.name "pytest-cpuperf baselines, record by record"
    git config merge.cpuperf.driver "cpuperf baseline-merge %O %A %B"

A merge that stopped on a baseline file before the driver was installed is redone with it by
``git checkout -m FILE``. To settle true conflicts by taking one side for each of them (and
every other change of both), run the driver on the three versions with ``--prefer``::

    git show :1:FILE > base.json; git show :3:FILE > theirs.json
    cpuperf baseline-merge --prefer theirs base.json FILE theirs.json && git add FILE
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BaselineFileError
from ..records.results import BaselineRecord
from .baselines import COMPARED_FIELDS, BaselineFile, load, save

SIDES = ("ours", "theirs")
INSTALL = """install (the attribute is committed, the driver configured per clone):
  .gitattributes:  .cpuperf/*.json merge=cpuperf
  git config merge.cpuperf.name "pytest-cpuperf baselines, record by record"
  git config merge.cpuperf.driver "cpuperf baseline-merge %O %A %B"
"""

Key = tuple[str, str]


@dataclass(frozen=True)
class Conflict:
    """Something both sides changed differently: a (test, metric), or the machine."""

    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.what}: {self.why}"


@dataclass
class Merged:
    """The outcome of a three-way merge: the merged content, and what kept it from being one."""

    machine: dict[str, Any]
    records: dict[str, dict[str, BaselineRecord]]
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    taken: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    """How many records each side's change decided."""


def _flat(baseline: BaselineFile) -> dict[Key, BaselineRecord]:
    return {(test, metric): record
            for test, metrics in baseline.records.items() for metric, record in metrics.items()}


def _data(record: BaselineRecord | None) -> dict[str, Any] | None:
    """A record as the file holds it: equal data is an equal record."""
    return None if record is None else record.to_dict()


def _changed_side(base: Any, ours: Any, theirs: Any) -> str | None:
    """The side whose change the merge takes (None: both agree); ``LookupError`` when both
    sides changed it differently."""
    if ours == theirs:
        return None
    if ours == base:
        return "theirs"
    if theirs == base:
        return "ours"
    raise LookupError


def _why(base: Any, ours: Any, theirs: Any) -> str:
    if base is None:
        return "added on both sides with different figures"
    if ours is None or theirs is None:
        kept = "ours" if theirs is None else "theirs"
        return f"removed on one side, re-recorded on the other ({kept})"
    return "re-recorded on both sides with different figures"


def _merge_machine(base: Mapping[str, Any], ours: Mapping[str, Any],
                   theirs: Mapping[str, Any], merged: Merged,
                   prefer: str | None) -> dict[str, Any]:
    """The stored machine: a one-sided change is taken; two descriptions of one machine class
    (same key and identity) keep ours, with a note; two machine classes are a conflict (settled
    by ``prefer``)."""
    try:
        return dict(theirs if _changed_side(base, ours, theirs) == "theirs" else ours)
    except LookupError:
        pass
    differing = [name for name in ("key", *COMPARED_FIELDS) if ours.get(name) != theirs.get(name)]
    if differing:
        merged.conflicts.append(Conflict(
            "machine", "the sides describe different machines ("
            + ", ".join(f"{n} {ours.get(n)!r} / {theirs.get(n)!r}" for n in differing) + ")"))
        if prefer == "theirs":
            return dict(theirs)
    else:
        merged.notes.append("both sides updated the machine description of the same machine "
                            "class; ours was kept")
    return dict(ours)


def merge_baselines(base: BaselineFile, ours: BaselineFile, theirs: BaselineFile,
                    prefer: str | None = None) -> Merged:
    """Three-way merge of baseline files, record by record (see the module docstring).

    ``prefer`` (``"ours"`` or ``"theirs"``) settles each true conflict by taking that side;
    the conflicts are still listed.
    """
    if prefer not in (None, *SIDES):
        raise ValueError(f"prefer must be one of {', '.join(SIDES)} or None, got {prefer!r}")
    merged = Merged(machine={}, records={})
    merged.machine = _merge_machine(base.machine, ours.machine, theirs.machine, merged,
                                    prefer)
    records = {"base": _flat(base), "ours": _flat(ours), "theirs": _flat(theirs)}
    for key in sorted(set().union(*records.values())):
        data = [_data(records[name].get(key)) for name in ("base", "ours", "theirs")]
        try:
            side = _changed_side(*data)
        except LookupError:
            merged.conflicts.append(Conflict(f"{key[0]} / {key[1]}", _why(*data)))
            if prefer is None:
                continue
            side = prefer
        if side is not None:
            merged.taken[side] += 1
        record = records[side or "ours"].get(key)
        if record is not None:  # None: removed
            merged.records.setdefault(key[0], {})[key[1]] = record
    return merged


def _read(path: Path, name: str, *, may_be_empty: bool = False) -> BaselineFile:
    """The baseline file ``path`` (parameter ``name``); git passes an empty ancestor when the
    file has none (added on both branches)."""
    if not path.is_file():
        raise BaselineFileError(f"{name} {path} is not a file; git passes three baseline files: "
                                f"cpuperf baseline-merge %O %A %B")
    if may_be_empty and path.stat().st_size == 0:
        return BaselineFile(path=path, machine={})
    return load(path)


def merge_files(base: Path, ours: Path, theirs: Path, prefer: str | None = None) -> Merged:
    """Merge ``theirs`` into ``ours`` against ``base``; the result replaces ``ours`` (in one
    rename) unless there is an unsettled true conflict, in which case nothing is written."""
    merged = merge_baselines(_read(base, "ANCESTOR", may_be_empty=True), _read(ours, "OURS"),
                             _read(theirs, "THEIRS"), prefer)
    if not merged.conflicts or prefer is not None:
        save(BaselineFile(path=ours, machine=merged.machine, records=merged.records))
    return merged


def _conflict_message(merged: Merged) -> str:
    names = "".join(f"\n  {conflict}" for conflict in merged.conflicts)
    return (f"cpuperf baseline-merge: CONFLICT: {len(merged.conflicts)} record(s) changed "
            f"differently on both sides; nothing was merged, the file keeps our side:{names}\n"
            f"To take one side of each of them and merge every other change:\n"
            f"  git show :1:FILE > base.json; git show :3:FILE > theirs.json\n"
            f"  cpuperf baseline-merge --prefer ours|theirs base.json FILE theirs.json\n"
            f"  git add FILE\n"
            f"then re-record them on the merged code (pytest --cpuperf --cpuperf-update).")


def run(args: argparse.Namespace) -> int:
    """``cpuperf baseline-merge``: 0 merged, 1 true conflicts (nothing written)."""
    merged = merge_files(Path(args.ancestor), Path(args.ours), Path(args.theirs), args.prefer)
    for note in merged.notes:
        print(f"cpuperf baseline-merge: note: {note}", file=sys.stderr)
    if merged.conflicts and args.prefer is None:
        print(_conflict_message(merged), file=sys.stderr)
        return 1
    settled = "".join(f"\n  {conflict} (took {args.prefer})" for conflict in merged.conflicts)
    print(f"cpuperf baseline-merge: merged record by record: {merged.taken['ours']} change(s) "
          f"of ours, {merged.taken['theirs']} of theirs{settled}", file=sys.stderr)
    return 0


def add_baseline_merge_parser(subparsers: Any) -> None:
    """Add ``baseline-merge`` to the ``cpuperf`` command's sub-commands."""
    parser = subparsers.add_parser(
        "baseline-merge", help="git merge driver: join two baseline files record by record",
        description="Three-way merge of baseline files (.cpuperf/*.json) for git: each record "
                    "changed on one side takes that side; a metric re-recorded differently on "
                    "both sides is a conflict (exit 1, nothing written).",
        epilog=INSTALL, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ancestor", metavar="ANCESTOR", help="the common ancestor's file (%%O)")
    parser.add_argument("ours", metavar="OURS",
                        help="our file (%%A); the merged file is written here")
    parser.add_argument("theirs", metavar="THEIRS", help="their file (%%B)")
    parser.add_argument("--prefer", choices=SIDES,
                        help="settle each true conflict by taking this side's record")
    parser.set_defaults(func=run)
