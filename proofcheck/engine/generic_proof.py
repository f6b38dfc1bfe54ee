"""Proofs of per-event gradient identities for every number of areas, every
area size and every mask (docs/generic-event.md has the argument).

:func:`prove_all_areas` proves a closed form on the generic event of
:mod:`proofcheck.engine.generic_event` for every configuration of the
distinguished areas (a = j / a != j for FP; b = a / b != a and u_q for PP) at
N = |D|, ..., |D| + d areas, d the degree bound of the counting argument, which
proves it for every N.  Closed forms outside the polynomial class of that
argument (Abs, Max, exp, ...) are proved for each N up to a bound instead, and
the result's scope says so.
"""
from __future__ import annotations

import copy
import itertools
import random
import time
from functools import lru_cache
from pathlib import Path

import sympy as sp

from proofcheck.engine import resultcache
from proofcheck.verdict import CheckResult, Verdict

from proofcheck.engine.generic_event import (A, COORDINATES, GenericProof, KEY_SETS, N, _DISCONTINUOUS, _Event, _S2o,
                                             _Unsupported, _Vocabulary, _Zo, _bound_symbols, _check_vocabulary,
                                             _clear, _counterexample, _event, _iZ, _instantiate, _iz_degree,
                                             _normalise, _pos, _reduced, _walk, a, attn_q, b, j, u_q, z)


# -- configurations -----------------------------------------------------------------------

def _configs(coordinate: str, key_set: str):
    """(name, a, x, u, alternative labelling of the same pattern) with a = 1 first."""
    us = [None] if coordinate == "fp" else ([1, 0] if key_set == "B" else [1])
    name_x = "j" if coordinate == "fp" else "b"
    for u in us:
        for same in (True, False):
            suffix = "" if u is None else f", u_q={u}"
            if same:
                yield f"a={name_x}{suffix}", 1, 1, u, (1, 1)
            else:
                yield f"a!={name_x}{suffix}", 1, 2, u, (2, 1)


def _restriction_value(restriction, coordinate, a_, x_, u, n=None):
    if restriction is None:
        return True
    subs = {a: a_, (j if coordinate == "fp" else b): x_}
    if u is not None:
        subs[u_q] = u
    if n is not None:
        subs[N] = n
    out = restriction.xreplace(subs)
    if out not in (sp.true, sp.false):
        raise _Unsupported(f"restriction {restriction} does not decide at {subs}: {out}")
    return bool(out)


def _check_restriction(restriction, coordinate):
    if restriction is None:
        return
    allowed = {a, u_q, N, j if coordinate == "fp" else b}
    extra = restriction.free_symbols - allowed
    if extra:
        raise ValueError(f"restriction {restriction} uses {sorted(map(str, extra))}; only a, "
                         f"{'j' if coordinate == 'fp' else 'b, u_q'} and N are defined")


# -- the all-areas route ------------------------------------------------------------------

def _decide_poly(closed_inst, ev: _Event, k: int):
    """Cleared difference Z^k (closed - deriv), expanded (0 iff the identity holds)."""
    return _clear(closed_inst - ev.deriv, k, ev.Zexpr)


def _all_areas(closed, coordinate, key_set, restriction, seed):
    """Returns (status, d, cases, counterexample, detail); raises _Unsupported."""
    tau, emax = _walk(closed, frozenset({a, j} if coordinate == "fp" else {a, b}))
    if restriction is not None and N in restriction.free_symbols:
        raise _Unsupported("the restriction involves N")
    cases, dmax = [], 0
    plan = []
    for name, a_, x_, u, alt in _configs(coordinate, key_set):
        inc = _restriction_value(restriction, coordinate, a_, x_, u)
        if inc != _restriction_value(restriction, coordinate, alt[0], alt[1], u):
            raise _Unsupported("the restriction depends on the order of the area labels")
        if not inc:
            continue
        n_dist = len({a_, x_})
        red, _ = _reduced(coordinate, key_set, n_dist, a_, x_, u)
        k = max(emax, _iz_degree(red))
        sigma_d = sp.Poly(_clear(red, k, _reduced(coordinate, key_set, n_dist, a_, x_, u)[1]), _Zo, _S2o) \
            .total_degree()
        d = max(k + tau, sigma_d, 0)
        plan.append((name, a_, x_, u, n_dist, k, d))
        dmax = max(dmax, d)
    # smallest counts first, so a counterexample is as small as possible
    for m in range(dmax + 1):
        for name, a_, x_, u, n_dist, k, d in plan:
            if m > d:
                continue
            n = n_dist + m
            ev = _event(coordinate, key_set, n, a_, x_, u)
            red, _ = _reduced(coordinate, key_set, n_dist, a_, x_, u)
            others = ev.others
            agg = {_Zo: sp.Add(*[dict(ev.E)[o] for o in others]),
                   _S2o: sp.Add(*[z[o] ** 2 * dict(ev.E)[o] ** 2 for o in others])}
            if sp.expand(red.xreplace(agg) - ev.deriv) != 0:  # pragma: no cover - a bug, not a verdict
                raise AssertionError(f"reduced derivative disagrees at N={n}, {name}")
            ci = _instantiate(closed, ev)
            cleared = _decide_poly(ci, ev, k)
            case = f"{key_set} {coordinate} {name}: N={n}"
            if cleared != 0:
                cx = _counterexample(ev, ci, ev.deriv, case, seed)
                if cx is None:  # a nonzero polynomial that vanished at 40 random points
                    return None, dmax, cases + [case + " undecided"], None, \
                        f"{case}: nonzero residual but no counterexample found"
                return False, dmax, cases + [case + " refuted"], cx, f"refuted at {case}"
    for name, _a, _x, _u, n_dist, k, d in plan:
        cases.append(f"{key_set} {coordinate} {name}: N={n_dist}..{n_dist + d} (d={d}, k={k})")
    if coordinate == "fp" and key_set == "A":
        # U empty: F_p = 0, the derivative is 0; the closed form at zero masses must vanish
        de = max(tau, 0)
        for name, a_, x_, u, n_dist, _k, _d in plan:
            for m in range(de + 1):
                n = n_dist + m
                ev = _event(coordinate, key_set, n, a_, x_, u)
                ce = sp.expand(_instantiate(closed, ev, empty=True))
                case = f"A fp {name} empty U: N={n}"
                if ce != 0:
                    cx = _counterexample(ev, ce, sp.Integer(0), case, seed, empty=True)
                    if cx is None:
                        return None, dmax, cases + [case + " undecided"], None, \
                            f"{case}: nonzero residual but no counterexample found"
                    return False, dmax, cases + [case + " refuted"], cx, f"refuted at {case}"
            cases.append(f"A fp {name} empty U: N={n_dist}..{n_dist + de}")
    if not plan:
        return None, dmax, cases, None, "the restriction excludes every configuration"
    return True, dmax, cases, None, "proved for every N by the counting argument"


# -- the bounded-N fallback ---------------------------------------------------------------

def _relabel_invariant(closed, restriction, coordinate) -> bool:
    """Whether renaming the areas is a symmetry of the claim, so a = 1 (and j or b in
    {1, 2}) is no loss of generality: no concrete area index, Sums over (1, N) only, no
    label used as a number, and a restriction decided by the equality pattern alone."""
    bound = _bound_symbols(closed)
    for ind in closed.atoms(sp.Indexed):
        if any(x not in bound | {a, j, b} for x in ind.indices):
            return False
    for s in closed.atoms(sp.Sum, sp.Product):
        if any(len(lim) != 3 or lim[1] != 1 or lim[2] != N for lim in s.limits):
            return False
    if _label_as_number(closed, frozenset(bound | {a, j, b})):
        return False
    if restriction is not None:
        try:
            for _, a_, x_, u, alt in _configs(coordinate, "B"):
                for n in (2, 3, 4):
                    if _restriction_value(restriction, coordinate, a_, x_, u, n) != \
                            _restriction_value(restriction, coordinate, alt[0], alt[1], u, n):
                        return False
        except _Unsupported:
            return False
    return True


def _label_as_number(e, labels: frozenset) -> bool:
    """True if an area label or summation index appears outside z[.], A[.] and delta(., .)."""
    if isinstance(e, (sp.Indexed, sp.KroneckerDelta)):
        return False
    if isinstance(e, (sp.Sum, sp.Product)):
        return _label_as_number(e.function, labels)
    if e.is_Symbol:
        return e in labels
    return any(_label_as_number(x, labels) for x in e.args)


def _zpos_map(n):
    return {z[k]: _pos(f"zp_{k}") for k in range(1, n + 1)}


def _is_zero(diff, ev: _Event) -> bool:
    """Exact zero test of closed - derivative at one generic event (fallback)."""
    if diff.is_polynomial(*ev.free, _iZ):
        return _clear(diff, _iz_degree(sp.expand(diff)), ev.Zexpr) == 0
    full = diff.xreplace({_iZ: 1 / ev.Zexpr})
    if full.is_rational_function(*ev.free):
        return sp.expand(sp.numer(sp.together(full))) == 0
    # not rational: a cheap necessary test at random real points (z of either sign) first
    rng = random.Random(1)
    for _ in range(3):
        pt = {s: (sp.Rational(rng.choice([-1, 1]) * rng.randint(50, 200), 100)
                  if isinstance(s, sp.Indexed) or s.name.startswith("zp_") else sp.Rational(rng.randint(1, 100), 50))
              for s in ev.free}
        if any(s.name.startswith("zp_") for s in pt if not isinstance(s, sp.Indexed)):
            pt = {s: abs(v) for s, v in pt.items()}  # z > 0 was assumed
        val = sp.N(full.xreplace(pt), 40)
        if not val.is_number or abs(val) > 1e-25:
            return False
    if sp.count_ops(full) < 400:
        return sp.simplify(full) == 0
    return False


def _fallback_one(closed, coordinate, key_set, n, a_, x_, u, case, seed, *, empty=False):
    """'proved' | 'positive' | ('refuted', counterexample) | ('undecided', why)."""
    try:
        ci_real = _instantiate(closed, _event(coordinate, key_set, n, a_, x_, u), empty=empty)
    except _Unsupported as exc:
        return ("undecided", f"{case}: {exc}")
    discontinuous = closed.has(*_DISCONTINUOUS)
    for zpos in (False, True):
        ev = _event(coordinate, key_set, n, a_, x_, u, zpos)
        ci = ci_real.xreplace(_zpos_map(n)) if zpos else ci_real
        deriv = sp.Integer(0) if empty else ev.deriv
        if _is_zero(ci - deriv, ev):
            if discontinuous:
                return ("undecided", (f"{case}: proved for positive weights only, and the closed form is "
                                      "discontinuous, so it need not extend to areas without visible keys"))
            return "positive" if zpos else "proved"
    cx = _counterexample(ev, ci, deriv, case, seed, empty=empty)
    if cx is not None:
        return ("refuted", cx)
    return ("undecided", f"{case}: the difference did not simplify to 0 and is 0 at random points")


def _fallback(closed, coordinate, key_set, restriction, n_max, seed, why):
    cases, zscope = [], "free symbols"
    inv = _relabel_invariant(closed, restriction, coordinate)
    undecided = []
    for n in range(1, n_max + 1):
        if inv:
            labels = [(1, 1)] + ([(1, 2)] if n >= 2 else [])
        else:
            labels = list(itertools.product(range(1, n + 1), repeat=2))
        us = [None] if coordinate == "fp" else ([1, 0] if key_set == "B" else [1])
        for (a_, x_), u in itertools.product(labels, us):
            try:
                if not _restriction_value(restriction, coordinate, a_, x_, u, n):
                    continue
            except _Unsupported as exc:
                undecided.append(str(exc))
                continue
            xname = "j" if coordinate == "fp" else "b"
            case = f"{key_set} {coordinate} N={n} a={a_} {xname}={x_}" + ("" if u is None else f" u_q={u}")
            variants = [False] + ([True] if coordinate == "fp" and key_set == "A" else [])
            for empty in variants:
                c = case + (" empty U" if empty else "")
                out = _fallback_one(closed, coordinate, key_set, n, a_, x_, u, c, seed, empty=empty)
                if out == "positive":
                    zscope = "positive"
                elif isinstance(out, tuple) and out[0] == "refuted":
                    return False, cases + [c + " refuted"], out[1], zscope, f"refuted at {c} ({why})"
                elif isinstance(out, tuple):
                    undecided.append(out[1])
        which = "WLOG a=1" if inv else "every a, " + ("j" if coordinate == "fp" else "b")
        cases.append(f"{key_set} {coordinate} N={n}: {which}")
    if undecided:
        return None, cases, None, zscope, f"fallback ({why}): {len(undecided)} undecided; first: {undecided[0]}"
    return True, cases, None, zscope, f"fallback ({why}): proved for N <= {n_max}"


# -- the API ------------------------------------------------------------------------------

def _key_sets(key_set) -> tuple:
    if isinstance(key_set, str):
        ks = ("A", "B") if key_set.lower() in ("both", "ab", "all") else (key_set.upper(),)
    else:
        ks = tuple(str(k).upper() for k in key_set)
    for k in ks:
        if k not in KEY_SETS:
            raise ValueError(f"key_set must be 'A', 'B' or 'both', got {key_set!r}")
    return ks


@lru_cache(maxsize=256)
def _prove(closed, coordinate, key_sets: tuple, restriction, n_max: int, seed: int):
    if coordinate == "q":
        return _prove_q(closed, key_sets, restriction, n_max, seed)
    try:
        _check_vocabulary(closed, coordinate)
    except _Vocabulary as exc:
        return None, "all", None, [], None, "free symbols", str(exc)
    cases, dmax, details = [], 0, []
    try:
        for ks in key_sets:
            status, d, cs, cx, det = _all_areas(closed, coordinate, ks, restriction, seed)
            cases += cs
            dmax = max(dmax, d)
            details.append(det)
            if status is not True:
                return status, "all", dmax, cases, cx, "free symbols", det
        return True, "all", dmax, cases, None, "free symbols", "; ".join(dict.fromkeys(details))
    except _Unsupported as exc:
        why = f"outside the all-areas class: {exc}"
    cases, zscope, overall, det = [], "free symbols", True, ""
    for ks in key_sets:
        status, cs, cx, zs, det = _fallback(closed, coordinate, ks, restriction, n_max, seed, why)
        cases += cs
        if zs == "positive":
            zscope = "positive"
        if status is False:
            return False, n_max, None, cases, cx, zscope, det
        if status is None:
            overall = None
    return overall, n_max, None, cases, None, zscope, det


def _prove_q(closed, key_sets, restriction, n_max, seed):
    if restriction is not None:
        raise ValueError("a restriction is not supported for coordinate 'q'")
    pp = _prove(closed, "pp", key_sets, None, n_max, seed)
    if pp[0] is not True:
        return pp[:-1] + (f"e_q components: {pp[-1]}",)
    if pp[1] != "all":
        return None, pp[1], None, pp[3], None, pp[5], "coordinate q needs a polynomial c_q (all-areas route)"
    beta = sp.diff(closed, attn_q).xreplace({b: j, u_q: 1})
    fp_closed = z[j] * A[j] * beta
    fp = _prove(fp_closed, "fp", key_sets, None, n_max, seed)
    cases = [f"e_q: {c}" for c in pp[3]] + [f"v_j: {c}" for c in fp[3]]
    d = max(x for x in (pp[2], fp[2]) if x is not None) if (pp[2] is not None or fp[2] is not None) else None
    return fp[0], fp[1], d, cases, fp[4], fp[5], f"e_q components: {pp[-1]}; v_j components: {fp[-1]}"


def prove_all_areas(closed_form, coordinate: str, key_set="both", restriction=None, *,
                    n_max_fallback: int = 6, seed: int = 0) -> GenericProof:
    """Prove ``closed_form == -dl/d(coordinate)`` for every event of every cluster:
    every number of areas N, every area size, every mask, in the given key set(s).

    closed_form: a per-event integrand in the vocabulary (``z[i]``, ``A[i]``, ``A0``,
        ``N``, ``a``, ``j`` (fp), ``b``, ``attn_q``, ``u_q`` (pp), ``delta``, Sums over
        ``(i, 1, N)``); symbols are matched by name, so the lemma files' vocabulary
        (whatever its assumptions) works as well as this module's.
    coordinate: "fp" (Phi_{p->v_{k,j}}), "pp" (Ups_{p->q}) or "q" (LEM-G1: the
        closed form is the per-key coefficient c_q of -grad_Q l).
    key_set: "A", "B", "both" (default) or a sequence of them.
    restriction: optional SymPy boolean on a, j / b (and u_q), e.g. ``sp.Ne(j, a)``:
        only coordinates where it holds are claimed.
    n_max_fallback: the largest N of the bounded proof used when the closed form is
        outside the all-areas class (Abs, Max, exp, N in an exponent, ...).
    seed: for the random rational points of a counterexample.
    """
    t0 = time.perf_counter()
    if coordinate not in COORDINATES:
        raise ValueError(f"coordinate must be one of {COORDINATES}, got {coordinate!r}")
    ks = _key_sets(key_set)
    closed = _normalise(closed_form)
    restr = _normalise(restriction) if restriction is not None else None
    _check_restriction(restr, "fp" if coordinate == "fp" else "pp")
    proved, areas, d, cases, cx, zscope, detail = _prove(closed, coordinate, ks, restr, int(n_max_fallback), seed)
    scope = {"areas": areas, "area_sizes": "all", "masks": "all", "key_sets": list(ks), "z": zscope}
    return GenericProof(proved, scope, d, list(cases), copy.deepcopy(cx), time.perf_counter() - t0, detail)


# -- the symbolic leg of a GradientIdentity ------------------------------------------------

#: bump when the meaning of a cached generic proof changes
CACHE_VERSION = 1


def _exact(x):
    """JSON form of a counterexample: exact rationals as 'p/q' strings, recursively."""
    if isinstance(x, dict):
        return {str(k): _exact(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_exact(v) for v in x]
    return sp.sstr(x) if isinstance(x, sp.Basic) else x


def all_areas_result(closed_form, coordinate: str, key_set: str, restriction=None, *, cache_dir: Path | None = None,
                     seed: int = 0, name: str = "", n_max_fallback: int = 6) -> CheckResult:
    """The every-N symbolic leg (SPEC §8, docs/generic-event.md) as a CheckResult of kind
    "symbolic": PROVED with ``evidence["scope"]`` exactly as :func:`prove_all_areas`
    states it, REFUTED with its exact rational counterexample, INCONCLUSIVE with its
    reason.  The proof is stored under ``cache_dir`` (one entry per statement, key set,
    fallback bound, seed and SymPy version), so a warm run does not redo it."""
    t0 = time.perf_counter()
    name = name or f"symbolic {coordinate} identity, every number of areas, key set {key_set}"
    path = resultcache.entry(cache_dir, kind="all-areas", closed=sp.srepr(sp.sympify(closed_form)),
                             restriction=sp.srepr(restriction) if restriction is not None else None,
                             coordinate=coordinate, key_set=key_set, n_max=n_max_fallback, seed=seed,
                             sympy=sp.__version__, version=CACHE_VERSION)
    stored = resultcache.load(path)
    if stored is None or "proved" not in stored:
        try:
            proof = prove_all_areas(closed_form, coordinate, key_set, restriction, n_max_fallback=n_max_fallback,
                                    seed=seed)
        except ValueError as exc:  # a restriction or coordinate the generic event cannot state
            return CheckResult("symbolic", name, Verdict.INCONCLUSIVE, f"[{key_set}] {exc}",
                               evidence={"scope": {"areas": 0, "area_sizes": [], "masks": "none",  # nothing covered
                                                   "key_sets": [key_set], "z": "free symbols"}}, seed=seed,
                               timing_s=time.perf_counter() - t0)
        stored = {"proved": proof.proved, "scope": proof.scope, "degree_bound": proof.degree_bound,
                  "cases_checked": proof.cases_checked, "counterexample": _exact(proof.counterexample),
                  "detail": proof.detail, "prover_seconds": proof.seconds}
        resultcache.store(path, stored)
        cached = False
    else:
        cached = True
    evidence = {"scope": stored["scope"], "degree_bound": stored["degree_bound"],
                "cases_checked": stored["cases_checked"], "detail": stored["detail"],
                "prover_seconds": stored["prover_seconds"], "cached": cached, "coordinate": coordinate,
                "closed_form": sp.sstr(closed_form), "method": "generic event (docs/generic-event.md): every area "
                "size and mask through aggregates, every N by the counting argument or the bounded fallback"}
    scope = stored["scope"]
    areas = "every number of areas" if scope["areas"] == "all" else f"N <= {scope['areas']}"
    if scope["z"] == "positive":
        areas += " (z > 0 only)"
    if stored["proved"] is True:
        return CheckResult("symbolic", name, Verdict.PROVED,
                           f"[{key_set}] proved for {areas}, every area size and mask ({stored['detail']})",
                           evidence=evidence, seed=seed, timing_s=time.perf_counter() - t0)
    cx = stored["counterexample"] and {**stored["counterexample"], "replay": (
        "prove_all_areas(closed form, coordinate, key_set, restriction, seed=seed) in "
        "proofcheck.engine.generic_proof finds it again; at these masses the two values differ exactly")}
    if stored["proved"] is False and cx is not None:
        x = "j" if "j" in cx else "b"
        where = f"N={cx['N']}, a={cx['a']}, {x}={cx[x]}" + (f", u_q={cx['u_q']}" if "u_q" in cx else "")
        return CheckResult("symbolic", name, Verdict.REFUTED,
                           f"[{key_set}] closed form differs from -dl/d({coordinate}) at {where}: derivative "
                           f"{float(sp.sympify(cx['derivative'])):.6g} vs closed form "
                           f"{float(sp.sympify(cx['closed_form'])):.6g} at exact rational z and masses",
                           evidence=evidence, counterexample=cx, seed=seed, timing_s=time.perf_counter() - t0)
    return CheckResult("symbolic", name, Verdict.INCONCLUSIVE, f"[{key_set}] not decided: {stored['detail']}",
                       evidence=evidence, seed=seed, timing_s=time.perf_counter() - t0)
