"""Relations in lemma statements: an inequality between two vocabulary expressions, and the
expectation marker ``Expect`` for claims about E[...] rather than every event."""
from __future__ import annotations

import sympy as sp
from proofcheck.errors import UsageError


class Expect(sp.Function):
    """Expect(expr) = E[1_k 1{p in M} c(M) expr] for the (p, k, j) entry (SPEC §8 convention)."""

    nargs = 1


RELATIONS = {">=": sp.GreaterThan, "<=": sp.LessThan}


FLIP = {">=": "<=", "<=": ">="}


def relation(lhs, op: str, rhs) -> sp.Rel:
    """``lhs op rhs`` as an unevaluated SymPy relation (SymPy would otherwise
    decide ``x >= 0`` for positive x and leave ``True``)."""
    if op not in RELATIONS:
        raise UsageError(f"relation must be '>=' or '<=', got {op!r}")
    return RELATIONS[op](sp.sympify(lhs), sp.sympify(rhs), evaluate=False)


def reverse_relation(rel: sp.Rel) -> sp.Rel:
    """The reversed inequality: ``lhs >= rhs`` becomes ``lhs <= rhs`` (not SymPy's
    ``.reversed``, which only swaps the sides and keeps the meaning)."""
    return relation(rel.lhs, FLIP[_op(rel)], rel.rhs)


def _op(rel) -> str:
    if isinstance(rel, (sp.GreaterThan, sp.StrictGreaterThan)):
        return ">="
    if isinstance(rel, (sp.LessThan, sp.StrictLessThan)):
        return "<="
    raise UsageError(f"expected an inequality (>= or <=), got {rel!r}")
