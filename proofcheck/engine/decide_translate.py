"""Translation of a pointwise claim to concrete formulas at one N and one
configuration of the indices (part of :mod:`proofcheck.engine.decide`, SPEC §7-§8).

Translation
-----------
At a concrete N and configuration every ``Sum`` over the summation index is
expanded, ``KroneckerDelta`` is evaluated at the concrete indices, ``z[k]``,
``A[k]``, ``A_0`` become real variables, ``z2_max`` becomes
``Max(z_1^2, .., z_N^2)`` and ``A_loc_max`` becomes ``Max(A_2, .., A_N)`` (0 when
N = 1) -- the meanings the numeric checks give these symbols.  An explicit
index outside 1..N (``z[2]`` at N = 1) means the configuration does not exist
at that N (the numeric evaluator likewise drops such events); a conjunct of
the condition that speaks only of indices and is false at the concrete ones
(``Ne(a, 1)`` at a = 1, ``Ne(j, a)``) means the same -- these conjuncts are the
claim's *restriction*.  The other conjuncts are hypotheses for the solver; one
that no point satisfies (``A_0 > 0`` in key set A) makes the claim vacuously
PROVED.  N values with no configuration at all are below the claim's minimum N
and are not reported.  Divisions add the hypothesis "denominator != 0" (a claim is decided
where it is defined); ``x**(k/2)`` becomes ``s**k`` with a fresh ``s >= 0``,
``s**2 == x``.  Symbols recognised by *name*, so claims built from the
package's vocabulary (whose ``z`` carries ``positive=True``) and from the
plain mirror below decide alike; anything else (``attn_q``, ``u_q``,
``ascent_phi``, ``Expect``) is rejected with :class:`UnsupportedClaim`.  Note
that SymPy may already have used a symbol's assumptions when the claim was
built (``Abs(z[1])`` becomes ``z[1]`` for a positive ``z``): the claim is
decided as written.


Symmetry
--------
The domain is invariant under any permutation of the areas (same interval for
every z_i, symmetric simplex), and so is a claim that refers to areas only
through ``a``, ``j``, ``b``, the summation index, sums over ``1..N`` and
``z2_max``, and equalities/inequations between indices.  Explicit areas pin
areas: with K the largest explicit index (``z[1]``, ``KroneckerDelta(j, 1)``,
``Ne(a, 1)``; a sum over ``lo..N`` pins ``lo - 1``, over ``lo..hi`` pins ``hi``;
``A_loc_max`` pins 1), every permutation of ``K+1..N`` maps the claim at index
values (a, j, b) to the claim at the permuted values, with the variables
renamed.  So one representative per orbit suffices: values in 1..K are kept,
values above K are relabelled K+1, K+2, .. in order of first appearance.  For
example LEM-G5's claim (only ``a``) needs a = 1; LEM-G6 (``j != a``) needs
(a, j) = (1, 2); LEM-G7 (``j = 1`` written as explicit ``z[1]``, ``a != 1``)
needs a = 2; a claim in a and j without restriction needs (1, 1) and (1, 2).
The areas that are neither pinned nor used by an index are interchangeable,
so the solver may also assume their masses sorted (``A_k >= A_{k+1}``): any
counterexample can be permuted into that order.  A claim using an index in
arithmetic (``a * z[1]``), an order between indices (``j < a``) or an index
expression (``z[a + 1]``) gets no reduction: every index tuple is tried.

"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy as sp

PROVED, REFUTED, INCONCLUSIVE = "PROVED", "REFUTED", "INCONCLUSIVE"
KEY_SETS = ("A", "B")
OPS = (">=", "<=", ">", "<", "==")

# -- vocabulary mirror (SPEC §7; matched by name, so the package's own symbols work too) ----------

z = sp.IndexedBase("z")
A = sp.IndexedBase("A")
A0 = sp.Symbol("A_0")
N = sp.Symbol("N", integer=True, positive=True)
i, j, a, b = sp.symbols("i j a b", integer=True, positive=True)
delta = sp.KroneckerDelta
#: max_i z_i^2 over the event's areas
z2_max = sp.Symbol("z2_max")
#: max_{i >= 2} A_i, the largest local mass (0 when N = 1)
A_loc_max = sp.Symbol("A_loc_max")
#: R_p = sum_i z_i^2 A_i^2 - z_a^2 A_a   (SPEC DEF-CORR)
R_p = sp.Sum(z[i] ** 2 * A[i] ** 2, (i, 1, N)) - z[a] ** 2 * A[a]
#: ||r_p||^2 = z_a^2 (1 - A_a)^2 + sum_{i != a} z_i^2 A_i^2   (SPEC DEF-CORR)
r2_p = z[a] ** 2 * (1 - A[a]) ** 2 + sp.Sum((1 - delta(i, a)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))

_INDEX_NAMES = ("a", "j", "b")
_SPECIAL = {"z2_max", "A_loc_max", "A_0", "N"}


class UnsupportedClaim(ValueError):
    """The claim uses something this decision procedure does not translate."""


class _OutOfRange(Exception):
    """An explicit index outside 1..N: the configuration does not exist at this N."""


# -- claims ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """``condition => lhs op rhs`` (``condition`` None means no hypothesis)."""

    lhs: Any
    op: str
    rhs: Any = 0
    condition: Any = None
    label: str = ""

    def __post_init__(self):
        if self.op not in OPS:
            raise UnsupportedClaim(f"relation must be one of {OPS}, got {self.op!r}")
        object.__setattr__(self, "lhs", sp.sympify(self.lhs))
        object.__setattr__(self, "rhs", sp.sympify(self.rhs))
        if self.condition is not None:
            cond = sp.sympify(self.condition)
            object.__setattr__(self, "condition", None if cond is sp.true else cond)

    def srepr(self) -> str:
        return json.dumps({"lhs": sp.srepr(self.lhs), "op": self.op, "rhs": sp.srepr(self.rhs),
                           "condition": None if self.condition is None else sp.srepr(self.condition)},
                          sort_keys=True)


_REL_OPS = {sp.GreaterThan: ">=", sp.LessThan: "<=", sp.StrictGreaterThan: ">", sp.StrictLessThan: "<",
            sp.Equality: "=="}


def as_claim(obj) -> Claim:
    """A :class:`Claim` from: a Claim; an object with ``lhs``, ``op``, ``rhs`` and
    optionally ``condition`` (the package's PointwiseInequality); a SymPy relation;
    ``Implies(condition, relation)``; a tuple ``(lhs, op, rhs[, condition])``."""
    if isinstance(obj, Claim):
        return obj
    if isinstance(obj, tuple):
        return Claim(*obj)
    if isinstance(obj, sp.Implies):
        inner = as_claim(obj.args[1])
        cond = obj.args[0] if inner.condition is None else sp.And(obj.args[0], inner.condition)
        return Claim(inner.lhs, inner.op, inner.rhs, cond, inner.label)
    if isinstance(obj, sp.Rel):
        if type(obj) not in _REL_OPS:
            raise UnsupportedClaim(f"unsupported relation {obj!r}")
        return Claim(obj.lhs, _REL_OPS[type(obj)], obj.rhs)
    if all(hasattr(obj, t) for t in ("lhs", "op", "rhs")):
        return Claim(obj.lhs, obj.op, obj.rhs, getattr(obj, "condition", None), getattr(obj, "label", ""))
    raise UnsupportedClaim(f"cannot read a pointwise claim from {obj!r}")



# -- domain description --------------------------------------------------------------------------------

def fraction(x) -> Fraction:
    if isinstance(x, Fraction):
        return x
    if isinstance(x, sp.Basic):
        r = sp.Rational(x)
        return Fraction(int(r.p), int(r.q))
    return Fraction(x)  # int, str, float (exact binary value)


@dataclass(frozen=True)
class ZDomain:
    lower: Fraction | None
    upper: Fraction | None
    strict_lower: bool  # z > lower (from z_positive) rather than z >= lower

    @classmethod
    def make(cls, z_interval, z_positive: bool) -> ZDomain:
        lo = hi = None
        if z_interval is not None:
            lo, hi = (fraction(x) for x in z_interval)
            if lo > hi:
                raise ValueError(f"empty z interval [{lo}, {hi}]")
        strict = False
        if z_positive and (lo is None or lo <= 0):
            lo, strict = Fraction(0), True
            if hi is not None and hi <= 0:
                raise ValueError(f"z > 0 and z in {z_interval} is empty")
        return cls(lo, hi, strict)

    def describe(self) -> str:
        if self.lower is None and self.upper is None:
            return "free"
        if self.strict_lower and self.upper is None:
            return "positive"
        left = f"({self.lower}" if self.strict_lower else f"[{self.lower}"
        return f"{left}, {self.upper}]"

    def sign(self) -> int | None:
        """1 if every z is >= 0, -1 if every z is <= 0, None otherwise."""
        if self.lower is not None and self.lower >= 0:
            return 1
        if self.upper is not None and self.upper <= 0:
            return -1
        return None

    def key(self) -> list:
        return [None if self.lower is None else str(self.lower), None if self.upper is None else str(self.upper),
                self.strict_lower]



# -- symmetry: pinned areas and configuration representatives ------------------------------------------

def _name(s) -> str:
    return s.name if isinstance(s, sp.Symbol) else str(s)


def _index_vars(c: Claim) -> list[str]:
    names = set()
    for e in (c.lhs, c.rhs, c.condition):
        if e is not None:
            names |= {_name(s) for s in e.free_symbols}
    return [n for n in _INDEX_NAMES if n in names]


def area_symmetry(c: Claim) -> tuple[bool, int]:
    """(whether permutations of the areas K+1..N preserve the claim, K)."""
    state = {"ok": True, "K": 0}

    def pin(k):
        state["K"] = max(state["K"], int(k))

    def index_ok(e, bound):
        if isinstance(e, sp.Integer):
            pin(e)
        elif isinstance(e, sp.Symbol) and (_name(e) in _INDEX_NAMES or _name(e) in bound):
            pass
        else:
            state["ok"] = False

    def visit(e, bound):
        if not state["ok"]:
            return
        if isinstance(e, sp.Indexed):
            for x in e.indices:
                index_ok(x, bound)
            return
        if isinstance(e, sp.KroneckerDelta):
            for x in e.args:
                index_ok(x, bound)
            return
        if isinstance(e, sp.Sum):
            inner = set(bound)
            for lim in e.limits:
                v, lo, hi = lim
                if isinstance(lo, sp.Integer):
                    pin(lo - 1)
                else:
                    state["ok"] = False
                if isinstance(hi, sp.Integer):
                    pin(hi)
                elif not (isinstance(hi, sp.Symbol) and _name(hi) == "N"):
                    state["ok"] = False
                inner.add(_name(v))
            visit(e.function, inner)
            return
        if isinstance(e, sp.Rel):
            names = {_name(s) for s in e.free_symbols}
            if names & set(_INDEX_NAMES) and names <= set(_INDEX_NAMES) | {"N"}:
                if isinstance(e, (sp.Equality, sp.Unequality)):
                    for x in (e.lhs, e.rhs):
                        index_ok(x, bound)
                else:
                    state["ok"] = False
                return
        if isinstance(e, sp.Symbol):
            nm = _name(e)
            if nm in _INDEX_NAMES:
                state["ok"] = False  # an index used as a number
            elif nm == "A_loc_max":
                pin(1)
            return
        for x in e.args:
            visit(x, bound)

    for e in (c.lhs, c.rhs, c.condition):
        if e is not None:
            visit(e, set())
    return state["ok"], state["K"]


def configurations(claim, n: int, symmetry: bool = True) -> list[dict]:
    """Index tuples to try at N = n: one representative per orbit of the
    permutations of the unpinned areas (every tuple when the claim is not
    symmetric or ``symmetry`` is False).  The claim's own restriction (its
    condition at the concrete indices) is applied later, by instantiation."""
    c = as_claim(claim)
    names = _index_vars(c)
    ok, K = area_symmetry(c)
    out = []
    for tup in itertools.product(range(1, n + 1), repeat=len(names)):
        if symmetry and ok:
            relabel, nxt = {}, K + 1
            canon = []
            for v in tup:
                if v <= K:
                    canon.append(v)
                else:
                    if v not in relabel:
                        relabel[v] = nxt
                        nxt += 1
                    canon.append(relabel[v])
            if tuple(canon) != tup:
                continue
        out.append(dict(zip(names, tup)))
    return out


# -- instantiation at a concrete N and configuration -----------------------------------------------------

def _zs(k):
    return sp.Symbol(f"z_{k}")


def _As(k):
    return sp.Symbol(f"A_{k}")


class _Instantiate:
    def __init__(self, n: int, env: dict, key_set: str):
        self.n, self.key_set = n, key_set
        self.env = {**{k: sp.Integer(v) for k, v in env.items()}, "N": sp.Integer(n)}

    def index(self, e) -> int:
        v = self(e)
        if not isinstance(v, sp.Integer):
            raise UnsupportedClaim(f"index {e} does not evaluate to an integer (got {v})")
        return int(v)

    def __call__(self, e):
        if isinstance(e, (bool,)):
            return sp.true if e else sp.false
        if isinstance(e, sp.Float):
            return sp.Rational(e)  # its exact binary value, as z3 gets it
        if e is sp.true or e is sp.false or isinstance(e, sp.Number):
            return e
        if isinstance(e, sp.Symbol):
            nm = e.name
            if nm in self.env:
                return self.env[nm]
            if nm == "A_0":
                return sp.Integer(0) if self.key_set == "A" else sp.Symbol("A_0")
            if nm == "z2_max":
                return sp.Max(*[_zs(k) ** 2 for k in range(1, self.n + 1)])
            if nm == "A_loc_max":
                return sp.Max(*[_As(k) for k in range(2, self.n + 1)]) if self.n >= 2 else sp.Integer(0)
            raise UnsupportedClaim(f"symbol {nm!r} is not in the pointwise vocabulary")
        if isinstance(e, sp.Indexed):
            base = _name(e.base.label)
            if base not in ("z", "A") or len(e.indices) != 1:
                raise UnsupportedClaim(f"unknown indexed quantity {e}")
            k = self.index(e.indices[0])
            if not 1 <= k <= self.n:
                raise _OutOfRange(f"{e} has index {k} outside 1..{self.n}")
            return _zs(k) if base == "z" else _As(k)
        if isinstance(e, sp.KroneckerDelta):
            return sp.Integer(1 if self.index(e.args[0]) == self.index(e.args[1]) else 0)
        if isinstance(e, sp.Sum):
            return self.sum(e.function, list(e.limits))
        if isinstance(e, sp.Function) and type(e).__name__ == "Expect":
            raise UnsupportedClaim("Expect(...) is an expectation-level claim, not a pointwise one")
        if isinstance(e, (sp.Add, sp.Mul, sp.Pow, sp.Abs, sp.Max, sp.Min, sp.And, sp.Or, sp.Not, sp.Implies, sp.Rel)):
            return e.func(*[self(x) for x in e.args])
        raise UnsupportedClaim(f"cannot translate {type(e).__name__}: {e}")

    def sum(self, body, limits):
        if not limits:
            return self(body)
        v, lo, hi = limits[0]
        lo_k, hi_k = self.index(lo), self.index(hi)
        total = sp.Integer(0)
        saved = self.env.get(v.name)
        try:
            for k in range(max(lo_k, 1), min(hi_k, self.n) + 1):
                self.env[v.name] = sp.Integer(k)
                total += self.sum(body, limits[1:])
        finally:
            if saved is None:
                self.env.pop(v.name, None)
            else:
                self.env[v.name] = saved
        return total


REL_CLASS = {">=": sp.GreaterThan, "<=": sp.LessThan, ">": sp.StrictGreaterThan, "<": sp.StrictLessThan,
              "==": sp.Equality}


def holds(lhs, op, rhs) -> bool:
    """The relation at exact numbers."""
    return {">=": lhs >= rhs, "<=": lhs <= rhs, ">": lhs > rhs, "<": lhs < rhs, "==": sp.Eq(lhs, rhs)}[op] == sp.true



def _restriction(c: Claim) -> list:
    """The conjuncts of the condition that speak only of the indices (and N): they
    select configurations.  The other conjuncts are hypotheses for the solver (a
    hypothesis false on the whole domain, such as A_0 > 0 in key set A, makes the
    claim vacuously PROVED, not absent)."""
    if c.condition is None:
        return []
    parts = c.condition.args if isinstance(c.condition, sp.And) else (c.condition,)
    allowed = set(_INDEX_NAMES) | {"N"}
    return [p for p in parts if {_name(s) for s in p.free_symbols} <= allowed]


def instantiate_claim(c: Claim, n: int, env: dict, key_set: str):
    """(lhs, rhs, condition) at (n, env), or a string saying why this configuration does not exist."""
    inst = _Instantiate(n, env, key_set)
    try:
        for p in _restriction(c):
            if inst(p) is not sp.true:
                return f"the restriction {p} is false at these indices"
        lhs, rhs = inst(c.lhs), inst(c.rhs)
        cond = sp.true if c.condition is None else inst(c.condition)
    except _OutOfRange as exc:
        return str(exc)
    return lhs, rhs, cond

