"""Deciding one configuration: z3 queries, the formulation portfolio, and the
exact confirmation of a counterexample (part of :mod:`proofcheck.engine.decide`).

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

"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy as sp
import z3

from proofcheck.engine.decide_encode import Encoder, conjuncts, negation, polarities, prepare_negation
from proofcheck.engine.decide_translate import (INCONCLUSIVE, PROVED, REFUTED, REL_CLASS, Claim, ZDomain, holds,
                                                instantiate_claim)

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



def decide_config(c: Claim, n: int, env: dict, key_set: str, zd: ZDomain, timeout_ms: int, symmetry: bool,
                   sym_ok: bool, K: int, max_encoding: str) -> dict:
    t0 = time.perf_counter()
    got = instantiate_claim(c, n, env, key_set)
    if isinstance(got, str):
        return {"status": None, "reason": got}
    lhs, rhs, cond = got
    rel = REL_CLASS[c.op](lhs, rhs, evaluate=False)
    parts = conjuncts(rel)
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
    pol = polarities(cond, part, zd.sign())
    prepared = prepare_negation(part, zd.sign())
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
    enc = Encoder(pol, mode)
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
    negated = negation(prepared, enc)
    if prepared["note"]:
        enc.notes.setdefault("negation", prepared["note"])
    hyp = enc(cond)
    solver = _make_solver(timeout_ms)
    solver.add(*domain, *enc.side, *enc.defined, hyp, negated)
    r, values = _solve(solver, point_vars)
    enc.reason = solver.reason_unknown() if r == z3.unknown else ""
    return r, values, enc


def _confirm(lhs, op, rhs, cond, values: dict, n, key_set, env, zd: ZDomain) -> Counterexample | None:
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
                or rv.has(sp.zoo, sp.nan) or holds(lv, op, rv):
            return None
    except (TypeError, ValueError):
        return None
    conv = (lambda x: Fraction(int(x.p), int(x.q)) if isinstance(x, sp.Rational) else x)
    return Counterexample(n, key_set, dict(env), tuple(zs), tuple(As), vals["A_0"], conv(lv), conv(rv), op)


