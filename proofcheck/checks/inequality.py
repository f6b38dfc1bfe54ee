"""Inequality claims: pointwise (per event) and in expectation (SPEC §8 sign and
bound statements: LEM-G5 >= 0, LEM-G6's sufficient condition, LEM-G7's bound).

A :class:`PointwiseInequality` is a relation ``lhs >= rhs`` (or ``<=``) between
SymPy expressions in the event vocabulary of :mod:`proofcheck.lang.symbols`,
optionally under a ``condition`` (an implication).  Four legs judge it
(docs/lemma-format.md#decisions): a cheap SymPy proof (PROVED only when SymPy
actually decides it, for every N); the exact decision per N with z3
(:mod:`proofcheck.engine.decide_leg`: PROVED with its scope, or REFUTED with an
exact counterexample realized in the model and confirmed by torch); direct
sampling of the event symbols on the domain for N <= 8
(:mod:`proofcheck.engine.decide_sample`); and the evaluation on every (event,
masked query p[, area j][, key q]) of the exact batch at model instances drawn
by Hypothesis inside the lemma's assumptions, steered to the smallest margin.
z > 0 is used by the proofs only where the lemma assumes ``z_positive``.

An :class:`ExpectedInequality` relates expectations ``Expect(expr)`` =
E[1_k 1{p in M} c(M) expr] (c the loss normalisation factor, 1 by default) and
the autograd ascent direction ``ascent_phi`` = -dL/dPhi_{p -> v_{k,j}}, entry by
entry over (p, k, j).

Two symbols extend the vocabulary for bounds: ``z2_max`` = max_i z_i^2 and
``A_loc_max`` = max_{i >= 2} A_{p,i} (the largest local mass, SPEC LEM-G7).
"""
from __future__ import annotations

import math

import sympy as sp
import torch

from proofcheck.engine.caseclaim import CaseClaim
from proofcheck.engine.decide_leg import decision_check, sampling_check
from proofcheck.engine.search import Outcome
from proofcheck.lang.cases import Case
from proofcheck.setting.coords import events, grad_coords
from proofcheck.errors import UsageError
from proofcheck.setting.instance import DTYPE
from proofcheck.context import CheckContext
from proofcheck.lang.lemma import Lemma
from proofcheck.setting.sampling import exact_batch
from proofcheck.lang.symbols import VOCABULARY, A, A0, a, attn_q, j, u_q, z
from proofcheck.verdict import CheckResult, Verdict
from proofcheck.tolerance import EPS
from proofcheck.lang.symbols import A_loc_max, ascent_phi, z2_max
from proofcheck.engine.evaluate import EventView, Evaluator, entry_domain, evaluate, uses_j, uses_keys
from proofcheck.lang.relations import Expect, _op, relation


# -- symbolic proof attempt ------------------------------------------------------------------

def _unit_interval(t):
    """A value in [0, 1) written as s/(1+s) with s >= 0: SymPy then knows both
    it and 1 minus it are non-negative.  Proving >= 0 on [0, 1) gives it on [0, 1]
    by continuity, and treating dependent quantities (A's that sum to at most 1,
    a KroneckerDelta in {0, 1}) as independent only weakens the hypotheses."""
    s = sp.Dummy(f"s_{t}", nonnegative=True)
    return s / (1 + s)


def prove_nonnegative(expr, z_positive: bool = False) -> bool:
    """True only when SymPy decides ``expr >= 0`` for all masses in [0, 1] and all
    real z, or all z > 0 with ``z_positive`` (the lemma's assumption, DEF-DATA
    item 4: the vocabulary's z is only real, so z > 0 is used exactly where it
    is assumed).  LIBRARY-FACTS: the assumptions system is sound but incomplete,
    so False means "not proved", never "false"."""
    expr = sp.sympify(expr)
    reps = {}
    for s in expr.atoms(sp.Sum):
        if prove_nonnegative(s.function, z_positive):
            reps[s] = sp.Dummy("sum", nonnegative=True)
    # E[1_k 1_M c(M) f] weighs f by probabilities times a positive normaliser: it has the sign of f
    for e in expr.atoms(Expect):
        if prove_nonnegative(e.args[0], z_positive):
            reps[e] = sp.Dummy("expect", nonnegative=True)
        elif prove_nonnegative(-e.args[0], z_positive):
            reps[e] = sp.Dummy("expect", nonpositive=True)
    expr = expr.xreplace(reps)
    if expr.atoms(Expect):
        return False
    reps = {t: _unit_interval(t) for t in expr.atoms(sp.Indexed) if t.base == A}
    reps.update({t: _unit_interval(t) for t in expr.atoms(sp.KroneckerDelta)})
    reps.update({t: _unit_interval(t) for t in (A0, A_loc_max, attn_q, u_q) if t in expr.free_symbols})
    if z_positive:
        reps.update({t: sp.Dummy(f"z_{t.indices[0]}", positive=True) for t in expr.atoms(sp.Indexed) if t.base == z})
    expr = expr.xreplace(reps)
    if expr.atoms(sp.Sum):
        return False
    for form in (expr, sp.factor(sp.together(expr))):
        if form.is_nonnegative:
            return True
    return False


def z_positive(claim: CaseClaim, lemma: Lemma) -> bool:
    """Whether the lemma or the claim assumes z > 0 (DEF-DATA item 4)."""
    return any(x.name == "z_positive" for x in claim.assumptions_for(lemma))


def proof_result(claim, ctx: CheckContext, proof: str, zpos: bool) -> CheckResult:
    """The ``[symbolic]`` leg of an inequality SymPy decided: it covers every N, area size and mask,
    and both key sets, since every mass ranges over [0, 1] on its own, a box holding the simplex of
    either key set."""
    return CheckResult(claim.kind, f"{claim.describe()} [symbolic]", Verdict.PROVED, f"{claim.label}: {proof}",
                       evidence={"difference": str(claim.difference()), "scope": {
                           "areas": "all", "z": "positive" if zpos else "free", "masks": "all", "area_sizes": "all",
                           "key_sets": ["A", "B"]},
                                 "condition": None if claim.condition is None else str(claim.condition)},
                       seed=ctx.seed)


# -- the pointwise inequality claim ------------------------------------------------------------------

class _Inequality(CaseClaim):
    """What both inequality kinds share: ``lhs op rhs`` as a relation and as a difference."""

    kind = "inequality"

    @property
    def expression(self) -> sp.Rel:
        return relation(self.lhs, self.op, self.rhs)

    def difference(self) -> sp.Expr:
        """The quantity that must be >= 0."""
        return self.lhs - self.rhs if self.op == ">=" else self.rhs - self.lhs


class PointwiseInequality(_Inequality):
    """``lhs >= rhs`` (or ``<=``) on every event, optionally only where ``condition``
    holds (an implication, e.g. SPEC LEM-G6's sufficient condition)."""

    vocabulary = VOCABULARY | {z2_max, A_loc_max}

    def __init__(self, label: str, lhs, op: str, rhs=0, condition=None, assumes=(), draw=None):
        self.label = label
        self.lhs, self.rhs, self.op = sp.sympify(lhs), sp.sympify(rhs), op
        self.condition = None if condition is None else sp.sympify(condition)
        self.assumes = tuple(assumes)
        self.draw = dict(draw or {})
        relation(self.lhs, op, self.rhs)  # validates the relation

    def mutated(self, expression) -> "PointwiseInequality":
        """A copy with ``expression`` in place of the relation.  A relation gives
        the new sides and direction; a plain expression stands for ``lhs - rhs``
        with the same direction."""
        if isinstance(expression, sp.Rel):
            lhs, op, rhs = expression.lhs, _op(expression), expression.rhs
        elif isinstance(expression, sp.Expr):
            lhs, op, rhs = expression, self.op, 0
        else:
            raise UsageError(f"cannot mutate an inequality into {expression!r}")
        return PointwiseInequality(f"{self.label} (mutated)", lhs, op, rhs, self.condition, self.assumes, self.draw)

    def tolerance_factor(self, P: int) -> int:
        return int(sp.count_ops(self.difference())) + 8 * (P + 4)

    def tolerance(self) -> dict:
        return {"atol": 0.0, "rtol": None,
                "per_entry": "n * eps * magnitude, n = count_ops(lhs - rhs) + 8 (P + 4)",
                "justification": "float64 running-error model: each of the n operations (and the softmax masses "
                                 "they use, accurate to about (P + 4) eps relatively) adds at most eps relative "
                                 "error to its result, so the computed lhs - rhs is within n * eps times its "
                                 "magnitude (the same expression with every term made positive) of the exact one"}

    def prove(self, z_positive: bool = False) -> str | None:
        """A one-line proof when SymPy decides the claim (using z > 0 only with ``z_positive``), else None."""
        d = self.difference()
        zs = "z > 0" if z_positive else "real z"
        if self.condition is None:
            return f"SymPy decides lhs - rhs >= 0 for {zs}, masses in [0, 1]" if prove_nonnegative(d, z_positive) \
                else None
        conjuncts = self.condition.args if isinstance(self.condition, sp.And) else (self.condition,)
        for c in conjuncts:
            if not isinstance(c, (sp.GreaterThan, sp.LessThan)):
                continue
            g = c.lhs - c.rhs if _op(c) == ">=" else c.rhs - c.lhs
            ratio = sp.cancel(d / g)
            num, den = sp.fraction(sp.together(ratio))
            if den.free_symbols or not den.is_positive:
                continue
            if sp.expand(d - ratio * g) == 0 and prove_nonnegative(ratio, z_positive):
                return f"lhs - rhs = ({ratio}) * (condition slack), and SymPy decides the factor is >= 0 ({zs})"
        return None

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        batch = exact_batch(inst)
        view = EventView.from_events(events(case.Phi, case.Ups, inst, batch), inst, batch)
        return self.evaluate_view(view, inst.P, mask=batch.mask)

    def evaluate_view(self, view: EventView, P: int, mask: torch.Tensor | None = None) -> Outcome:
        if len(view) == 0:
            return Outcome(True, math.inf, math.inf, 0)
        J = view.N_max if uses_j(self.lhs, self.rhs, self.condition) else 1
        Kq = P if uses_keys(self.lhs, self.rhs, self.condition) else 1
        diff, dom = evaluate(self.difference(), view, J, Kq)
        mag, _ = evaluate(self.difference(), view, J, Kq, absolute=True)
        dom = dom & entry_domain(view, J, Kq)
        if self.condition is not None:
            cond, cdom = evaluate(self.condition, view, J, Kq)
            dom = dom & cdom & (cond > 0)
        n_points = int(dom.sum())
        if n_points == 0:
            return Outcome(True, math.inf, math.inf, 0)
        tol = self.tolerance_factor(P) * EPS * mag
        margin = torch.where(dom, diff, torch.full_like(diff, math.inf))
        lhs, _ = evaluate(self.lhs, view, J, Kq)
        rhs, _ = evaluate(self.rhs, view, J, Kq)
        # an entry where both sides are exactly 0 carries no signal for the search's target
        signal = dom & ((lhs != 0) | (rhs != 0)) & (mag > 0)
        relative = torch.where(signal, diff / mag.clamp(min=1e-300), torch.full_like(diff, math.inf))
        violated = dom & (diff < -tol)
        # the worst entry: a violated one if any, else the smallest relative margin
        score = torch.where(violated, margin - 1e300, relative)
        flat = int(score.argmin())
        e, jj, qq = (int(x) for x in torch.unravel_index(torch.tensor(flat), diff.shape))
        n = int(view.n[e])
        worst = {"cluster": int(view.cluster[e]) + 1, "query": int(view.query[e]), "target_area": int(view.a[e]) + 1,
                 "j": jj + 1 if J > 1 else None, "key": qq if Kq > 1 else None,
                 "z": view.z[e, :n].tolist(), "A": view.A[e, :n].tolist(), "A0": float(view.A0[e]),
                 "lhs": float(lhs[e, jj, qq]), "rhs": float(rhs[e, jj, qq]), "margin": float(diff[e, jj, qq]),
                 "tolerance": float(tol[e, jj, qq])}
        if mask is not None and view.event is not None:
            worst["mask"] = [int(m) for m in mask[int(view.event[e])].tolist()]
        return Outcome(not bool(violated.any()), float(margin.min()), float(relative.min()), n_points, worst)

    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        """Four legs: the SymPy proof (all N, when it decides), the exact decision
        per N (PROVED with its scope, or REFUTED realized in the model), direct
        sampling of the event symbols (N <= 8), and the search over model
        instances (docs/lemma-format.md#decisions)."""
        zpos = z_positive(self, lemma)
        proof = self.prove(zpos)
        legs = [decision_check(self, lemma, ctx, zpos), sampling_check(self, lemma, ctx, zpos)]
        numeric = super().check(lemma, ctx)
        for r in numeric:
            r.evidence["symbolic"] = proof or "not proved (SymPy did not decide it; numeric evidence only)"
        if proof is None:
            return [*legs, *numeric]
        return [proof_result(self, ctx, proof, zpos), *legs, *numeric]


# -- expectation-level claims -----------------------------------------------------------------

class _EntryEvaluator(Evaluator):
    """Evaluate a statement over the (p, k, j) grid: ``Expect(..)`` and
    ``ascent_phi`` are precomputed (P, K, J) tensors; a and j are indices."""

    def __init__(self, atoms: dict, a_grid: torch.Tensor, J: int, absolute: bool = False):
        super().__init__(absolute)
        self.atoms, self.a_grid, self.J = atoms, a_grid, J

    def atom(self, e):
        if e in self.atoms:
            v = self.atoms[e]
            return v.abs() if self.absolute else v
        if e == a:
            return self.a_grid
        if e == j:
            return torch.arange(1, self.J + 1, dtype=DTYPE).view(1, 1, -1)
        return super().atom(e)


class ExpectedInequality(_Inequality):
    """``lhs >= rhs`` (or ``<=``) entry by entry over (p, k, j), for statements
    about expectations: ``Expect(expr)`` = E[1_k 1{p in M} c(M) expr] (SPEC §8)
    and ``ascent_phi`` = -dL/dPhi_{p -> v_{k,j}} by autograd in coordinates.
    ``condition`` restricts the entries (e.g. ``Eq(j, 1) & Ne(a, 1)``)."""

    vocabulary = VOCABULARY | {z2_max, A_loc_max, ascent_phi}

    def __init__(self, label: str, lhs, op: str, rhs, condition=None, assumes=(), draw=None):
        self.label = label
        self.lhs, self.rhs, self.op = sp.sympify(lhs), sp.sympify(rhs), op
        self.condition = None if condition is None else sp.sympify(condition)
        self.assumes = tuple(assumes)
        self.draw = dict(draw or {})
        relation(self.lhs, op, self.rhs)

    def mutated(self, expression) -> "ExpectedInequality":
        if not isinstance(expression, sp.Rel):
            raise UsageError(f"cannot mutate an expected inequality into {expression!r}")
        return ExpectedInequality(f"{self.label} (mutated)", expression.lhs, _op(expression), expression.rhs,
                                  self.condition, self.assumes, self.draw)

    def tolerance(self) -> dict:
        return {"atol": 0.0, "rtol": None, "per_entry": "(events + 64) * eps * magnitude",
                "justification": "each side is a weighted sum over at most `events` events of terms accurate to "
                                 "about 64 eps relatively (and an autograd gradient of the same sum), so float64 "
                                 "rounding stays below (events + 64) eps times the sum of the absolute terms"}

    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        """The search over model instances, and a ``[symbolic]`` leg when the statement is
        about expectations alone (no autograd ``ascent_phi``) and SymPy decides it: the
        expectation of an integrand of one sign has that sign, whatever the condition."""
        numeric = super().check(lemma, ctx)
        zpos = z_positive(self, lemma)
        if ascent_phi in self.difference().free_symbols or not prove_nonnegative(self.difference(), zpos):
            return numeric
        proof = f"SymPy decides lhs - rhs >= 0 ({'z > 0' if zpos else 'real z'}), each E[.] having its integrand's sign"
        return [proof_result(self, ctx, proof, zpos), *numeric]

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        batch = exact_batch(inst)
        view = EventView.from_events(events(case.Phi, case.Ups, inst, batch), inst, batch)
        if len(view) == 0:
            return Outcome(True, math.inf, math.inf, 0)
        P, K, J = inst.P, inst.K, inst.N_max
        diff_expr = self.difference()
        expects = sorted(diff_expr.atoms(Expect), key=str)
        atoms, mags = {}, {}
        slot = view.query * K + view.cluster
        for ex in expects:
            val, dom = evaluate(ex.args[0], view, J, 1)
            mag, _ = evaluate(ex.args[0], view, J, 1, absolute=True)
            w = (view.weight.view(-1, 1) * dom[..., 0])
            for out, src in ((atoms, val), (mags, mag)):
                acc = torch.zeros(P * K, J, dtype=DTYPE).index_add_(0, slot, w * src[..., 0])
                out[ex] = acc.view(P, K, J)
        if ascent_phi in diff_expr.free_symbols:
            _, gPhi, _ = grad_coords(case.Phi, case.Ups, inst, batch)
            asc = torch.zeros(P, K, J, dtype=DTYPE)
            for k in range(K):
                asc[:, k, : inst.N[k]] = -gPhi[:, inst.feature_offset[k]: inst.feature_offset[k] + inst.N[k]]
            atoms[ascent_phi] = mags[ascent_phi] = asc
        a_grid = (inst.area_of.T + 1).to(DTYPE).unsqueeze(-1)                       # (P, K, 1)
        diff = _EntryEvaluator(atoms, a_grid, J).ev(diff_expr).expand(P, K, J)
        mag = _EntryEvaluator(mags, a_grid, J, absolute=True).ev(diff_expr).expand(P, K, J)
        masked_prob = torch.zeros(P * K, dtype=DTYPE).index_add_(0, slot, view.weight).view(P, K, 1)
        dom = (torch.arange(J).view(1, 1, -1) < torch.tensor(inst.N).view(1, -1, 1)) & (masked_prob > 0)
        if self.condition is not None:
            dom = dom & (_EntryEvaluator(atoms, a_grid, J).ev(self.condition).expand(P, K, J) > 0)
        n_points = int(dom.sum())
        if n_points == 0:
            return Outcome(True, math.inf, math.inf, 0)
        tol = (len(view) + 64) * EPS * mag
        violated = dom & (diff < -tol)
        relative = torch.where(dom, diff / (mag + 1e-300), torch.full_like(diff, math.inf))
        score = torch.where(violated, diff - 1e300, relative)
        p, k, jj = (int(x) for x in torch.unravel_index(score.argmin(), diff.shape))
        worst = {"query": p, "cluster": k + 1, "j": jj + 1, "target_area": int(inst.area_of[k, p]) + 1,
                 "difference": float(diff[p, k, jj]), "tolerance": float(tol[p, k, jj]),
                 **{str(x): float(atoms[x][p, k, jj]) for x in atoms}}
        margin = torch.where(dom, diff, torch.full_like(diff, math.inf))
        return Outcome(not bool(violated.any()), float(margin.min()), float(relative.min()), n_points, worst)
