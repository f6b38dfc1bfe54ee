"""Structural claims: the [D] lemmas of SPEC §8 that are not closed forms.

Each claim is evaluated on Hypothesis-drawn cases (see
:class:`proofcheck.engine.caseclaim.CaseClaim`) against the real model, states its
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

import torch

from proofcheck.engine.search import Outcome
from proofcheck.setting.symmetry import automorphisms
from proofcheck.lang.assumptions import case_q
from proofcheck.lang.cases import Case
from proofcheck.setting.coords import fp_correlation, grad_coords, pp_correlation, q_from_coords
from proofcheck.errors import UsageError
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.model import forward_loss
from proofcheck.setting.sampling import exact_batch
from proofcheck.engine.caseclaim import StructuralClaim
from proofcheck.setting.symmetry import permute_coords
from proofcheck.tolerance import EPS
from proofcheck.setting.trainer import TrainConfig, coords_at, train


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
        traj = train(inst, TrainConfig(steps=self.steps, eta=self.eta, log_every=1, device="cpu"),
                     start=(case.Phi, case.Ups))
        path = [coords_at(traj, t) for t in range(len(traj.step))]
        size = max(float(max(P.abs().max(), U.abs().max())) for P, U in path)
        tol = self.steps * (len(batch) + 64) * EPS * (1 + size)
        dev, worst = 0.0, {}
        for t, (Phi, Ups) in enumerate(path):
            d, w = self._deviation(inst, Phi, Ups, auts)
            if d >= dev:
                dev, worst = d, {**w, "step": t, "deviation": d}
        worst.update(tolerance=tol, pairs=self.pairs, steps=self.steps, eta=self.eta)
        return Outcome(dev <= tol, tol - dev, (tol - dev) / tol, len(path), worst)
