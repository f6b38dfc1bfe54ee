"""The generic event (SPEC §2-§8): one event's loss with each area entering only
through aggregates, so that an identity proved on it holds for every area size
and every mask; and the reduced event that makes the number of areas a
polynomial parameter (docs/generic-event.md has the whole argument).

For an event of cluster k with N areas and a masked query p of target area a,
area i enters the softmax only through ``E_i = exp(z_i phi_i) W_i`` (W_i the
summed exp(ups_q) of its visible keys) and the masked keys through W_0, so
``A_i = E_i / Z``, ``A_0 = W_0 / Z``.  A PP coordinate's key q is split off
its group.  The scales z_i are free real symbols: nothing here uses z > 0
unless a proof's scope says so.  :mod:`proofcheck.engine.generic_proof` runs
the proofs; this module builds the events, instantiates closed forms on them
and finds exact rational counterexamples.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp


# the lemma vocabulary (z free real: no proof may silently use z > 0); callers' symbols are
# matched to it by name, so a closed form built with other assumptions on its symbols still applies
from proofcheck.lang.symbols import A, A0, N, a, attn_q, b, i, j, u_q, z  # noqa: E402


_BY_NAME = {"A_0": A0, "N": N, "i": i, "j": j, "a": a, "b": b, "attn_q": attn_q, "u_q": u_q}
_BASES = {"z": z, "A": A}
COORDINATES = ("fp", "pp", "q")
KEY_SETS = ("A", "B")

# internal symbols of the generic event
_iZ = sp.Symbol("iZ", positive=True)   # 1/Z
_Zo = sp.Symbol("Zo", positive=True)   # sum of E_i over the non-distinguished areas
_S2o = sp.Symbol("S2o", positive=True)  # sum of z_i^2 E_i^2 over them
_phi = sp.Symbol("phi_x", real=True)   # the differentiated FP correlation
_ups = sp.Symbol("ups_q", real=True)   # the differentiated PP correlation
_DISCONTINUOUS = (sp.Piecewise, sp.Heaviside, sp.sign, sp.floor, sp.ceiling, sp.frac)


@dataclass(frozen=True)
class GenericProof:
    """Outcome of :func:`prove_all_areas`.

    proved: True (proved on the whole scope), False (refuted: see counterexample),
        None (inconclusive: see detail).
    scope: ``areas`` ("all" or the largest N covered), ``area_sizes`` ("all"),
        ``masks`` ("all"), ``key_sets`` (list), ``z`` ("free symbols", or "positive"
        when the proof needed z > 0).
    degree_bound: the d of the counting argument (max over configurations; None
        for the bounded-N fallback).
    cases_checked: short strings, one per configuration and key set.
    counterexample: None, or a dict: N, a, j or b (and u_q), key_set, case, the
        exact rationals z, weights (E_i = exp(z_i phi_i) * sum exp(ups) of area i's
        visible keys, W_0, and for PP e_q, E_b_rest / w_q, W_0_rest), masses
        (A_i, A_0, attn_q) at which the two sides differ, and both values
        (``derivative`` = -dl/d(coordinate), ``closed_form``).
    seconds: wall time of this call.
    detail: one line on how the result was reached.
    """

    proved: bool | None
    scope: dict
    degree_bound: int | None
    cases_checked: list = field(default_factory=list)
    counterexample: dict | None = None
    seconds: float = 0.0
    detail: str = ""


class _Unsupported(Exception):
    """The closed form is outside the class of the all-areas argument."""


class _Vocabulary(Exception):
    """The closed form uses a symbol the coordinate does not define."""


# -- normalising callers' expressions -----------------------------------------------------

def _normalise(expr):
    """Map the vocabulary's symbols, whatever their assumptions, onto this module's by name."""
    expr = sp.sympify(expr)
    syms = {s: _BY_NAME[s.name] for s in expr.atoms(sp.Symbol) if s.name in _BY_NAME}
    expr = expr.xreplace(syms)
    rep = {}
    for ind in expr.atoms(sp.Indexed):
        name = str(ind.base.label)
        if name in _BASES and ind.base is not _BASES[name]:
            rep[ind] = _BASES[name][ind.indices]
    return expr.xreplace(rep) if rep else expr


def _bound_symbols(expr) -> set:
    out = set()
    for s in expr.atoms(sp.Sum, sp.Product):
        out |= {lim[0] for lim in s.limits}
    return out


def _check_vocabulary(expr, coordinate: str):
    allowed = {A0, N, a, attn_q, u_q, b, j}
    if coordinate == "fp":
        allowed -= {b, attn_q, u_q}
    else:
        allowed -= {j}
    bound = _bound_symbols(expr)
    labels = {z.label, A.label}
    for s in expr.atoms(sp.Symbol):
        if s in labels or s in bound or s in allowed:
            continue
        raise _Vocabulary(f"closed form uses {s}, which a {coordinate} coordinate does not define")
    for ind in expr.atoms(sp.Indexed):
        if ind.base not in (z, A):
            raise _Vocabulary(f"closed form uses {ind.base}, which is not in the vocabulary")


# -- the degree walk (section 2 of the module docstring) ----------------------------------

def _walk(e, idx: frozenset) -> tuple[int, int]:
    """(tau, emax) of a polynomial vocabulary expression: tau = max over monomials
    of (number of summation indices - mass degree), emax = max mass degree.
    Raises _Unsupported outside the accepted class."""
    if e.is_Number:
        if e.is_Rational or e.is_Float:
            return 0, 0
        raise _Unsupported(f"constant {e}")
    if isinstance(e, sp.Indexed):
        if len(e.indices) != 1 or e.indices[0] not in idx:
            raise _Unsupported(f"{e}: areas may only be named by a, j, b or a summation index")
        return (0, 0) if e.base is z else (-1, 1)
    if e in (A0, attn_q):
        return -1, 1
    if e == u_q:
        return 0, 0
    if e == N:
        return 1, 0
    if isinstance(e, sp.KroneckerDelta):
        if all(x in idx for x in e.args):
            return 0, 0
        raise _Unsupported(f"{e}: delta of something other than area labels")
    if e.is_Symbol:
        raise _Unsupported(f"the label {e} enters as a number")
    if e.is_Add:
        parts = [_walk(x, idx) for x in e.args]
        return max(p[0] for p in parts), max(p[1] for p in parts)
    if e.is_Mul:
        parts = [_walk(x, idx) for x in e.args]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    if e.is_Pow:
        n = e.exp
        if not (n.is_Integer and n >= 0):
            raise _Unsupported(f"power {e.exp} (only non-negative integer powers)")
        t, m = _walk(e.base, idx)
        return int(n) * t, int(n) * m
    if isinstance(e, sp.Sum):
        new = set(idx)
        for lim in e.limits:
            if len(lim) != 3 or lim[1] != 1 or lim[2] != N:
                raise _Unsupported(f"Sum limits {lim} (only (i, 1, N))")
            new.add(lim[0])
        t, m = _walk(e.function, frozenset(new))
        return t + len(e.limits), m
    raise _Unsupported(f"{type(e).__name__}")


# -- instantiation ------------------------------------------------------------------------

def _expand_sums(e):
    """Expand Sums and Products with concrete limits into Adds and Muls."""
    if isinstance(e, (sp.Sum, sp.Product)):
        return _expand_limits(e.function, list(e.limits), sp.Add if isinstance(e, sp.Sum) else sp.Mul)
    if not e.args or isinstance(e, (sp.Indexed, sp.IndexedBase)):
        return e
    return e.func(*[_expand_sums(x) for x in e.args])


def _expand_limits(f, limits, op):
    if not limits:
        return _expand_sums(f)
    v, lo, hi = limits[-1]
    if not (lo.is_Integer and hi.is_Integer):
        raise _Unsupported(f"limits ({lo}, {hi}) are not concrete at this N")
    terms = []
    for k in range(int(lo), int(hi) + 1):
        inner = [(w, l2.xreplace({v: k}), h2.xreplace({v: k})) for (w, l2, h2) in limits[:-1]]
        terms.append(_expand_limits(f.xreplace({v: k}), inner, op))
    return op(*terms)


@dataclass(frozen=True)
class _Event:
    """The generic event at N areas and one configuration, with the derivative."""

    coordinate: str
    key_set: str
    N: int
    a: int
    x: int          # j (fp) or b (pp)
    u: int | None   # u_q (pp)
    deriv: sp.Expr  # -dl/d(coordinate), a polynomial in iZ
    Zexpr: sp.Expr
    masses: tuple   # ((A[k], expr), ..., (A0, expr), (attn_q, expr))
    weights: tuple  # ((name, expr), ...) aggregate weights for reports
    others: tuple   # the non-distinguished areas
    E: tuple        # ((k, E_k expr), ...)
    free: tuple     # the free variables (z's and raw weight symbols)


def _pos(name):
    return sp.Symbol(name, positive=True)


def _chain(loss, Zexpr, theta):
    """-d loss/d theta with loss a function of theta and iZ = 1/Z(theta)."""
    dl = sp.diff(loss, theta) + sp.diff(loss, _iZ) * (-_iZ ** 2) * sp.diff(Zexpr, theta)
    return -dl


@lru_cache(maxsize=None)
def _event(coordinate: str, key_set: str, n: int, a_: int, x_: int, u: int | None, zpos: bool = False) -> _Event:
    zs = {k: (_pos(f"zp_{k}") if zpos else z[k]) for k in range(1, n + 1)}
    E, raw = {}, []
    P = w = None
    if coordinate == "fp":
        for k in range(1, n + 1):
            if k == x_:
                Wx = _pos(f"W_{k}")
                raw.append(Wx)
                E[k] = sp.exp(zs[k] * _phi) * Wx
            else:
                E[k] = _pos(f"E_{k}")
                raw.append(E[k])
        W0 = _pos("W_0") if key_set == "B" else sp.Integer(0)
        if key_set == "B":
            raw.append(W0)
        theta = _phi
    else:
        w = sp.exp(_ups)
        for k in range(1, n + 1):
            if k == x_ and u == 1:
                P, rest = _pos(f"P_{k}"), _pos(f"W_{k}_rest")
                raw += [P, rest]
                E[k] = P * (w + rest)
            else:
                E[k] = _pos(f"E_{k}")
                raw.append(E[k])
        if key_set == "B":
            rest0 = _pos("W_0_rest")
            raw.append(rest0)
            W0 = w + rest0 if u == 0 else rest0
        else:
            W0 = sp.Integer(0)
        theta = _ups
    Zexpr = W0 + sp.Add(*E.values())
    loss = sp.Rational(1, 2) * sp.Add(*[(zs[f] * (1 if f == a_ else 0) - zs[f] * E[f] * _iZ) ** 2
                                        for f in range(1, n + 1)])
    deriv = _chain(loss, Zexpr, theta)
    wq = _pos("w_q")
    # back from the correlation to the exponential: exp(z_x phi) = P_x, exp(ups_q) = w_q
    if coordinate == "fp":
        rep = {_phi: sp.log(_pos(f"P_{x_}")) / zs[x_]}
        raw.append(_pos(f"P_{x_}"))
    else:
        rep = {_ups: sp.log(wq)}
        raw.append(wq)
    deriv = sp.expand(deriv.xreplace(rep))
    Epost = {k: sp.expand(v.xreplace(rep)) for k, v in E.items()}
    W0post = W0.xreplace(rep)
    Zpost = W0post + sp.Add(*Epost.values())
    masses = [(A[k], Epost[k] * _iZ) for k in range(1, n + 1)] + [(A0, W0post * _iZ)]
    weights = [(f"E_{k}", Epost[k]) for k in range(1, n + 1)]
    if key_set == "B":
        weights.append(("W_0", W0post))
    if coordinate == "pp":
        eq = P * wq if u == 1 else wq
        masses.append((attn_q, eq * _iZ))
        if u == 1:
            weights += [("e_q", eq), ("E_b_rest", P * raw[raw.index(P) + 1])]
        else:
            weights += [("w_q", wq), ("W_0_rest", _pos("W_0_rest"))]
    dist = {a_, x_}
    free = tuple(zs[k] for k in range(1, n + 1)) + tuple(dict.fromkeys(raw))
    return _Event(coordinate, key_set, n, a_, x_, u, deriv, Zpost, tuple(masses), tuple(weights),
                  tuple(k for k in range(1, n + 1) if k not in dist), tuple(Epost.items()), free)


@lru_cache(maxsize=None)
def _reduced(coordinate: str, key_set: str, n_dist: int, a_: int, x_: int, u: int | None):
    """The reduced event: only the distinguished areas, the others through Zo and S2o.
    Returns (-dl/d coordinate as a polynomial in iZ, Zexpr)."""
    ev = _event(coordinate, key_set, n_dist, a_, x_, u)
    # rebuild its loss with the aggregates of the non-distinguished areas added
    E = {k: v for k, v in ev.E}
    zs = {k: z[k] for k in range(1, n_dist + 1)}
    if coordinate == "fp":
        Ex = sp.exp(zs[x_] * _phi) * _pos(f"W_{x_}")
        E[x_] = Ex
        theta = _phi
        rep = {_phi: sp.log(_pos(f"P_{x_}")) / zs[x_]}
        W0 = _pos("W_0") if key_set == "B" else sp.Integer(0)
    else:
        w = sp.exp(_ups)
        if u == 1:
            E[x_] = _pos(f"P_{x_}") * (w + _pos(f"W_{x_}_rest"))
        theta = _ups
        rep = {_ups: sp.log(_pos("w_q"))}
        W0 = (w + _pos("W_0_rest") if u == 0 else _pos("W_0_rest")) if key_set == "B" else sp.Integer(0)
    Zexpr = W0 + sp.Add(*E.values()) + _Zo
    loss = sp.Rational(1, 2) * (sp.Add(*[(zs[f] * (1 if f == a_ else 0) - zs[f] * E[f] * _iZ) ** 2
                                         for f in range(1, n_dist + 1)]) + _S2o * _iZ ** 2)
    deriv = sp.expand(_chain(loss, Zexpr, theta).xreplace(rep))
    return deriv, Zexpr.xreplace(rep)


def _iz_degree(expr) -> int:
    return sp.Poly(expr, _iZ).degree() if expr.has(_iZ) else 0


def _clear(expr, k: int, Zexpr):
    """Z^k * expr for expr a polynomial in iZ of degree <= k, expanded."""
    expr = sp.expand(expr)
    if expr == 0:
        return sp.Integer(0)
    parts = sp.collect(expr, _iZ, evaluate=False)
    out = []
    for mon, coeff in parts.items():
        t = 0 if mon == 1 else sp.Poly(mon, _iZ).degree()
        if t > k:
            raise AssertionError("clearing degree too small")
        out.append(coeff * Zexpr ** (k - t))
    return sp.expand(sp.Add(*out))


def _instantiate(expr, ev: _Event, *, empty: bool = False):
    subs = {N: ev.N, a: ev.a}
    if ev.coordinate == "fp":
        subs[j] = ev.x
    else:
        subs.update({b: ev.x, u_q: ev.u})
    e = _expand_sums(expr.xreplace(subs))
    if empty:
        return e.xreplace({**{A[k]: 0 for k in range(1, ev.N + 1)}, A0: 0, attn_q: 0})
    return e.xreplace(dict(ev.masses))


# -- counterexamples ----------------------------------------------------------------------

def _point(ev: _Event, rng: random.Random) -> dict:
    pt = {}
    for s in ev.free:
        if isinstance(s, sp.Indexed) or s.name.startswith("zp_"):
            pt[s] = sp.Rational(rng.randint(50, 200), 100)
        else:
            pt[s] = sp.Rational(rng.randint(1, 100), 50)
    return pt


def _counterexample(ev: _Event, closed, deriv, case: str, seed: int, *, empty: bool = False, tries: int = 40):
    """Exact rational point where closed != deriv (closed and deriv in iZ and ev's variables)."""
    rng = random.Random(seed)
    for _ in range(tries):
        pt = _point(ev, rng)
        if empty:
            cv, dv = closed.xreplace(pt), sp.Integer(0)
        else:
            pt_iz = {**pt, _iZ: 1 / ev.Zexpr.xreplace(pt)}
            cv, dv = closed.xreplace(pt_iz), deriv.xreplace(pt_iz)
        if not (cv.is_number and dv.is_number):
            continue
        if not (cv.is_Rational and dv.is_Rational):
            gap = sp.N(cv - dv, 50)
            if not gap.is_number or abs(gap) <= 1e-30 * max(1, abs(sp.N(cv, 50)) + abs(sp.N(dv, 50))):
                continue
        elif cv == dv:
            continue
        zs = {k: pt[s] for k, s in zip(range(1, ev.N + 1), ev.free[:ev.N], strict=True)}
        out = {"N": ev.N, "a": ev.a, ("j" if ev.coordinate == "fp" else "b"): ev.x, "key_set": ev.key_set,
               "case": case, "z": zs}
        if ev.coordinate == "pp":
            out["u_q"] = ev.u
        if empty:
            out["weights"] = {f"E_{k}": sp.Integer(0) for k in range(1, ev.N + 1)}
            out["masses"] = {f"A_{k}": sp.Integer(0) for k in range(1, ev.N + 1)}
        else:
            out["weights"] = {name: w.xreplace(pt) for name, w in ev.weights}
            masses = {}
            for s, v in ev.masses:
                if s == A0 and ev.key_set == "A":
                    continue
                label = "A_0" if s == A0 else ("attn_q" if s == attn_q else f"A_{s.indices[0]}")
                masses[label] = v.xreplace(pt_iz)
            out["masses"] = masses
        out["derivative"], out["closed_form"] = dv, cv
        return out
    return None
