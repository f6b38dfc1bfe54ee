"""Planted wrong lemmas: generic SymPy mutants of a statement's expression, for
testing that the checks reject false statements (checker adequacy).

:func:`mutants` lists ``(label, mutant)`` pairs, one family per typical slip in
a derivation: a flipped sign, a dropped summand, ``z[x]`` written for
``z[x]**2``'s place (``z[x] -> z[x]**2``), a wrong numeric constant, the target
and coordinate indices swapped (``j <-> a``, ``b <-> a``) and the scales swapped
(``z[j] <-> z[a]``).  Some mutants are still true -- e.g. ``j <-> a`` on an
identity restricted to ``j = a`` -- so :func:`equivalent` decides with SymPy
whether a mutant equals the original on every event shape, and only the
others are expected to be refuted.  Reversing an inequality is the inequality
claim's own ``mutated``.
"""
from __future__ import annotations

import itertools

import sympy as sp

from proofcheck.engine.symbolic import applies
from proofcheck.lang.symbols import N, a, b, j, u_q, z


def _subtrees(expr, path=()):
    """(path, node) for every node a mutation may touch: not inside an index of
    ``z[...]`` / ``A[...]`` nor a Sum's limits."""
    yield path, expr
    if isinstance(expr, sp.Indexed):
        return
    args = expr.args[:1] if isinstance(expr, sp.Sum) else expr.args
    for n, arg in enumerate(args):
        yield from _subtrees(arg, path + (n,))


def _replace_at(expr, path, new):
    if not path:
        return new
    args = list(expr.args)
    args[path[0]] = _replace_at(args[path[0]], path[1:], new)
    return expr.func(*args)


def mutants(expr) -> list[tuple[str, sp.Expr]]:
    """Generic mutants of ``expr`` (deduplicated, none identical to ``expr``)."""
    expr = sp.sympify(expr)
    out = [("sign flipped", -expr)]
    for path, node in _subtrees(expr):
        if node.is_Add:
            for n, term in enumerate(node.args):
                rest = node.func(*(node.args[:n] + node.args[n + 1:]))
                out.append((f"summand dropped: {sp.sstr(term)}", _replace_at(expr, path, rest)))
        if node.is_Number and node not in (sp.S.Zero,) and path:
            out.append((f"constant {node} -> {node + 1}", _replace_at(expr, path, node + 1)))
    for atom in sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key):
        if atom.base == z:
            out.append((f"{atom} -> {atom}**2", expr.xreplace({atom: atom**2})))
    symbols, indexed = expr.free_symbols, expr.atoms(sp.Indexed)
    for other in (j, b):
        if {other, a} <= symbols:
            out.append((f"{other} <-> a swapped", expr.xreplace({other: a, a: other})))
        if {z[other], z[a]} <= indexed:
            out.append((f"z[{other}] <-> z[a] swapped", expr.xreplace({z[other]: z[a], z[a]: z[other]})))
    seen, unique = {sp.srepr(expr)}, []
    for label, m in out:
        key = sp.srepr(m)
        if key not in seen:
            seen.add(key)
            unique.append((label, m))
    return unique


def family(label: str) -> str:
    """The mutation family of a label: sign | drop | square | constant | swap."""
    for prefix, name in (("sign", "sign"), ("summand", "drop"), ("constant", "constant")):
        if label.startswith(prefix):
            return name
    return "swap" if label.endswith("swapped") else "square"


def equivalent(original, mutant, restriction=None, n_values=(1, 2, 3), key_set: str = "B") -> bool:
    """Whether ``mutant`` equals ``original`` as an event integrand: for every N in
    ``n_values``, every assignment of the free indices a, j, b in 1..N that the
    restriction admits and u_q in {0, 1} (only 1 in key set A, where every key is
    unmasked), the difference with its Sums expanded
    expands to 0 as a polynomial in z, A, A0, attn_q.  (Equality that needs the
    softmax normalisation sum A + A0 = 1 is not detected: such a mutant is
    reported as not equivalent, and the symbolic leg would then prove it.)"""
    diff = sp.sympify(original) - sp.sympify(mutant)
    indices = [s for s in (a, j, b) if s in diff.free_symbols or (restriction is not None
                                                                   and s in restriction.free_symbols)]
    for n in n_values:
        for values in itertools.product(range(1, n + 1), repeat=len(indices)):
            at = dict(zip(indices, values))
            if not applies(restriction, N=n, **{str(k): v for k, v in at.items()}):
                continue
            for u in ((0, 1) if key_set == "B" else (1,)):
                if sp.expand(diff.subs({N: n, u_q: u, **at}).doit()) != 0:
                    return False
    return True
