"""The kernel marker's spelling: ``kernels="same"`` or a mapping of rules, checked at collection.

Counts take ``">=N"``, ``"<=N"``, ``"==N"`` or a plain integer (exactly N); ``dominant_isa``
takes a name a kernel report can give (see :attr:`KernelReport.ISAS`), or ``"!=NAME"``. The
gate that applies a spec is :mod:`pytest_cpuperf.judge.kernels`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import CpuperfUsageError
from .records.kernels import KernelReport

SAME = "same"
COUNT_KEYS = ("matmul_layers", "sparse_layers", "amx_layers")
ISA_KEY = "dominant_isa"
ISAS = KernelReport.ISAS
"""What a ``dominant_isa`` rule can name: every value a kernel report can hold."""
_RULE = re.compile(r"^\s*(>=|<=|==|!=)?\s*(\S+)\s*$")
USAGE = ('kernels="same" or kernels={"sparse_layers": ">=50", "amx_layers": ">=1", '
         '"dominant_isa": "amx"}')


@dataclass(frozen=True)
class Rule:
    """One floor, ceiling or exact value on a field of the kernel report."""

    key: str
    op: str
    value: int | str

    def holds(self, kernels: Mapping[str, Any]) -> bool:
        actual = kernels.get(self.key)
        if actual is None:
            return False
        if self.op == ">=":
            return int(actual) >= int(self.value)
        if self.op == "<=":
            return int(actual) <= int(self.value)
        if self.op == "!=":
            return str(actual) != str(self.value)
        return str(actual) == str(self.value)

    def text(self) -> str:
        return f"{self.key} {self.op} {self.value}"


def check_kernel_spec(value: object, label: str) -> str | dict[str, str]:
    """``"same"`` or the checked rule mapping; a :class:`CpuperfUsageError` naming the key."""
    if isinstance(value, str):
        if value.strip().lower() == SAME:
            return SAME
        raise CpuperfUsageError(f"{label} must be {USAGE}; got {value!r}")
    if not isinstance(value, Mapping) or not value:
        raise CpuperfUsageError(f"{label} must be {USAGE}; got {value!r}")
    checked: dict[str, str] = {}
    for key, rule in value.items():
        parse_rule(key, rule, label)
        checked[str(key)] = str(rule).strip()
    return checked


def parse_rule(key: object, rule: object, label: str) -> Rule:
    """One ``key: rule`` entry of a kernels mapping, checked."""
    known = (*COUNT_KEYS, ISA_KEY)
    if key not in known:
        raise CpuperfUsageError(
            f"{label}: unknown kernel key {key!r}; rules can name {', '.join(known)}, e.g. "
            f"{USAGE}")
    if isinstance(rule, bool) or not isinstance(rule, (str, int)):
        raise CpuperfUsageError(f"{label}: rule for {key!r} must be text such as '>=1', got "
                                f"{rule!r}")
    match = _RULE.match(str(rule))
    op, operand = (match.group(1) or "==", match.group(2)) if match else ("", "")
    if key == ISA_KEY:
        if op not in ("==", "!=") or operand.lower() not in ISAS:
            raise CpuperfUsageError(
                f"{label}: rule for 'dominant_isa' must be one of {', '.join(ISAS)} (or "
                f"'!=' one of them), e.g. 'amx' or '!=ref'; got {rule!r}")
        return Rule(str(key), op, operand.lower())
    if op == "!=" or not operand.isdigit():
        raise CpuperfUsageError(
            f"{label}: rule for {key!r} must be '>=N', '<=N', '==N' or an integer N >= 0, "
            f"e.g. '>=1'; got {rule!r}")
    return Rule(str(key), op, int(operand))


def rules_of(spec: Mapping[str, str]) -> list[Rule]:
    return [parse_rule(key, rule, "kernels") for key, rule in spec.items()]
