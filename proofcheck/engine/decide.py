"""Exact decisions of pointwise polynomial inequality claims with z3's nonlinear
real arithmetic (SPEC §7-§8: the sign and bound claims of LEM-G5, LEM-G6, LEM-G7).

A pointwise claim is a relation ``lhs op rhs`` (op one of ``>=``, ``<=``, ``>``,
``<``, ``==``) between SymPy expressions in the event vocabulary of SPEC §7,
optionally under a ``condition`` (an implication ``condition => lhs op rhs``).
:func:`decide` decides it, for each number of areas N in turn, on the whole
*domain of an event*:

* areas 1..N, the distinguished indices ``a`` (target area), ``j`` (an FP
  coordinate's area), ``b`` (a PP key's area) in 1..N;
* masses ``A_1..A_N >= 0``, ``A_0 >= 0``, ``A_0 + sum_i A_i = 1`` (the closed
  simplex); ``A_0 = 0`` in key set A (only unmasked keys);
* scales ``z_1..z_N`` each in ``[L, U]`` (``z_interval``), or ``z_i > 0``
  (``z_positive``), or free reals; both given means their intersection;
* the condition, instantiated, as a hypothesis.

It asks z3 (``SolverFor("QF_NRA")``, i.e. nlsat, a *complete* procedure for
quantifier-free nonlinear real arithmetic) for a point of the domain where the
condition holds and the relation fails.  Per N:

* ``PROVED``   -- unsat for every configuration of the indices: the claim holds at
  every point of the domain, hence for every event of every instance with N
  areas (every mask, every area size: an event's masses always lie in the
  simplex).  The domain is a superset of the attainable masses (it contains the
  boundary, and ``A_0 = 0`` in key set B), which only makes PROVED stronger.
* ``REFUTED``  -- sat: an exact rational counterexample (``fractions.Fraction``
  values of ``z_i``, ``A_i``, ``A_0``, taken from z3's model) with both sides
  recomputed *in SymPy with Rationals* from the claim as written; a model that
  does not survive that recomputation is never reported as REFUTED.  A
  counterexample on the boundary of the simplex (a mass exactly 0) is a point of
  the domain but not of any event's softmax; :func:`realize` says so and moves
  it inside.
* ``INCONCLUSIVE`` -- z3 answered unknown (timeout, resource limit), the time
  budget ran out, or a sat model could not be turned into a confirmed rational
  counterexample.  Never a pass.

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

Max, Min and Abs: the conjunction encoding
-------------------------------------------
A maximum ``M = max_k x_k`` is replaced by a fresh real ``m`` with the
*conjunction* ``m >= x_k for all k`` -- "m is an upper bound of the x_k".  The
counterexample query becomes ``exists x, m >= max x: domain, hyp(m), not
rel(m)``, a relaxation of the exact one (m = max is among the allowed values):

* unsat of the relaxation implies unsat of the exact query, so PROVED is always
  sound;
* when the claim ``C(m) = (hyp(m) => rel(m))`` is monotone non-decreasing in m
  (an *upper-bound use*: ``m`` with a non-negative coefficient on the larger side
  of a ``<=`` in the conclusion, as ``z2_max`` in LEM-G7's bound, or on the
  smaller side of a ``<=`` in the hypothesis, as ``max_{i>=2} A_i`` in LEM-G7's
  condition), ``C(max) => C(m)`` for every ``m >= max``, so a relaxed
  counterexample (``not C(m)``) is an exact one (``not C(max)``): the
  conjunction alone is exact both ways.
* on the other side (lower-bound use: ``lhs >= max``, ``max <= rhs`` in the
  conclusion, ``max >= c`` in the hypothesis, or a coefficient of unknown sign)
  the relaxation can pick ``m`` above the maximum and produce spurious
  counterexamples; there the *disjunction* ``m == x_1 or .. or m == x_k`` is
  needed as well and is added (``encoding`` records which was used and why).

A syntactic polarity analysis (signs of coefficients from the domain: masses
``>= 0``, even powers, ``z >= 0`` when the z-domain says so) decides which
case applies; anything it cannot classify gets the exact encoding.  ``Min`` is
the mirror image (``m <= x_k``; conjunction alone exact when the claim is
non-increasing in it) and ``Abs(x)`` is ``Max(x, -x)``.  Independently of the
analysis every counterexample is recomputed in SymPy with the true maxima; a
relaxed model that fails that check is re-solved with the exact encoding.
``max_encoding="conjunction"`` forces the conjunction everywhere (sound for
PROVED only; a spurious model then gives INCONCLUSIVE) and ``"exact"`` forces
the disjunction everywhere.

Solving
-------
``timeout_ms`` is the budget of one configuration.  Before z3 sees it, the
conclusion is split exactly into conjuncts where a max or an absolute value is
the whole bounded side (``|x| <= B`` iff ``x <= B`` and ``-x <= B``; LEM-G7's
bound becomes two polynomial claims), each conjunct getting an equal share.
The negation of a non-strict conjunct ``g >= 0`` is stated as ``g < 0`` with
``g`` factored and the factors of known sign on the domain split off
(``z_1 A_1 h < 0`` with ``z_1, A_1 >= 0`` iff ``z_1 > 0``, ``A_1 > 0``, ``h < 0``):
an equivalent query of lower degree.  nlsat's running time varies by orders of
magnitude between equivalent formulations (measured: LEM-G7's decrease claim
at N = 5 took 0.1 s with the free masses unsorted and timed out at 30 s with
them sorted, and the other way round at N = 4 with z in [1/4, 2]), so each
conjunct is tried with every formulation of :data:`VARIANTS` (free masses
sorted or not, the last mass eliminated through the simplex equation or not):
first each with a quarter of the share divided among them, then each with the
rest (a share under :data:`MIN_PORTFOLIO_MS` goes to the first formulation alone).  Any unsat is a proof; any sat gives a candidate counterexample, checked
against the claim as written.

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

Cache
-----
A decision depends only on the claim (its ``srepr``), the key set, N, the
z-domain, the timeout and the options; :func:`decision_key` hashes exactly
these (plus :data:`VERSION`) into a stable hex string, and
:meth:`Decision.to_dict` / :meth:`Decision.from_dict` give a JSON form.
Callers that cache should not treat a cached INCONCLUSIVE as final if they are
willing to spend a longer timeout.

Realizing a counterexample
--------------------------
:func:`realize` turns masses ``(A_0, A_1..A_N)`` into per-group log-weights
``w_g`` with ``softmax(w) = masses`` (exactly: ``w_g = log A_g``).  A group g
with ``n_g`` keys gets it from the PP correlations ``Ups_{p->q} = w_g - log n_g
- z_g Phi_{p->v_g}`` for its keys.  Masses that are exactly 0 cannot come from
finite logits; ``realize`` then returns the interior point
``(1 - eps) A + eps * uniform`` (at a stated L-infinity distance <= eps), flags
it, and, for a counterexample, says whether the claim still fails there.

Measured reach
--------------
``timeout_ms = 60000`` per configuration, z3 4.x/5.4, a shared 2-core machine
(times vary by run and load; the largest N proved in every one of N = min..N):

=======================  ==========  ==========  ==========  ==========
claim                    A, z > 0    B, z > 0    A, [1/4,2]  B, [1/4,2]
=======================  ==========  ==========  ==========  ==========
LEM-G5 sign              >= 8        >= 8        >= 8        >= 8
LEM-G6 sufficient cond.  >= 8        >= 8        >= 8        6
LEM-G7 decrease          7           >= 8        4           4
LEM-G7 bound             4           4           3           3
=======================  ==========  ==========  ==========  ==========

(">= 8": not tried beyond 8.)  The first N past each bound came back
INCONCLUSIVE (timeout), not refuted.

Depends only on sympy and z3 (the vocabulary is mirrored below).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy as sp
import z3

#: bump when the meaning of a decision (encoding, domain) changes; part of every cache key
VERSION = "decide-1"

PROVED, REFUTED, INCONCLUSIVE = "PROVED", "REFUTED", "INCONCLUSIVE"
KEY_SETS = ("A", "B")
OPS = (">=", "<=", ">", "<", "==")
MAX_ENCODINGS = ("auto", "conjunction", "exact")

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


# -- results -----------------------------------------------------------------------------------------

@dataclass
class Counterexample:
    """An exact point of the domain where the condition holds and the relation fails."""

    n: int
    key_set: str
    indices: dict
    z: tuple
    A: tuple
    A0: Fraction
    lhs: Any
    rhs: Any
    op: str
    #: the claim instantiated at (n, indices): (lhs, op, rhs, condition) over symbols z_k, A_k, A_0
    instance: tuple = field(repr=False, default=None)

    @property
    def masses(self) -> tuple:
        """(A_0, A_1, .., A_N)."""
        return (self.A0, *self.A)

    @property
    def interior(self) -> bool:
        """Every mass that the key set allows is > 0 (A_0 is structurally 0 in key set A)."""
        return all(x > 0 for x in self.A) and (self.key_set == "A" or self.A0 > 0)

    def point(self) -> dict:
        """The point as {name: Fraction} over z_k, A_k, A_0."""
        d = {f"z_{k}": v for k, v in enumerate(self.z, 1)}
        d.update({f"A_{k}": v for k, v in enumerate(self.A, 1)})
        d["A_0"] = self.A0
        return d

    def to_dict(self) -> dict:
        inst = None
        if self.instance is not None:
            l, op, r, c = self.instance
            inst = [sp.srepr(l), op, sp.srepr(r), sp.srepr(c)]
        return {"n": self.n, "key_set": self.key_set, "indices": dict(self.indices),
                "z": [str(x) for x in self.z], "A": [str(x) for x in self.A], "A0": str(self.A0),
                "lhs": str(self.lhs), "rhs": str(self.rhs), "op": self.op, "instance": inst}

    @classmethod
    def from_dict(cls, d: dict) -> Counterexample:
        inst = d.get("instance")
        if inst is not None:
            inst = (sp.sympify(inst[0]), inst[1], sp.sympify(inst[2]), sp.sympify(inst[3]))
        return cls(d["n"], d["key_set"], dict(d["indices"]), tuple(Fraction(x) for x in d["z"]),
                   tuple(Fraction(x) for x in d["A"]), Fraction(d["A0"]), _frac_or_str(d["lhs"]),
                   _frac_or_str(d["rhs"]), d["op"], inst)


def _frac_or_str(s):
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return s


@dataclass
class Decision:
    """The decision of one claim at one N (over every configuration of its indices)."""

    status: str
    n: int
    scope: dict
    counterexample: Counterexample | None = None
    reason: str = ""
    seconds: float = 0.0
    configurations: list = field(default_factory=list)
    key: str = ""
    encoding: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"status": self.status, "n": self.n, "scope": self.scope, "reason": self.reason,
                "seconds": self.seconds, "configurations": self.configurations, "key": self.key,
                "encoding": self.encoding,
                "counterexample": None if self.counterexample is None else self.counterexample.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> Decision:
        ce = d.get("counterexample")
        return cls(d["status"], d["n"], d["scope"], None if ce is None else Counterexample.from_dict(ce),
                   d.get("reason", ""), d.get("seconds", 0.0), list(d.get("configurations", [])), d.get("key", ""),
                   dict(d.get("encoding", {})))


# -- domain description --------------------------------------------------------------------------------

def _fraction(x) -> Fraction:
    if isinstance(x, Fraction):
        return x
    if isinstance(x, sp.Basic):
        r = sp.Rational(x)
        return Fraction(int(r.p), int(r.q))
    return Fraction(x)  # int, str, float (exact binary value)


@dataclass(frozen=True)
class _ZDomain:
    lower: Fraction | None
    upper: Fraction | None
    strict_lower: bool  # z > lower (from z_positive) rather than z >= lower

    @classmethod
    def make(cls, z_interval, z_positive: bool) -> _ZDomain:
        lo = hi = None
        if z_interval is not None:
            lo, hi = (_fraction(x) for x in z_interval)
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


def _scope(n: int, key_set: str, zd: _ZDomain) -> dict:
    return {"areas": n, "key_set": key_set, "z": zd.describe(), "masks": "all", "area_sizes": "all"}


def decision_key(claim, *, key_set: str, n: int, z_interval=None, z_positive: bool = False,
                 timeout_ms: int = 10_000, symmetry: bool = True, max_encoding: str = "auto") -> str:
    """A stable hex digest of everything a decision depends on: the claim's srepr,
    the key set, N, the z-domain (interval and positivity), the timeout, the
    options and :data:`VERSION`."""
    c = as_claim(claim)
    zd = _ZDomain.make(z_interval, z_positive)
    payload = json.dumps({"version": VERSION, "claim": c.srepr(), "key_set": key_set, "n": int(n), "z": zd.key(),
                          "timeout_ms": int(timeout_ms), "symmetry": bool(symmetry), "max_encoding": max_encoding},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


# -- symmetry: pinned areas and configuration representatives ------------------------------------------

def _name(s) -> str:
    return s.name if isinstance(s, sp.Symbol) else str(s)


def _index_vars(c: Claim) -> list[str]:
    names = set()
    for e in (c.lhs, c.rhs, c.condition):
        if e is not None:
            names |= {_name(s) for s in e.free_symbols}
    return [n for n in _INDEX_NAMES if n in names]


def _symmetry(c: Claim) -> tuple[bool, int]:
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
    ok, K = _symmetry(c)
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


_REL_CLASS = {">=": sp.GreaterThan, "<=": sp.LessThan, ">": sp.StrictGreaterThan, "<": sp.StrictLessThan,
              "==": sp.Equality}


def _holds(lhs, op, rhs) -> bool:
    """The relation at exact numbers."""
    return {">=": lhs >= rhs, "<=": lhs <= rhs, ">": lhs > rhs, "<": lhs < rhs, "==": sp.Eq(lhs, rhs)}[op] == sp.true


# -- polarity analysis (when the conjunction alone encodes a Max exactly) ---------------------------------

def _sign(e, zsign) -> int | None:
    """1: e >= 0 on the domain; -1: e <= 0; 0: e == 0; None: unknown."""
    if isinstance(e, sp.Number):
        return 1 if e > 0 else (-1 if e < 0 else 0)
    if isinstance(e, sp.Symbol):
        return zsign if e.name.startswith("z_") else (1 if e.name.startswith("A_") else None)
    if isinstance(e, sp.Add):
        const, rest = e.as_coeff_Add()
        masses = [-t for t in sp.Add.make_args(rest)]
        if const >= 1 and all(isinstance(m, sp.Symbol) and m.name.startswith("A_") for m in masses) \
                and len(set(masses)) == len(masses):
            return 1  # 1 - (a sum of distinct masses) >= 0 on the simplex
        s = {_sign(t, zsign) for t in e.args}
        if None in s:
            return None
        if s <= {0}:
            return 0
        if s <= {0, 1}:
            return 1
        if s <= {0, -1}:
            return -1
        return None
    if isinstance(e, sp.Mul):
        out = 1
        for f in e.args:
            s = _sign(f, zsign)
            if s is None:
                return None
            out *= s
        return out
    if isinstance(e, sp.Pow):
        ex = e.exp
        if isinstance(ex, sp.Integer):
            if int(ex) % 2 == 0:
                return 1
            return _sign(e.base, zsign)
        if isinstance(ex, sp.Rational):
            return 1
        return None
    if isinstance(e, sp.Max):
        s = [_sign(x, zsign) for x in e.args]
        if any(v in (0, 1) for v in s):
            return 1
        if all(v == -1 for v in s):
            return -1
        return None
    if isinstance(e, sp.Min):
        s = [_sign(x, zsign) for x in e.args]
        if all(v in (0, 1) for v in s):
            return 1
        if any(v in (0, -1) for v in s):
            return -1
        return None
    if isinstance(e, sp.Abs):
        return 1
    return None


def _polarities(cond, rel, zsign) -> dict:
    """{Max/Min/Abs node: set of polarities}: +1 if the claim's truth is
    non-decreasing in the node's value at that occurrence, -1 non-increasing, 0 unknown."""
    out: dict = {}

    def expr(e, q):
        if isinstance(e, (sp.Max, sp.Min, sp.Abs)):
            out.setdefault(e, set()).add(q)
            if isinstance(e, sp.Abs):
                s = _sign(e.args[0], zsign)
                expr(e.args[0], q * s if s in (1, -1) else 0)
            else:
                for x in e.args:
                    expr(x, q)
            return
        if isinstance(e, sp.Add):
            for t in e.args:
                expr(t, q)
            return
        if isinstance(e, sp.Mul):
            for k, f in enumerate(e.args):
                s = _sign(sp.Mul(*(e.args[:k] + e.args[k + 1:])), zsign)
                expr(f, q * s if s in (1, -1) else 0)
            return
        if isinstance(e, sp.Pow):
            ex, s = e.exp, _sign(e.base, zsign)
            if isinstance(ex, sp.Integer) and ex > 0:
                qq = q if int(ex) % 2 == 1 else (q * s if s in (1, -1) else 0)
            elif isinstance(ex, sp.Integer) and ex < 0:
                if s == 1:
                    qq = -q
                elif s == -1:
                    qq = -q if int(ex) % 2 else q
                else:
                    qq = 0
            elif isinstance(ex, sp.Rational) and ex > 0:
                qq = q
            else:
                qq = 0
            expr(e.base, qq)
            return
        for x in e.args:
            expr(x, 0)

    def boolean(e, p):
        if isinstance(e, sp.Implies):
            boolean(e.args[0], -p)
            boolean(e.args[1], p)
        elif isinstance(e, (sp.And, sp.Or)):
            for x in e.args:
                boolean(x, p)
        elif isinstance(e, sp.Not):
            boolean(e.args[0], -p)
        elif isinstance(e, (sp.GreaterThan, sp.StrictGreaterThan)):
            expr(e.lhs, p)
            expr(e.rhs, -p)
        elif isinstance(e, (sp.LessThan, sp.StrictLessThan)):
            expr(e.lhs, -p)
            expr(e.rhs, p)
        elif isinstance(e, sp.Basic):
            for x in e.args:
                expr(x, 0) if isinstance(x, sp.Expr) else boolean(x, 0)

    boolean(cond, -1)
    boolean(rel, 1)
    return out


# -- z3 encoding ------------------------------------------------------------------------------------------

class _Encoder:
    def __init__(self, polarity: dict, max_encoding: str):
        self.vars: dict[str, z3.ArithRef] = {}
        self.side: list = []        # definitions of fresh variables
        self.defined: list = []     # domain of definition (denominators != 0)
        self.fresh: dict = {}
        self.polarity = polarity
        self.max_encoding = max_encoding
        self.notes: dict[str, str] = {}
        self.relaxed = False        # some Max/Min/Abs has the conjunction only

    def var(self, name: str):
        if name not in self.vars:
            self.vars[name] = z3.Real(name)
        return self.vars[name]

    def __call__(self, e):
        if e is sp.true:
            return z3.BoolVal(True)
        if e is sp.false:
            return z3.BoolVal(False)
        if isinstance(e, sp.Rational):  # Integer included
            return z3.Q(int(e.p), int(e.q)) if e.q != 1 else z3.RealVal(int(e.p))
        if isinstance(e, sp.Float):
            r = sp.Rational(e)
            return z3.Q(int(r.p), int(r.q))
        if isinstance(e, sp.Symbol):
            return self.var(e.name)
        if isinstance(e, sp.Add):
            return z3.Sum([self(t) for t in e.args])
        if isinstance(e, sp.Mul):
            return z3.Product([self(t) for t in e.args])
        if isinstance(e, sp.Pow):
            return self.pow(e)
        if isinstance(e, (sp.Max, sp.Min, sp.Abs)):
            return self.extremum(e)
        if isinstance(e, sp.GreaterThan):
            return self(e.lhs) >= self(e.rhs)
        if isinstance(e, sp.StrictGreaterThan):
            return self(e.lhs) > self(e.rhs)
        if isinstance(e, sp.LessThan):
            return self(e.lhs) <= self(e.rhs)
        if isinstance(e, sp.StrictLessThan):
            return self(e.lhs) < self(e.rhs)
        if isinstance(e, sp.Equality):
            return self(e.lhs) == self(e.rhs)
        if isinstance(e, sp.Unequality):
            return self(e.lhs) != self(e.rhs)
        if isinstance(e, sp.And):
            return z3.And([self(x) for x in e.args])
        if isinstance(e, sp.Or):
            return z3.Or([self(x) for x in e.args])
        if isinstance(e, sp.Not):
            return z3.Not(self(e.args[0]))
        if isinstance(e, sp.Implies):
            return z3.Implies(self(e.args[0]), self(e.args[1]))
        raise UnsupportedClaim(f"cannot encode {type(e).__name__}: {e}")

    @staticmethod
    def _power(x, n: int):
        return z3.Product([x] * n) if n > 1 else (x if n == 1 else z3.RealVal(1))

    def pow(self, e):
        ex = e.exp
        if isinstance(ex, sp.Integer):
            n = int(ex)
            base = self(e.base)
            if n >= 0:
                return self._power(base, n)
            self.defined.append(base != 0)
            return 1 / self._power(base, -n)
        if isinstance(ex, sp.Rational) and ex.q == 2:
            key = ("sqrt", e.base)
            if key not in self.fresh:
                s = z3.Real(f"_sqrt{len(self.fresh)}")
                self.side += [s >= 0, s * s == self(e.base)]
                self.fresh[key] = s
            s, n = self.fresh[key], int(ex.p)
            if n >= 0:
                return self._power(s, n)
            self.defined.append(s != 0)
            return 1 / self._power(s, -n)
        raise UnsupportedClaim(f"only integer and half-integer powers are supported: {e}")

    def extremum(self, e):
        if e in self.fresh:
            return self.fresh[e]
        m = z3.Real(f"_m{len(self.fresh)}")
        self.fresh[e] = m
        args = [self(x) for x in e.args] if not isinstance(e, sp.Abs) else [self(e.args[0]), -self(e.args[0])]
        is_min = isinstance(e, sp.Min)
        self.side += [m <= x if is_min else m >= x for x in args]
        good = -1 if is_min else 1
        pols = self.polarity.get(e, {0})
        if self.max_encoding == "conjunction" or (self.max_encoding == "auto" and pols == {good}):
            self.relaxed = True
            self.notes[str(e)] = ("conjunction only (" + ("m <= each argument" if is_min else "m >= each argument")
                                  + (": the claim is monotone in it, so this is exact)" if pols == {good}
                                     else ": forced; sound for PROVED only)"))
        else:
            self.side.append(z3.Or([m == x for x in args]))
            why = "forced" if self.max_encoding == "exact" else (
                "it occurs on the lower-bound side" if (-good) in pols else "its polarity is unknown")
            self.notes[str(e)] = f"conjunction + disjunction m == one argument ({why})"
        return m


# -- one configuration -------------------------------------------------------------------------------------

def _model_fraction(v) -> Fraction | None:
    if z3.is_rational_value(v):
        return Fraction(v.numerator_as_long(), v.denominator_as_long())
    return None


def _solve(solver, point_vars):
    """check(); on sat, a rational model of point_vars (pinning algebraic values)."""
    r = solver.check()
    if r != z3.sat:
        return r, None
    model = solver.model()
    values = {}
    solver.push()
    try:
        for name, v in point_vars.items():
            val = model.eval(v, model_completion=True)
            fr = _model_fraction(val)
            if fr is not None:
                values[name] = fr
                solver.add(v == z3.Q(fr.numerator, fr.denominator))
                continue
            for digits in (12, 24, 48):  # an algebraic value: pin a nearby rational if the rest still fits
                approx = val.approx(digits)
                fr = Fraction(approx.numerator_as_long(), approx.denominator_as_long())
                solver.push()
                solver.add(v == z3.Q(fr.numerator, fr.denominator))
                if solver.check() == z3.sat:
                    model = solver.model()
                    values[name] = fr
                    break
                solver.pop()
            else:
                return z3.sat, None
    finally:
        while solver.num_scopes() > 0:
            solver.pop()
    return z3.sat, values


#: the formulations tried in turn (nlsat's running time varies wildly between equivalent
#: formulations; see the module docstring): sorted free masses or not, the last mass
#: eliminated through the simplex equation or not
VARIANTS = ("plain", "sorted", "plain+elim", "sorted+elim")
#: below this per-conjunct budget only the first formulation is tried, once
MIN_PORTFOLIO_MS = 1000


def _make_solver(timeout_ms: int):
    solver = z3.SolverFor("QF_NRA")
    solver.set("timeout", max(1, int(timeout_ms)))
    return solver


def _conjuncts(rel) -> list:
    """Relations whose conjunction is equivalent to ``rel``: a maximum or an absolute
    value on the bounded side is split exactly (``|x| <= B`` iff ``x <= B`` and
    ``-x <= B``; ``max x_k <= B`` iff every ``x_k <= B``; mirrored for ``>=``, ``Min``)."""
    lhs, rhs = rel.lhs, rel.rhs
    cls = type(rel)
    if cls in (sp.LessThan, sp.StrictLessThan):
        if isinstance(lhs, sp.Abs):
            return _conjuncts(cls(lhs.args[0], rhs, evaluate=False)) + _conjuncts(cls(-lhs.args[0], rhs,
                                                                                       evaluate=False))
        if isinstance(lhs, sp.Max):
            return [p for x in lhs.args for p in _conjuncts(cls(x, rhs, evaluate=False))]
        if isinstance(rhs, sp.Min):
            return [p for x in rhs.args for p in _conjuncts(cls(lhs, x, evaluate=False))]
    if cls in (sp.GreaterThan, sp.StrictGreaterThan):
        if isinstance(rhs, sp.Abs):
            return _conjuncts(cls(lhs, rhs.args[0], evaluate=False)) + _conjuncts(cls(lhs, -rhs.args[0],
                                                                                       evaluate=False))
        if isinstance(rhs, sp.Max):
            return [p for x in rhs.args for p in _conjuncts(cls(lhs, x, evaluate=False))]
        if isinstance(lhs, sp.Min):
            return [p for x in lhs.args for p in _conjuncts(cls(x, rhs, evaluate=False))]
    return [rel]


def _prepare_negation(part, zsign) -> dict:
    """How to state ``not part`` (on the domain).  For a non-strict inequality or
    an equality, ``g = lhs - rhs`` (or ``rhs - lhs``) is factored and factors of
    known sign on the domain are split off: with ``g = sigma * prod f_k^e_k * rest``
    and every f_k of known sign, ``g < 0`` iff every ``f_k != 0`` and
    ``sigma * rest < 0`` (``g != 0`` iff every ``f_k != 0`` and ``rest != 0``).  An
    equivalent query of lower degree, which nlsat often decides much faster.
    Factors containing a Max/Min/Abs are never split (their relaxed encodings need
    not keep the sign)."""
    cls = type(part)
    if cls in (sp.GreaterThan, sp.LessThan, sp.Equality):
        g = part.lhs - part.rhs if cls is not sp.LessThan else part.rhs - part.lhs
        opaque = {e: sp.Dummy() for e in g.atoms(sp.Max, sp.Min, sp.Abs)}
        gd = sp.expand(g.xreplace(opaque))
        syms = sorted(gd.free_symbols, key=str)
        if syms and gd.is_polynomial(*syms):
            back = {v: k for k, v in opaque.items()}
            coeff, factors = sp.factor_list(gd)
            sigma, conds, rest, split = 1, [], [], []
            for f, e in factors:
                s = None if f.free_symbols & set(back) else _sign(f, zsign)
                if s in (1, -1) or (e % 2 == 0 and not f.free_symbols & set(back)):
                    if s in (1, -1):
                        sigma *= s ** e
                    conds.append((f, s if s in (1, -1) else 0))
                    split.append(str(f) if e == 1 else f"({f})**{e}")
                else:
                    rest.append(f.xreplace(back) ** e)
            if split:
                return {"kind": "split", "conds": conds, "rest": sp.Mul(coeff * sigma, *rest),
                        "equality": cls is sp.Equality,
                        "note": "split off factors of known sign: " + ", ".join(split)}
    return {"kind": "plain", "part": part, "note": None}


def _negation(prepared: dict, enc: _Encoder):
    """The z3 formula of :func:`_prepare_negation`'s plan."""
    if prepared["kind"] == "plain":
        return z3.Not(enc(prepared["part"]))
    conds = [enc(f) > 0 if s == 1 else (enc(f) < 0 if s == -1 else enc(f) != 0) for f, s in prepared["conds"]]
    r = enc(prepared["rest"])
    return z3.And(*conds, r != 0 if prepared["equality"] else r < 0)


def _decide_config(c: Claim, n: int, env: dict, key_set: str, zd: _ZDomain, timeout_ms: int, symmetry: bool,
                   sym_ok: bool, K: int, max_encoding: str) -> dict:
    t0 = time.perf_counter()
    got = _instantiate_claim(c, n, env, key_set)
    if isinstance(got, str):
        return {"status": None, "reason": got}
    lhs, rhs, cond = got
    rel = _REL_CLASS[c.op](lhs, rhs, evaluate=False)
    parts = _conjuncts(rel)
    out = {"indices": dict(env), "instance": (lhs, c.op, rhs, cond), "encoding": {}}
    if len(parts) > 1:
        out["encoding"]["conclusion"] = f"split exactly into {len(parts)} conjuncts (a max/abs on the bounded side)"
    pending = []
    for part in parts:
        r = _refute(part, (lhs, c.op, rhs, cond), n, env, key_set, zd, timeout_ms / len(parts),
                    symmetry and sym_ok, K, max_encoding, out["encoding"])
        if r["status"] == REFUTED:
            out.update(r)
            break
        if r["status"] == INCONCLUSIVE:
            pending.append(r["reason"])
    else:
        if pending:
            out.update(status=INCONCLUSIVE, reason="; ".join(dict.fromkeys(pending)))
        else:
            out.update(status=PROVED, reason="z3: unsat" + (f" for each of the {len(parts)} conjuncts"
                                                            if len(parts) > 1 else ""))
    out["seconds"] = time.perf_counter() - t0
    return out


def _refute(part, original, n, env, key_set, zd, timeout_ms, sym, K, max_encoding, notes) -> dict:
    """Look for a counterexample to ``condition => part`` with each formulation of
    :data:`VARIANTS` in turn: a first round with a quarter of the time shared out,
    then a second with the rest."""
    lhs, op, rhs, cond = original
    pol = _polarities(cond, part, zd.sign())
    prepared = _prepare_negation(part, zd.sign())
    reasons = []
    if timeout_ms >= MIN_PORTFOLIO_MS:
        variants = VARIANTS
        rounds = (timeout_ms / (4 * len(VARIANTS)), 3 * timeout_ms / (4 * len(VARIANTS)))
    else:  # too short to share out (a z3 check costs ~0.1-0.3 s of set-up whatever its timeout)
        variants, rounds = VARIANTS[:1], (timeout_ms,)
    for slice_ms in rounds:
        for variant in variants:
            for mode in (max_encoding, "exact"):
                r, values, enc = _query(prepared, cond, pol, mode, variant, n, env, key_set, zd, slice_ms, sym, K)
                for k, v in enc.notes.items():
                    notes.setdefault(k, v)
                if r == z3.unsat:
                    return {"status": PROVED}
                if r == z3.unknown:
                    reasons.append(f"z3: unknown ({enc.reason})")
                    break
                if values is None:
                    reasons.append("z3: sat, but its model is irrational and no nearby rational point was confirmed")
                    break
                ce = _confirm(lhs, op, rhs, cond, values, n, key_set, env, zd)
                if ce is not None:
                    ce.instance = original
                    return {"status": REFUTED, "counterexample": ce,
                            "reason": "z3: sat; counterexample confirmed in SymPy with Rationals"}
                if enc.relaxed and mode == "auto":
                    continue  # a spurious relaxed model: re-solve with the exact encoding
                reasons.append("z3: sat, but the model does not refute the claim when recomputed in SymPy"
                               + (" (conjunction-only max encoding: the model's maximum exceeds the true one)"
                                  if enc.relaxed else ""))
                return {"status": INCONCLUSIVE, "reason": reasons[-1]}
    return {"status": INCONCLUSIVE, "reason": "; ".join(dict.fromkeys(reasons))}


def _query(prepared, cond, pol, mode, variant, n, env, key_set, zd, timeout_ms, sym, K):
    """One z3 check of: domain, condition, not part.  Returns (result, rational point or None, encoder)."""
    enc = _Encoder(pol, mode)
    zs = [enc.var(f"z_{k}") for k in range(1, n + 1)]
    elim = "elim" in variant
    if elim:  # the last mass is 1 minus the others
        As = [enc.var(f"A_{k}") for k in range(1, n + (1 if key_set == "B" else 0))]
        last = 1 - z3.Sum(As) if As else z3.RealVal(1)
        if key_set == "B":
            enc.vars["A_0"] = last
        else:
            enc.vars[f"A_{n}"] = last
            As.append(last)
    else:
        As = [enc.var(f"A_{k}") for k in range(1, n + 1)]
    point_vars = {f"z_{k}": zs[k - 1] for k in range(1, n + 1)}
    point_vars.update({f"A_{k}": As[k - 1] for k in range(1, n + 1)})
    domain = [x >= 0 for x in As]
    if key_set == "B":
        a0 = enc.var("A_0")
        point_vars["A_0"] = a0
        domain += [a0 >= 0] + ([] if elim else [z3.Sum([*As, a0]) == 1])
    elif not elim:
        domain.append(z3.Sum(As) == 1)
    for zk in zs:
        if zd.lower is not None:
            lo = z3.Q(zd.lower.numerator, zd.lower.denominator)
            domain.append(zk > lo if zd.strict_lower else zk >= lo)
        if zd.upper is not None:
            domain.append(zk <= z3.Q(zd.upper.numerator, zd.upper.denominator))
    if sym and "sorted" in variant:
        free = [k for k in range(K + 1, n + 1) if k not in env.values()]
        domain += [As[k - 1] >= As[k2 - 1] for k, k2 in itertools.pairwise(free)]
    negated = _negation(prepared, enc)
    if prepared["note"]:
        enc.notes.setdefault("negation", prepared["note"])
    hyp = enc(cond)
    solver = _make_solver(timeout_ms)
    solver.add(*domain, *enc.side, *enc.defined, hyp, negated)
    r, values = _solve(solver, point_vars)
    enc.reason = solver.reason_unknown() if r == z3.unknown else ""
    return r, values, enc


def _confirm(lhs, op, rhs, cond, values: dict, n, key_set, env, zd: _ZDomain) -> Counterexample | None:
    """The counterexample, if the point is in the domain and refutes the claim exactly."""
    vals = dict(values)
    vals.setdefault("A_0", Fraction(0))
    As = [vals[f"A_{k}"] for k in range(1, n + 1)]
    zs = [vals[f"z_{k}"] for k in range(1, n + 1)]
    if any(x < 0 for x in As) or vals["A_0"] < 0 or sum(As) + vals["A_0"] != 1:
        return None
    if key_set == "A" and vals["A_0"] != 0:
        return None
    for zk in zs:
        if zd.lower is not None and (zk <= zd.lower if zd.strict_lower else zk < zd.lower):
            return None
        if zd.upper is not None and zk > zd.upper:
            return None
    sub = {sp.Symbol(k): sp.Rational(v.numerator, v.denominator) for k, v in vals.items()}
    try:
        lv, rv, cv = (sp.sympify(e).xreplace(sub) for e in (lhs, rhs, cond))
        if cv not in (sp.true, sp.false):
            cv = sp.simplify(cv)
        if cv is not sp.true or lv.free_symbols or rv.free_symbols or lv.has(sp.zoo, sp.nan) \
                or rv.has(sp.zoo, sp.nan) or _holds(lv, op, rv):
            return None
    except (TypeError, ValueError):
        return None
    conv = (lambda x: Fraction(int(x.p), int(x.q)) if isinstance(x, sp.Rational) else x)
    return Counterexample(n, key_set, dict(env), tuple(zs), tuple(As), vals["A_0"], conv(lv), conv(rv), op)


# -- the decision procedure ------------------------------------------------------------------------------

def decide(claim, *, key_set: str, n_max: int, z_interval=None, z_positive: bool = False,
           timeout_ms: int = 10_000, n_min: int = 1, budget_s: float | None = None, symmetry: bool = True,
           max_encoding: str = "auto") -> list[Decision]:
    """Decide ``claim`` for N = n_min..n_max areas (from the claim's minimum N on).

    ``timeout_ms`` is the z3 time of each configuration of the indices (shared
    among its conjuncts and formulations; a REFUTED answer adds a few checks to
    make the model rational);
    ``budget_s`` bounds the whole call: N values not started within it come back
    INCONCLUSIVE ("time budget exhausted"), never dropped.  See the module
    docstring for the domain, the encoding and the meaning of each outcome."""
    if key_set not in KEY_SETS:
        raise ValueError(f"key_set must be one of {KEY_SETS}, got {key_set!r}")
    if max_encoding not in MAX_ENCODINGS:
        raise ValueError(f"max_encoding must be one of {MAX_ENCODINGS}, got {max_encoding!r}")
    c = as_claim(claim)
    zd = _ZDomain.make(z_interval, z_positive)
    sym_ok, K = _symmetry(c)
    start = time.perf_counter()
    out: list[Decision] = []
    for n in range(max(1, n_min), n_max + 1):
        key = decision_key(c, key_set=key_set, n=n, z_interval=z_interval, z_positive=z_positive,
                           timeout_ms=timeout_ms, symmetry=symmetry, max_encoding=max_encoding)
        scope = _scope(n, key_set, zd)
        if budget_s is not None and time.perf_counter() - start > budget_s:
            if _has_configuration(c, n, key_set, symmetry):
                out.append(Decision(INCONCLUSIVE, n, scope, reason=f"time budget of {budget_s} s exhausted "
                                                                   f"before N = {n} was tried", key=key))
            continue
        t0 = time.perf_counter()
        results, status, ce, reason, encoding = [], PROVED, None, "z3: unsat for every configuration", {}
        for env in configurations(c, n, symmetry):
            r = _decide_config(c, n, env, key_set, zd, timeout_ms, symmetry, sym_ok, K, max_encoding)
            if r["status"] is None:
                continue
            results.append({"indices": r["indices"], "status": r["status"], "seconds": round(r["seconds"], 6),
                            "reason": r["reason"]})
            for k, v in r.get("encoding", {}).items():
                encoding.setdefault(k, v)
            if r["status"] == REFUTED:
                status, ce, reason = REFUTED, r["counterexample"], r["reason"]
                break
            if r["status"] == INCONCLUSIVE and status == PROVED:
                status, reason = INCONCLUSIVE, f"{r['reason']} at indices {r['indices']}"
        if not results:
            continue  # below the claim's minimum N: no configuration exists
        out.append(Decision(status, n, scope, ce, reason, time.perf_counter() - t0, results, key, encoding))
    return out


def _has_configuration(c: Claim, n: int, key_set: str, symmetry: bool) -> bool:
    return any(not isinstance(_instantiate_claim(c, n, env, key_set), str) for env in configurations(c, n, symmetry))


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


def _instantiate_claim(c: Claim, n: int, env: dict, key_set: str):
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


def largest_proved(decisions: Sequence[Decision]) -> int | None:
    """The largest N such that the claim is PROVED for every decided N up to it
    (from the first N reported), or None if the first is not PROVED."""
    best = None
    for d in sorted(decisions, key=lambda d: d.n):
        if d.status != PROVED:
            break
        best = d.n
    return best


# -- realizing masses by logits ---------------------------------------------------------------------------

def realize(counterexample, *, key_set: str | None = None, epsilon=Fraction(1, 10 ** 6)) -> dict:
    """Per-group log-weights whose softmax gives the masses.

    ``counterexample`` is a :class:`Counterexample` or a sequence ``(A_0, A_1..A_N)``
    of exact numbers on the closed simplex (``key_set`` defaults to the
    counterexample's, else "A" when A_0 == 0 and "B" otherwise).  The groups are
    the areas 1..N, plus the masked keys (A_0) in key set B.

    If every group's mass is > 0 the point is realizable: ``w_g = log A_g``
    (SymPy, exact) and ``softmax(w) = masses`` exactly.  A group with mass exactly
    0 cannot get it from finite logits (softmax is positive), so the point is not
    realizable by correlations; the realizable points are the interior ones,
    which come arbitrarily close, and the function returns
    ``(1 - eps) * masses + eps * uniform`` with ``flagged = True`` and its exact
    L-infinity / L1 distances (at most eps / 2 eps).  (In the model an area's
    mass is also exactly 0 when every patch of it is masked, u_j = 0: an
    instance builder may realize such a zero by a mask instead.  In key set B,
    A_0 > 0 always, since the masked query is itself a key.)  For a
    counterexample the result says whether the claim still fails at the
    returned point (``still_refutes``); eps is shrunk (eps, eps^2, eps^4) while
    it does not.  A group with n_g keys gets mass softmax(w)_g from
    ``Ups_{p->q} = w_g - log n_g - z_g Phi_{p->v_g}`` on each of its keys."""
    ce = counterexample if isinstance(counterexample, Counterexample) else None
    masses = [_fraction(x) for x in (ce.masses if ce is not None else counterexample)]
    if key_set is None:
        key_set = ce.key_set if ce is not None else ("A" if masses[0] == 0 else "B")
    if key_set not in KEY_SETS:
        raise ValueError(f"key_set must be one of {KEY_SETS}, got {key_set!r}")
    if any(x < 0 for x in masses) or sum(masses) != 1:
        raise ValueError(f"masses {masses} are not on the simplex")
    if key_set == "A" and masses[0] != 0:
        raise ValueError("key set A has no masked keys: A_0 must be 0")
    names = [f"A_{k}" for k in range(len(masses))]
    groups = names[1:] if key_set == "A" else names
    gm = {g: masses[int(g[2:])] for g in groups}
    zero = [g for g in groups if gm[g] == 0]
    eps = _fraction(epsilon)
    if not 0 < eps < 1:
        raise ValueError("epsilon must lie in (0, 1)")

    def moved(e):
        return {g: (1 - e) * gm[g] + e / len(groups) for g in groups}

    realized, used, still = dict(gm), Fraction(0), None
    if zero:
        for t in range(3):
            e = eps ** (2 ** t)
            realized, used = moved(e), e
            still = _still_refutes(ce, realized, key_set) if ce is not None else None
            if still is not False:
                break
    elif ce is not None:
        still = _still_refutes(ce, realized, key_set)
    logits = {g: sp.log(sp.Rational(m.numerator, m.denominator)) for g, m in realized.items()}
    linf = max(abs(realized[g] - gm[g]) for g in groups)
    l1 = sum(abs(realized[g] - gm[g]) for g in groups)
    flag = None
    if zero:
        flag = (f"{', '.join(zero)} exactly 0: not realizable by finite logits (softmax is positive); returned the "
                f"interior point at L-inf distance {linf} (eps = {used})")
        if still is False:
            flag += "; the claim does NOT fail there: it fails only on the boundary near this point"
    return {"key_set": key_set, "groups": tuple(groups), "masses": dict(gm), "realized_masses": realized,
            "log_weights": logits, "log_weights_float": {g: float(w) for g, w in logits.items()},
            "interior": not zero, "flagged": bool(zero), "flag": flag, "distance_linf": linf, "distance_l1": l1,
            "epsilon": used, "exact": not zero, "still_refutes": still,
            "pp_recipe": "Ups_{p->q} = w_g - log n_g - z_g Phi_{p->v_g} on each of the n_g keys of group g"}


def _still_refutes(ce: Counterexample, realized: dict, key_set: str) -> bool | None:
    if ce.instance is None:
        return None
    lhs, op, rhs, cond = ce.instance
    sub = {sp.Symbol(f"z_{k}"): sp.Rational(v.numerator, v.denominator) for k, v in enumerate(ce.z, 1)}
    sub.update({sp.Symbol(g): sp.Rational(m.numerator, m.denominator) for g, m in realized.items()})
    if key_set == "A":
        sub[sp.Symbol("A_0")] = sp.Integer(0)
    lv, rv, cv = (sp.sympify(e).xreplace(sub) for e in (lhs, rhs, cond))
    if cv not in (sp.true, sp.false):
        cv = sp.simplify(cv)
    return bool(cv is sp.true and not _holds(lv, op, rv))
