"""Structural claims about expected quantities at special points (check kind "structural"): the
initial drift of LEM-G10, the FP-only ablation of LEM-G12, and the limit of LEM-G11."""
from __future__ import annotations

import itertools
import math
import sympy as sp
import torch
from proofcheck.engine.search import Outcome
from proofcheck.lang.cases import Case
from proofcheck.setting.coords import grad_coords, loss_coords, loss_split, unavoidable
from proofcheck.errors import UsageError
from proofcheck.engine.evaluate import EventView, evaluate
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.sampling import exact_batch
from proofcheck.setting.trainer import TrainConfig, train
from proofcheck.engine.caseclaim import StructuralClaim
from proofcheck.tolerance import EPS
from proofcheck.setting.model import normalisation_factor


def binomial_view(inst: Instance, k: int, p: int, theta: torch.Tensor, exclude_query: bool = True) -> EventView:
    """SPEC LEM-G10's reduction for query p of cluster k with Ups = 0 and FP row
    ``theta`` (N_k,): given p in M, u_a ~ Bin(C_a - 1, 1 - gamma) (p itself is
    masked; ``exclude_query=False`` plants the error Bin(C_a, .)), u_j ~ Bin(C_j, 1 - gamma)
    for j != a, independent, and
    A_j = u_j e^{z_j theta_j} / (sum_i u_i e^{z_i theta_i} + m), m = P - sum_i u_i masked
    keys in variant B (0 in variant A).  Rows: every z tuple and count vector;
    ``weight`` = pi_k gamma P(z) P(u) c(|M|) (c the loss normalisation)."""
    if inst.mask_model != "bernoulli":
        raise UsageError("the binomial reduction of LEM-G10 needs Bernoulli masking")
    cluster = inst.clusters[k]
    n, a_p, g = len(cluster.areas), int(inst.area_of[k, p]), inst.gamma
    sizes = [len(area) - (1 if (j_ == a_p and exclude_query) else 0) for j_, area in enumerate(cluster.areas)]
    rows_z, rows_u, weights = [], [], []
    for zt in itertools.product(*[list(zip(law.values, law.probs)) for law in cluster.z]):
        pz = math.prod(pr for _, pr in zt)
        for u in itertools.product(*[range(c + 1) for c in sizes]):
            pu = math.prod(math.comb(c, x) * (1 - g) ** x * g ** (c - x) for c, x in zip(sizes, u))
            rows_z.append([v for v, _ in zt])
            rows_u.append(list(u))
            weights.append(pz * pu)
    zt = torch.tensor(rows_z, dtype=DTYPE)
    u = torch.tensor(rows_u, dtype=DTYPE)
    masked_keys = inst.P - u.sum(1)
    num = u * torch.exp(zt * theta)
    den = num.sum(1) + (masked_keys if inst.key_set == "B" else 0.0)
    safe = torch.where(den > 0, den, torch.ones_like(den))
    A_ = torch.where(den.unsqueeze(1) > 0, num / safe.unsqueeze(1), torch.zeros_like(num))
    A0_ = torch.where(den > 0, (masked_keys if inst.key_set == "B" else 0.0) / safe, torch.zeros_like(den))
    c = normalisation_factor(inst, masked_keys)
    pad = inst.N_max - n
    R = len(weights)
    return EventView(z=torch.cat([zt, torch.ones(R, pad, dtype=DTYPE)], 1),
                     A=torch.cat([A_, torch.zeros(R, pad, dtype=DTYPE)], 1), A0=A0_,
                     a=torch.full((R,), a_p), n=torch.full((R,), n),
                     weight=cluster.weight * g * torch.tensor(weights, dtype=DTYPE) * c,
                     query=torch.full((R,), p), cluster=torch.full((R,), k))


def expected_integrand(expr, view: EventView) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum_rows weight * expr, sum_rows weight * |expr| magnitude) for each area j, (N_max,)."""
    J = view.N_max
    val, dom = evaluate(expr, view, J, 1)
    mag, _ = evaluate(expr, view, J, 1, absolute=True)
    w = view.weight.view(-1, 1) * dom[..., 0]
    return (w * val[..., 0]).sum(0), (w * mag[..., 0]).sum(0)


class InitialDrift(StructuralClaim):
    """[D] LEM-G10: at Q = 0 the FP ascent -dL/dPhi_{p -> v_{k,j}} equals SPEC's
    binomial formula pi_k gamma E[integrand(A = u / D)] (D = P in variant B, |U| in
    variant A), evaluated by summing over the Bin laws; compared with autograd."""

    def __init__(self, expression, label="[D] LEM-G10: the initial FP drift equals SPEC's binomial formula "
                 "(both key sets)", exclude_query=True, assumes=("zero_init",), draw=None):
        super().__init__(label, assumes, {"max_P": 4, **(draw or {})})
        self.expression = sp.sympify(expression)
        self.exclude_query = exclude_query

    def mutated(self, expression) -> "InitialDrift":
        return InitialDrift(expression, f"{self.label} (mutated)", self.exclude_query, self.assumes, self.draw)

    def tolerance(self) -> dict:
        return {"atol": "(events + rows + 64) * eps * (sum of |terms|)", "rtol": None,
                "justification": "both sides are sums of products over at most events (autograd) or rows "
                                 "(binomial enumeration) terms; float64 rounding of an n-term sum is below n eps "
                                 "times the sum of the absolute terms"}

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        batch = exact_batch(inst)
        _, gPhi, _ = grad_coords(case.Phi, case.Ups, inst, batch)
        worst, margin, rel, count = {}, math.inf, math.inf, 0
        zero = torch.zeros(inst.N_max, dtype=DTYPE)
        for k in range(inst.K):
            for p in range(inst.P):
                view = binomial_view(inst, k, p, zero[: inst.N[k]], self.exclude_query)
                drift, mag = expected_integrand(self.expression, view)
                for j_ in range(inst.N[k]):
                    auto = -float(gPhi[p, inst.feature_index(k, j_)])
                    tol = (len(batch) + len(view) + 64) * EPS * (float(mag[j_]) + abs(auto))
                    m = tol - abs(float(drift[j_]) - auto)
                    count += 1
                    if m / max(tol, 1e-300) < rel:
                        margin, rel = m, m / max(tol, 1e-300)
                        worst = {"cluster": k + 1, "query": p, "j": j_ + 1, "target_area": int(inst.area_of[k, p]) + 1,
                                 "formula": float(drift[j_]), "autograd": auto, "tolerance": tol}
        return Outcome(margin >= 0, margin, rel, count, worst)


class FPOnlyAblation(StructuralClaim):
    """[D] LEM-G12: with Ups frozen at 0 on a balanced instance, every row of
    cluster k has one target value phi_k(t) and one non-target value psi_k(t),
    driven by the 2-D recursion phi += eta E[LEM-G5 integrand], psi += eta
    E[LEM-G6 integrand] (expectations by :func:`binomial_view`), which must
    match GD in coordinates with ``TrainConfig(freeze_pp=True)``."""

    def __init__(self, expression, target_expression,
                 label="[D] LEM-G12: FP-only GD on a balanced instance follows the 2-D (phi, psi) recursion", steps=8,
                 eta=2.0,
                 assumes=("balanced", "zero_init"), draw=None):
        super().__init__(label, assumes, draw)
        self.expression = sp.sympify(expression)
        self.target_expression = sp.sympify(target_expression)
        self.steps, self.eta = steps, eta

    def mutated(self, expression) -> "FPOnlyAblation":
        return FPOnlyAblation(expression, self.target_expression, f"{self.label} (mutated)", self.steps, self.eta,
                              self.assumes, self.draw)

    def tolerance(self) -> dict:
        return {"atol": "steps * eta * (events + rows + 64) * eps * (sum of |terms|) + steps * 64 eps (1 + |phi|)",
                "rtol": None,
                "justification": "each step adds eta times two sums (exact batch vs binomial enumeration) that "
                                 "agree to n eps times their absolute size; the errors add up over the steps"}

    def recursion(self, inst: Instance, k: int) -> tuple[list[float], list[float], float]:
        """(phi_t, psi_t, error scale) for cluster k, t = 0..steps."""
        n, a_p = inst.N[k], int(inst.area_of[k, 0])
        j0 = (a_p + 1) % n
        phi, psi, scale = [0.0], [0.0], 0.0
        for _ in range(self.steps):
            theta = torch.full((n,), psi[-1], dtype=DTYPE)
            theta[a_p] = phi[-1]
            view = binomial_view(inst, k, 0, theta)
            d_phi, m_phi = expected_integrand(self.target_expression, view)
            d_psi, m_psi = expected_integrand(self.expression, view) if n > 1 else (torch.zeros(n), torch.zeros(n))
            phi.append(phi[-1] + self.eta * float(d_phi[a_p]))
            psi.append(psi[-1] + self.eta * float(d_psi[j0]))
            scale += self.eta * (len(view) + 64) * (float(m_phi[a_p]) + float(m_psi[j0]))
        return phi, psi, scale

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        if bool(case.Phi.any()) or bool(case.Ups.any()):
            raise UsageError("the FP-only ablation starts at Q = 0 (assumption zero_init)")
        traj = train(inst, TrainConfig(steps=self.steps, eta=self.eta, log_every=1, freeze_pp=True, device="cpu"))
        n_events = len(exact_batch(inst))
        margin, rel, worst = math.inf, math.inf, {}
        for k in range(inst.K):
            phi, psi, scale = self.recursion(inst, k)
            target = inst.feature_of[k]                                  # (P,) target column of each p
            for t in range(self.steps + 1):
                row = torch.from_numpy(traj.phi[t])
                tol = (n_events * EPS * scale) + t * 64 * EPS * (1 + abs(phi[t]) + abs(psi[t]))
                for p in range(inst.P):
                    cols = range(inst.feature_offset[k], inst.feature_offset[k] + inst.N[k])
                    for f in cols:
                        want = phi[t] if f == int(target[p]) else psi[t]
                        m = tol - abs(float(row[p, f]) - want)
                        if tol > 0 and m / tol < rel:
                            margin, rel = m, m / tol
                            worst = {"cluster": k + 1, "step": t, "query": p, "feature": inst.feature_name(f),
                                     "gd": float(row[p, f]), "recursion": want, "tolerance": tol}
        return Outcome(margin >= 0, margin, rel, (self.steps + 1) * inst.P * inst.F, worst)


def can_miss(inst: Instance, batch) -> torch.Tensor:
    """(B, P) bool: p is masked, its own area has a visible patch, and some key of S
    lies outside those patches (a masked key in variant B, a visible patch of another
    area in either variant), so A_{p,a} < 1 at every finite Q (SPEC LEM-G11)."""
    key_area = inst.area_of[batch.cluster]                                         # (B, P)
    other_visible = ((key_area.unsqueeze(2) != key_area.unsqueeze(1)) & ~batch.mask.unsqueeze(1)).any(-1)
    outside = torch.ones_like(batch.mask) if inst.key_set == "B" else other_visible
    return batch.mask & ~unavoidable(inst, batch) & outside


class LimitClaim(StructuralClaim):
    """[D] LEM-G11: moving every target FP correlation by s -> +inf (the rest fixed),
    L decreases monotonically (by LEM-G5) to L_inf, the loss on masked queries whose
    own area has no visible patch, and stays above it at every finite s.  The last
    part needs an avoidable event with a key outside the query's own visible
    patches (:func:`can_miss`): without one (e.g. variant A and every other area
    masked or absent) L is constant along s and the infimum is attained; such
    instances skip that part (evidence ``expected_can_miss_queries`` = 0).
    ``limit="zero"`` plants the wrong claim L -> 0; ``direction=-1`` moves the
    target correlations to -inf."""

    def __init__(self, label="[D] LEM-G11: L -> L_inf monotonically as the target FP correlations grow, "
                             "not attained at finite Q", limit="unavoidable", direction=1,
                 assumes=(), draw=None):
        super().__init__(label, assumes, draw)
        if limit not in ("unavoidable", "zero"):
            raise UsageError(f"limit must be 'unavoidable' or 'zero', got {limit!r}")
        self.limit, self.direction = limit, direction

    def tolerance(self) -> dict:
        return {"atol": "1e-12 * (1 + L(0)) at s_max; 64 events eps L for monotonicity", "rtol": None,
                "justification": "s_max is chosen so that the exact gap is below P^3 U^2 exp(4M - 2 L s_max) "
                                 "<= 1e-14 (1 - A_a <= P e^{2M - L s} on every event with a visible patch of its "
                                 "own area, M the largest |logit| at s = 0); the rest is float64 rounding of a "
                                 "sum over the exact batch"}

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        batch = exact_batch(inst)
        targets = torch.zeros_like(case.Phi)
        for k in range(inst.K):
            targets[torch.arange(inst.P), inst.feature_of[k]] = 1.0
        L_lo = max(min(abs(v) for c in inst.clusters for law in c.z for v in law.values), 0.05)
        U = max(abs(v) for c in inst.clusters for law in c.z for v in law.values)
        M = U * float(case.Phi.abs().max()) + float(case.Ups.abs().max())
        s_max = (4 * M + math.log(inst.P**3 * U**2 + 1) + 14 * math.log(10)) / (2 * L_lo)
        grid = [0.0] + [s_max * 2.0**-e for e in range(8, -1, -1)]
        with torch.no_grad():
            L_inf = float(loss_split(case.Phi, case.Ups, inst, batch)[1]) if self.limit == "unavoidable" else 0.0
            losses, gaps = [], []
            for s in grid:
                Phi = case.Phi + self.direction * s * targets
                losses.append(float(loss_coords(Phi, case.Ups, inst, batch)))
                gaps.append(float(loss_split(Phi, case.Ups, inst, batch)[0]))
        if losses[0] == 0.0:
            return Outcome(True, math.inf, math.inf, 0)
        mono_tol = 64 * len(batch) * EPS * (1 + losses[0])
        rises = max(b - a_ for a_, b in zip(losses, losses[1:]))
        conv_tol = 1e-12 * (1 + losses[0])
        conv = losses[-1] - L_inf
        # Not attained: on each avoidable event r2(s) is either identically 0 (every key
        # is a visible patch of the own area: variant A with single-area clusters) or > 0
        # for every finite s, so the avoidable part is > 0 at all s iff it is > 0 at s = 0.
        # Large s are not tested: 1 - A_a rounds to 0 there once it is below eps.
        avoidable = float((batch.weight.unsqueeze(1) * (batch.mask & ~unavoidable(inst, batch))).sum())
        movable = float((batch.weight.unsqueeze(1) * can_miss(inst, batch)).sum())
        attained = [s for s, g in zip(grid, gaps) if s <= s_max / 16 and not g > 0] if movable > 0 else []
        margins = {"monotone": mono_tol - rises, "converges": conv_tol - abs(conv)}
        worst = {"expected_avoidable_queries": avoidable, "expected_can_miss_queries": movable, "L(0)": losses[0], "L(s_max)": losses[-1], "L_inf": L_inf, "s_max": s_max,
                 "largest_rise": rises, "limit_gap": conv, "gaps": gaps, "attained_at": attained,
                 "limit": self.limit, "direction": self.direction}
        holds = all(m >= 0 for m in margins.values()) and not attained
        margin = min(margins["monotone"] / mono_tol, margins["converges"] / conv_tol)
        return Outcome(holds, min(margins.values()), -1.0 if attained else margin, len(grid), worst)


class UnavoidableProbability(StructuralClaim):
    """[D] LEM-G11: Pr[P_{k,a} n U = empty | k, p in M] <= gamma^(C_{k,a} - 1) for
    Bernoulli masks (the other C - 1 positions of the area are all masked).
    ``exponent_offset=0`` plants the wrong bound gamma^C."""

    def __init__(self, label="[D] LEM-G11: the unavoidable-event probability is <= gamma^(C_{k,a}-1)",
                 exponent_offset=-1, assumes=(), draw=None):
        super().__init__(label, assumes, draw)
        self.exponent_offset = exponent_offset

    def tolerance(self) -> dict:
        return {"atol": "64 * events * eps", "rtol": None,
                "justification": "a ratio of two sums of at most `events` probabilities, each exact to a few eps"}

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        batch = exact_batch(inst)
        lost = unavoidable(inst, batch)                                  # (B, P)
        w = batch.weight.unsqueeze(1)
        tol = 64 * len(batch) * EPS
        margin, worst, count = math.inf, {}, 0
        for k in range(inst.K):
            rows = batch.cluster == k
            den = (w[rows] * batch.mask[rows]).sum(0)
            num = (w[rows] * lost[rows]).sum(0)
            for p in range(inst.P):
                if den[p] <= 0:
                    continue
                C = len(inst.clusters[k].areas[int(inst.area_of[k, p])])
                bound = inst.gamma ** (C + self.exponent_offset)
                prob = float(num[p] / den[p])
                count += 1
                if bound - prob + tol < margin:
                    margin = bound - prob + tol
                    worst = {"cluster": k + 1, "query": p, "area_size": C, "probability": prob, "bound": bound,
                             "tolerance": tol}
        if count == 0:
            return Outcome(True, math.inf, math.inf, 0)
        return Outcome(margin >= 0, margin - tol, margin / max(tol, 1e-300), count, worst)
