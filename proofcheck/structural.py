"""Structural claims: the [D] lemmas of SPEC §8 that are not closed forms.

Each claim is evaluated on Hypothesis-drawn cases (see
:class:`proofcheck.assumptions.CaseClaim`) against the real model, states its
tolerance with an error model, and has a parameter that plants a wrong
statement (so a test can show that the check REFUTES it):

- :class:`SpanClosure` (LEM-G2), wrong: ``blocks=("fp",)``;
- :class:`RowDecoupling` (LEM-G3), wrong: ``axis="column"``;
- :class:`GradientEquivariance` and :class:`SymmetryPreserved` (LEM-G9), wrong:
  ``act_on_keys=False`` / ``pairs="area_relation"``;
- :class:`InitialDrift` (LEM-G10), wrong: ``exclude_query=False`` or a mutated expression;
- :class:`LimitClaim` and :class:`UnavoidableProbability` (LEM-G11), wrong:
  ``limit="zero"``, ``direction=-1``, ``exponent_offset=0``;
- :class:`FPOnlyAblation` (LEM-G12), wrong: a mutated driving expression.
"""
from __future__ import annotations

import itertools
import math

import sympy as sp
import torch

from .assumptions import CaseClaim, Outcome, automorphisms, case_q
from .cases import Case
from .coords import fp_correlation, grad_coords, loss_coords, loss_split, pp_correlation, q_from_coords, unavoidable
from .errors import UsageError
from .inequality import EPS, EventView, evaluate
from .instance import DTYPE, Instance
from .model import forward_loss
from .sampling import exact_batch
from .spec_inequalities import G5_INTEGRAND, G6_INTEGRAND
from .symbols import A, R_p, a, delta, j, z
from .trainer import TrainConfig, train

#: LEM-G4 integrand: z_j A_{p,j} (z_j^2 (delta_{ja} - A_{p,j}) + R_p)
G4_INTEGRAND = z[j] * A[j] * (z[j] ** 2 * (delta(j, a) - A[j]) + R_p)


class StructuralClaim(CaseClaim):
    kind = "structural"

    def __init__(self, label: str, assumes=(), draw=None):
        self.label = label
        self.assumes = tuple(assumes)
        self.draw = dict(draw or {})


def _loss_and_grad_q(Q: torch.Tensor, inst: Instance, batch) -> tuple[float, torch.Tensor]:
    Q = Q.detach().requires_grad_(True)
    loss = forward_loss(Q, inst, batch)
    (g,) = torch.autograd.grad(loss, Q)
    return float(loss.detach()), g


def _projector(M: torch.Tensor) -> torch.Tensor:
    """Orthogonal projector onto the column span of M (any basis, orthonormal or not)."""
    return M @ torch.linalg.pinv(M)


# -- LEM-G2 -----------------------------------------------------------------------------

class SpanClosure(StructuralClaim):
    """[D] LEM-G2: the full-model autograd gradient lies in span{e_p v^T} + span{e_p e_q^T};
    rows w orthogonal to {e_p} and columns orthogonal to {v_f, e_q} vanish.  Checked with a
    rotated basis and two spare dimensions so that both complements are non-trivial."""

    in_coords = False

    def __init__(self, label="[D] LEM-G2: the gradient stays in the span (rotated basis, full d x d model)",
                 blocks=("fp", "pp"), assumes=(), draw=None):
        super().__init__(label, assumes, {"bases": ("rotated",), **(draw or {})})
        self.blocks = tuple(blocks)

    def tolerance(self) -> dict:
        return {"atol": None, "rtol": "50 * events * d * eps (relative to ||grad||_F)",
                "justification": "the gradient is a sum over the exact batch of per-event terms, each a product of "
                                 "d-vectors, so float64 rounding leaves components of relative size at most about "
                                 "events * d * eps outside the span; 50 is headroom for the projection"}

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        if getattr(case, "Q_off", None) is None:
            inst = inst.with_options(d=inst.P + inst.F + 2)
            Q = q_from_coords(case.Phi, case.Ups, inst)
        else:
            Q = case_q(case)
        batch = exact_batch(inst)
        loss, G = _loss_and_grad_q(Q, inst, batch)
        # relative to the loss as well: where L is constant in Q the gradient is rounding noise
        norm = max(float(torch.linalg.norm(G)), loss)
        if norm == 0.0:
            return Outcome(True, math.inf, math.inf, 0)
        Ups_G = pp_correlation(G, inst) if "pp" in self.blocks else torch.zeros(inst.P, inst.P, dtype=DTYPE)
        span = float(torch.linalg.norm(G - q_from_coords(fp_correlation(G, inst), Ups_G, inst))) / norm
        eye = torch.eye(inst.d, dtype=DTYPE)
        rows = float(torch.linalg.norm((eye - _projector(inst.E)) @ G)) / norm
        cols = float(torch.linalg.norm(G @ (eye - _projector(inst.basis_matrix)))) / norm
        tol = 50 * len(batch) * inst.d * EPS
        leak = max(span, rows, cols)
        worst = {"off_span_fraction": span, "row_leak": rows, "column_leak": cols, "tolerance": tol,
                 "grad_norm": norm, "blocks": list(self.blocks), "d": inst.d}
        return Outcome(leak <= tol, tol - leak, (tol - leak) / tol, 1, worst)


# -- LEM-G3 ---------------------------------------------------------------------------------

class RowDecoupling(StructuralClaim):
    """[D] LEM-G3: L = sum_p L_p(e_p^T Q).  Checked two ways on the full model:
    Hessian-vector products in a direction inside row p' have no component in
    the other rows e_p^T (autograd, double backward), and
    L(Q) + (P - 1) L(0) = sum_p L(e_p e_p^T Q)."""

    in_coords = False
    explicit = False  # the P = 6 fixture costs P Hessian-vector products of a 13 x 13 model; drawn cases suffice

    def __init__(self, label="[D] LEM-G3: the loss is a sum of per-row losses (Hessian cross-row blocks vanish)",
                 axis="row", assumes=(), draw=None):
        super().__init__(label, assumes, {"bases": ("rotated",), **(draw or {})})
        if axis not in ("row", "column"):
            raise UsageError(f"axis must be 'row' or 'column', got {axis!r}")
        self.axis = axis

    def tolerance(self) -> dict:
        return {"atol": None, "rtol": "100 * events * d * eps (relative to ||Hv|| and to the loss)",
                "justification": "Hessian-vector products and losses are sums over the exact batch of products of "
                                 "d-vectors; float64 rounding leaks at most about events * d * eps of their size "
                                 "into blocks that are exactly zero"}

    def _block(self, M: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
        """Rows e_p^T M (axis row) or columns M e_q (axis column), as a (P, d) tensor."""
        return E.T @ M if self.axis == "row" else (M @ E).T

    def _keep_only(self, Q: torch.Tensor, E: torch.Tensor, p: int) -> torch.Tensor:
        proj = torch.outer(E[:, p], E[:, p])
        return proj @ Q if self.axis == "row" else Q @ proj

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        batch = exact_batch(inst)
        E = inst.E
        Q = case_q(case).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(forward_loss(Q, inst, batch), Q, create_graph=True)
        gen = torch.Generator().manual_seed(inst.rotation_seed)
        tol = 100 * len(batch) * inst.d * EPS
        cross, norms = [], []
        for p in range(inst.P):
            w = torch.randn(inst.d, dtype=DTYPE, generator=gen)
            V = torch.outer(E[:, p], w) if self.axis == "row" else torch.outer(w, E[:, p])
            (hv,) = torch.autograd.grad((g * V).sum(), Q, retain_graph=True)
            blocks = self._block(hv, E)
            cross.append(float(torch.linalg.norm(torch.cat([blocks[:p], blocks[p + 1:]]))))
            norms.append(float(torch.linalg.norm(hv)))
        with torch.no_grad():
            L = float(forward_loss(Q, inst, batch))
        # relative to the largest Hv and the loss: where L is constant in Q, Hv is rounding noise
        scale = max(max(norms), L, 1e-300)
        worst_p = max(range(inst.P), key=lambda p: cross[p])
        leak = cross[worst_p] / scale
        with torch.no_grad():
            L0 = float(forward_loss(torch.zeros_like(Q), inst, batch))
            parts = sum(float(forward_loss(self._keep_only(Q, E, p), inst, batch)) for p in range(inst.P))
        sum_gap = abs(L + (inst.P - 1) * L0 - parts) / max(L + (inst.P - 1) * L0, 1e-300)
        worst = {"axis": self.axis, "cross_block_fraction": leak, "worst_direction_index": worst_p,
                 "sum_identity_relative_gap": sum_gap, "tolerance": tol}
        bad = max(leak, sum_gap)
        return Outcome(bad <= tol, tol - bad, (tol - bad) / tol, inst.P + 1, worst)


# -- LEM-G9 --------------------------------------------------------------------------------------

def permute_coords(Phi: torch.Tensor, Ups: torch.Tensor, pi, tau, act_on_keys: bool = True):
    """The image of (Phi, Ups) under the automorphism (pi, tau): Phi'[pi p, tau f] = Phi[p, f],
    Ups'[pi p, pi q] = Ups[p, q] (``act_on_keys=False`` forgets to move the keys q)."""
    pi_t, tau_t = torch.tensor(pi), torch.tensor(tau)
    Phi2 = torch.empty_like(Phi)
    Phi2[pi_t.unsqueeze(1), tau_t.unsqueeze(0)] = Phi
    Ups2 = torch.empty_like(Ups)
    if act_on_keys:
        Ups2[pi_t.unsqueeze(1), pi_t.unsqueeze(0)] = Ups
    else:
        Ups2[pi_t] = Ups
    return Phi2, Ups2


class GradientEquivariance(StructuralClaim):
    """[D] LEM-G9: for an automorphism sigma of the instance, grad L(sigma x) = sigma grad L(x)
    (autograd in coordinates, at arbitrary points)."""

    def __init__(self, label="[D] LEM-G9: the gradient is equivariant under the instance's automorphisms",
                 act_on_keys=True, assumes=("symmetric_instance",), draw=None):
        super().__init__(label, assumes, draw)
        self.act_on_keys = act_on_keys

    def tolerance(self) -> dict:
        return {"atol": "(events + 64) * eps * max|grad|", "rtol": None,
                "justification": "both gradients are the same sum over the exact batch taken in a permuted order; "
                                 "float64 reordering changes a sum of n terms by at most n eps times its size"}

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        auts = automorphisms(inst, limit=8)
        if not auts:
            return Outcome(True, math.inf, math.inf, 0)
        batch = exact_batch(inst)
        loss, gPhi, gUps = grad_coords(case.Phi, case.Ups, inst, batch)
        scale = max(float(gPhi.abs().max()), float(gUps.abs().max()), float(loss), 1e-300)
        tol = (len(batch) + 64) * EPS * scale
        dev, worst = 0.0, {}
        for pi, tau in auts:
            Phi2, Ups2 = permute_coords(case.Phi, case.Ups, pi, tau, self.act_on_keys)
            _, hPhi, hUps = grad_coords(Phi2, Ups2, inst, batch)
            ePhi, eUps = permute_coords(gPhi, gUps, pi, tau)
            d = max(float((hPhi - ePhi).abs().max()), float((hUps - eUps).abs().max()))
            if d >= dev:
                dev, worst = d, {"pi": list(pi), "tau": list(tau), "deviation": d}
        worst.update(tolerance=tol, automorphisms=len(auts), grad_scale=scale)
        return Outcome(dev <= tol, tol - dev, (tol - dev) / tol, len(auts), worst)


def gd_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch, steps: int, eta: float):
    """Iterates of exact GD in coordinates from (Phi, Ups) (SPEC DEF-GD, exact by LEM-G2),
    from any starting point (the trainer starts only at 0 or a random point)."""
    out = [(Phi, Ups)]
    for _ in range(steps):
        _, gPhi, gUps = grad_coords(Phi, Ups, inst, batch)
        Phi, Ups = Phi - eta * gPhi, Ups - eta * gUps
        out.append((Phi, Ups))
    return out


class SymmetryPreserved(StructuralClaim):
    """[D] LEM-G9: from Q = 0, correlations that an automorphism maps onto each
    other stay equal along GD.  ``pairs="area_relation"`` is SPEC's literal
    wording (keys q, q' != p with the same area-membership relation to p in every
    cluster keep equal Ups_{p->q}), which is *not* implied by the automorphism
    argument when the other areas differ in size or z law."""

    def __init__(self, label="[D] LEM-G9: correlations mapped onto each other by an automorphism stay equal "
                             "along GD from Q = 0", pairs="automorphism", steps=4, eta=1.0,
                 assumes=("zero_init", "symmetric_instance"), draw=None):
        super().__init__(label, assumes, draw)
        if pairs not in ("automorphism", "area_relation"):
            raise UsageError(f"pairs must be 'automorphism' or 'area_relation', got {pairs!r}")
        self.pairs, self.steps, self.eta = pairs, steps, eta

    def tolerance(self) -> dict:
        return {"atol": "steps * (events + 64) * eps * (1 + max|coords|)", "rtol": None,
                "justification": "entries that are equal in exact arithmetic get gradients computed in different "
                                 "summation orders (n eps relative each step); the error adds up over the steps"}

    def _deviation(self, inst: Instance, Phi, Ups, auts) -> tuple[float, dict]:
        dev, worst = 0.0, {}
        if self.pairs == "automorphism":
            for pi, tau in auts:
                Phi2, Ups2 = permute_coords(Phi, Ups, pi, tau)
                d = max(float((Phi2 - Phi).abs().max()), float((Ups2 - Ups).abs().max()))
                if d >= dev:
                    dev, worst = d, {"pi": list(pi), "tau": list(tau)}
            return dev, worst
        for p in range(inst.P):
            relation = {}
            for q in range(inst.P):
                if q != p:
                    key = tuple(int(inst.area_of[k, q] == inst.area_of[k, p]) for k in range(inst.K))
                    relation.setdefault(key, []).append(q)
            for qs in relation.values():
                for q, q2 in itertools.combinations(qs, 2):
                    d = float((Ups[p, q] - Ups[p, q2]).abs())
                    if d >= dev:
                        dev, worst = d, {"query": p, "keys": [q, q2]}
        return dev, worst

    def evaluate_case(self, case: Case) -> Outcome:
        inst = case.instance
        auts = automorphisms(inst, limit=8) if self.pairs == "automorphism" else []
        if self.pairs == "automorphism" and not auts:
            return Outcome(True, math.inf, math.inf, 0)
        batch = exact_batch(inst)
        path = gd_coords(case.Phi, case.Ups, inst, batch, self.steps, self.eta)
        size = max(float(max(P.abs().max(), U.abs().max())) for P, U in path)
        tol = self.steps * (len(batch) + 64) * EPS * (1 + size)
        dev, worst = 0.0, {}
        for t, (Phi, Ups) in enumerate(path):
            d, w = self._deviation(inst, Phi, Ups, auts)
            if d >= dev:
                dev, worst = d, {**w, "step": t, "deviation": d}
        worst.update(tolerance=tol, pairs=self.pairs, steps=self.steps, eta=self.eta)
        return Outcome(dev <= tol, tol - dev, (tol - dev) / tol, len(path), worst)


# -- LEM-G10 and LEM-G12: expectations over binomial counts of visible patches ----------------------

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
    c = {"none": torch.ones_like(den), "P": torch.full_like(den, 1.0 / inst.P), "M": 1.0 / masked_keys.clamp(min=1)}[inst.normalisation]
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

    def __init__(self, label="[D] LEM-G10: the initial FP drift equals SPEC's binomial formula (both key sets)",
                 expression=G4_INTEGRAND, exclude_query=True, assumes=("zero_init",), draw=None):
        super().__init__(label, assumes, {"max_P": 4, **(draw or {})})
        self.expression = sp.sympify(expression)
        self.exclude_query = exclude_query

    def mutated(self, expression) -> "InitialDrift":
        return InitialDrift(f"{self.label} (mutated)", expression, self.exclude_query, self.assumes, self.draw)

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

    def __init__(self, label="[D] LEM-G12: FP-only GD on a balanced instance follows the 2-D (phi, psi) recursion",
                 expression=G6_INTEGRAND, target_expression=G5_INTEGRAND, steps=8, eta=2.0,
                 assumes=("balanced", "zero_init"), draw=None):
        super().__init__(label, assumes, draw)
        self.expression = sp.sympify(expression)
        self.target_expression = sp.sympify(target_expression)
        self.steps, self.eta = steps, eta

    def mutated(self, expression) -> "FPOnlyAblation":
        return FPOnlyAblation(f"{self.label} (mutated)", expression, self.target_expression, self.steps, self.eta,
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


# -- LEM-G11 -------------------------------------------------------------------------------------

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
