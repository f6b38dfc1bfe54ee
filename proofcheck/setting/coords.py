"""Correlation coordinates (SPEC DEF-CORR, LEM-G2) and the fast loss in them.

With orthonormal embeddings and Q in the span of LEM-G2,
``Q = sum Phi[p,f] e_p v_f^T + sum Ups[p,q] e_p e_q^T``, and the loss depends on Q
only through the FP correlations ``Phi`` (P x F) and the PP correlations ``Ups``
(P x P).  Nothing here builds a d x d matrix: the attention logits are
``z_j Phi_{p->v_{k,j}} 1{q in U} + Ups_{p->q}`` (SPEC DEF-CORR "attention logits").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from proofcheck.setting.instance import Instance
from proofcheck.setting.model import key_set, masked_softmax, normaliser
from proofcheck.setting.sampling import Batch


def fp_correlation(Q: torch.Tensor, inst: Instance) -> torch.Tensor:
    """(P, F) Phi_{p->v_f} = e_p^T Q v_f (SPEC DEF-CORR)."""
    return inst.E.to(Q.device).T @ Q @ inst.V.to(Q.device)


def pp_correlation(Q: torch.Tensor, inst: Instance) -> torch.Tensor:
    """(P, P) Ups_{p->q} = e_p^T Q e_q (SPEC DEF-CORR)."""
    E = inst.E.to(Q.device)
    return E.T @ Q @ E


def q_from_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance) -> torch.Tensor:
    """Q = sum Phi e_p v^T + sum Ups e_p e_q^T (SPEC LEM-G2)."""
    E, V = inst.E.to(Phi.device), inst.V.to(Phi.device)
    return E @ Phi @ V.T + E @ Ups @ E.T


def off_span_fraction(Q: torch.Tensor, inst: Instance) -> float:
    """||Q - proj_span(Q)||_F / ||Q||_F: mass of Q outside the span of LEM-G2."""
    norm = torch.linalg.norm(Q)
    if norm == 0:
        return 0.0
    back = q_from_coords(fp_correlation(Q, inst), pp_correlation(Q, inst), inst)
    return float(torch.linalg.norm(Q - back) / norm)


@dataclass
class Events:
    """Per-event quantities of SPEC DEF-CORR for every (event b, query p).

    ``attn`` (B,P,P); ``A`` (B,P,N_max) area masses over unmasked keys;
    ``A0`` (B,P) mass on masked keys (0 in variant A); ``a`` (B,P) target area
    a_k(p); ``z`` (B,N_max); ``z_a`` (B,P); ``R`` (B,P) = sum z_i^2 A_i^2 - z_a^2 A_a;
    ``r2`` (B,P) = ||x_p - F_p||^2; ``masked`` (B,P); ``unmasked_keys`` (B,P)."""

    attn: torch.Tensor
    A: torch.Tensor
    A0: torch.Tensor
    a: torch.Tensor
    z: torch.Tensor
    z_a: torch.Tensor
    R: torch.Tensor
    r2: torch.Tensor
    masked: torch.Tensor
    unmasked_keys: torch.Tensor
    key_area: torch.Tensor


def attention_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P, P) attention from correlation coordinates (SPEC DEF-CORR logits)."""
    dev = Phi.device
    feat = inst.feature_of.to(dev)[batch.cluster]                              # (B, P)
    zq = batch.z.gather(1, inst.area_of.to(dev)[batch.cluster]) * (~batch.mask)  # (B, P), 0 on masked keys
    logits = Phi[:, feat].permute(1, 0, 2) * zq.unsqueeze(1) + Ups              # (B, P, P)
    return masked_softmax(logits, key_set(inst, batch))


def events(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> Events:
    """All per-event quantities at coordinates (Phi, Ups)."""
    dev = Phi.device
    attn = attention_coords(Phi, Ups, inst, batch)
    B, P = batch.mask.shape
    key_area = inst.area_of.to(dev)[batch.cluster]                               # (B, P)
    unmasked = ~batch.mask
    A = torch.zeros(B, P, inst.N_max, dtype=attn.dtype, device=dev)
    A = A.scatter_add(2, key_area.unsqueeze(1).expand(B, P, P), attn * unmasked.unsqueeze(1))
    A0 = (attn * batch.mask.unsqueeze(1)).sum(-1)
    z_a, R, r2 = residual_terms(A, inst, batch)
    # the target area of query p is the area of position p
    return Events(attn, A, A0, key_area, batch.z, z_a, R, r2, batch.mask, unmasked, key_area)


#: Ups rows whose spread exceeds this would underflow exp(Ups - max) in the fast
#: path (exp(-708) is float64's smallest normal number); such points take the
#: explicit (B, P, P) path instead.
FAST_UPS_SPREAD = 700.0


@dataclass
class AreaSoftmax:
    """The softmax of DEF-CORR regrouped by area, without a (B, P, P) tensor.

    Layout (query p, event b, slot j): slots 0..N_max-1 are areas, slot N_max
    the masked keys.  For masked query p, attn_{p->q} = W[p,q] alpha[p,b,j]
    with W = exp(Ups - rowmax) and j the slot of key q, because the logit of an
    unmasked key in area j is z_j Phi_{p->v_{k,j}} + Ups_{p->q} and that of a
    masked key Ups_{p->q} (SPEC DEF-CORR).  ``keys`` (P, B*(N_max+1)) holds the
    indicators of key q in slot j (masked keys only in variant B), so the slot
    sums of W are one matrix product.  ``A_all`` (P, B, N_max+1) = A_{p,j} and
    A_{p,0} in the last slot; ``A`` and ``A0`` give them in the (B, P) layout."""

    A_all: torch.Tensor
    alpha: torch.Tensor
    W: torch.Tensor
    keys: torch.Tensor

    @property
    def A(self) -> torch.Tensor:
        return self.A_all[..., :-1].permute(1, 0, 2)

    @property
    def A0(self) -> torch.Tensor:
        return self.A_all[..., -1].T


def fast_path_ok(Ups: torch.Tensor) -> bool:
    """Whether :func:`area_softmax` is exact to rounding at this Ups (see FAST_UPS_SPREAD)."""
    return bool((Ups.amax(1) - Ups.amin(1)).max() <= FAST_UPS_SPREAD)


def _slot_columns(inst: Instance, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N_max+1) feature column and z of each slot; the masked-key slot and
    padding areas point at a zero column F of the padded Phi (so z Phi = 0)."""
    cols = feature_columns(inst, batch)
    F = torch.full_like(cols[:, :1], inst.F)
    return torch.cat([cols, F], 1), torch.cat([batch.z, torch.ones_like(batch.z[:, :1])], 1)


def area_softmax(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> AreaSoftmax:
    """Area masses A_{p,j}, A_{p,0} of DEF-CORR for every event and query, in
    O(B P N_max) memory and one (P x P) @ (P x B(N_max+1)) product."""
    B, P = batch.mask.shape
    N = inst.N_max
    key_area = inst.area_of.to(Phi.device)[batch.cluster]                        # (B, P)
    slot = torch.where(batch.mask, N, key_area).T.unsqueeze(-1)                 # (q, B, 1)
    keys = Phi.new_zeros(P, B, N + 1).scatter_(2, slot, 1.0)
    if inst.key_set == "A":
        keys[..., N] = 0.0                                                       # masked keys are not in S
    keys = keys.view(P, B * (N + 1))
    W = torch.exp(Ups - Ups.amax(1, keepdim=True))
    S = (W @ keys).view(P, B, N + 1)
    cols, z = _slot_columns(inst, batch)
    zPhi = torch.cat([Phi, Phi.new_zeros(P, 1)], 1)[:, cols] * z                 # (p, b, N+1)
    # shift by the largest logit among slots that have keys: a slot whose exp
    # underflows then weighs < P e^-45 relative to it (S >= e^-700 by FAST_UPS_SPREAD)
    shift = zPhi.masked_fill(S == 0, -torch.inf).amax(-1, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, 0.0)                       # no key: variant A, U empty
    alpha = torch.exp(zPhi - shift)
    Z = (S * alpha).sum(-1, keepdim=True)
    alpha = alpha / torch.where(Z > 0, Z, 1.0)                                   # no key: A = 0, F_p = 0
    return AreaSoftmax(S * alpha, alpha, W, keys)


def area_masses(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(A (B,P,N_max), A0 (B,P)) of DEF-CORR; the fast path unless Ups is extreme."""
    if fast_path_ok(Ups):
        sm = area_softmax(Phi, Ups, inst, batch)
        return sm.A, sm.A0
    ev = events(Phi, Ups, inst, batch)
    return ev.A, ev.A0


def residual_terms(A: torch.Tensor, inst: Instance, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(z_a, R_p, ||r_p||^2), each (B, P), from the area masses (SPEC DEF-CORR residuals):
    R_p = sum_i z_i^2 A_i^2 - z_a^2 A_a and ||r_p||^2 = R_p - z_a^2 A_a + z_a^2."""
    a = inst.area_of.to(A.device)[batch.cluster]
    z_a = batch.z.gather(1, a)
    A_a = A.gather(2, a.unsqueeze(-1)).squeeze(-1)
    R = ((batch.z**2).unsqueeze(1) * A * A).sum(-1) - z_a**2 * A_a
    return z_a, R, R - z_a**2 * A_a + z_a**2


def event_losses_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B,) per-event loss in coordinates: 1/2 sum_{p in M} ||r_p||^2 with
    ||r_p||^2 = z_a^2 (1 - A_a)^2 + sum_{i != a} z_i^2 A_i^2 (SPEC DEF-CORR)."""
    A, _ = area_masses(Phi, Ups, inst, batch)
    _, _, r2 = residual_terms(A, inst, batch)
    return 0.5 * (r2 * batch.mask).sum(1) * normaliser(inst, batch)


def loss_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """L(Phi, Ups): same value as :func:`proofcheck.setting.model.forward_loss` on span Q."""
    return (event_losses_coords(Phi, Ups, inst, batch) * batch.weight).sum()


def grad_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch):
    """(loss, dL/dPhi, dL/dUps) by autograd in coordinates."""
    Phi = Phi.detach().requires_grad_(True)
    Ups = Ups.detach().requires_grad_(True)
    loss = loss_coords(Phi, Ups, inst, batch)
    gPhi, gUps = torch.autograd.grad(loss, (Phi, Ups))
    return loss.detach(), gPhi, gUps


def grad_coords_closed_form(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch):
    """(loss, dL/dPhi, dL/dUps) from the closed forms LEM-G4 and LEM-G8 [D]:

    -dL/dPhi_{p->v_{k,j}} = E[1_k 1{p in M} z_j A_{p,j} (z_j^2 (delta_ja - A_{p,j}) + R_p)],
    -dL/dUps_{p->q} = E[1{p in M, q in S} attn_{p->q} (1{q in U} z_j^2 (delta_ja - A_{p,j}) + R_p)].

    The trainer's gradient: several times faster than autograd.  Its agreement
    with autograd of the full model is tested (tests/test_coords.py), so lemma
    checks of LEM-G4/G8 must compare against :func:`grad_coords`, not this."""
    if not fast_path_ok(Ups):
        return grad_coords(Phi, Ups, inst, batch)
    Phi, Ups = Phi.detach(), Ups.detach()
    B, P = batch.mask.shape
    N = inst.N_max
    sm = area_softmax(Phi, Ups, inst, batch)
    A = sm.A_all                                                                # (p, b, N+1)
    _, z = _slot_columns(inst, batch)
    z2 = torch.cat([batch.z**2, torch.zeros_like(batch.z[:, :1])], 1)          # masked slot: no content
    a = inst.area_of.to(Phi.device)[batch.cluster].T.unsqueeze(-1)             # (p, b, 1) target slot
    z2_a = z2.expand(P, B, N + 1).gather(2, a).squeeze(-1)
    A_a = A.gather(2, a).squeeze(-1)
    R = (z2 * A * A).sum(-1) - z2_a * A_a                                       # (p, b)
    c = (batch.weight * normaliser(inst, batch) * batch.mask.T)                # (p, b)
    loss = 0.5 * (c * (R - z2_a * A_a + z2_a)).sum()
    # G[p,b,j] = <x_p - F_p, x~_q - F_p> for a key q in slot j: z_j^2 (delta_ja - A_j) + R
    G = torch.zeros_like(A).scatter_(2, a, 1.0).sub_(A).mul_(z2).add_(R.unsqueeze(-1)).mul_(c.unsqueeze(-1))
    # dL/dPhi_{p->v_{k,j}} sums slot j over the events of cluster k: one batched product
    in_cluster = torch.nn.functional.one_hot(batch.cluster, inst.K).to(Phi.dtype)  # (b, k)
    per_cluster = torch.einsum("pbj,bk->pkj", G * A * z, in_cluster)
    gPhi = -torch.cat([per_cluster[:, k, :n] for k, n in enumerate(inst.N)], 1)
    gUps = -sm.W * ((G.mul_(sm.alpha)).view(P, -1) @ sm.keys.T)
    return loss, gPhi, gUps


def feature_columns(inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, N_max) feature column of area j of each event's cluster; F for padding."""
    dev = batch.z.device
    offs = torch.tensor(inst.feature_offset, device=dev)[batch.cluster]
    n = torch.tensor(inst.N, device=dev)[batch.cluster]
    j = torch.arange(inst.N_max, device=dev)
    return torch.where(j < n.unsqueeze(1), offs.unsqueeze(1) + j, torch.full_like(j, inst.F))


def area_mass(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(P, F) E[A_{p,j} | X ~ D_k, p in M] for each feature v_{k,j} (SPEC DEF-CORR
    area attention masses), the summary the trainer logs."""
    A, _ = area_masses(Phi, Ups, inst, batch)
    B, P = batch.mask.shape
    cols = feature_columns(inst, batch)                                         # (B, N_max)
    w = batch.weight.unsqueeze(1) * batch.mask                                  # (B, P)
    num = torch.zeros(P, inst.F + 1, dtype=Phi.dtype, device=Phi.device)
    num.index_add_(1, cols.reshape(-1), (w.unsqueeze(-1) * A).permute(1, 0, 2).reshape(P, -1))
    den = torch.zeros(P, inst.F + 1, dtype=Phi.dtype, device=Phi.device)
    valid = (cols < inst.F).to(Phi.dtype)
    den.index_add_(1, cols.reshape(-1), (w.unsqueeze(-1) * valid.unsqueeze(1)).permute(1, 0, 2).reshape(P, -1))
    return (num / den.clamp(min=1e-300))[:, : inst.F]


def target_mass(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(P, K) E[A_{p, a_k(p)} | X ~ D_k, p in M]: mass on the query's own area."""
    mass = area_mass(Phi, Ups, inst, batch)
    return mass.gather(1, inst.feature_of.T.to(mass.device))


def unavoidable(inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P) bool: p is masked and its own area P_{k,a_k(p)} has no visible patch,
    the events that no attention pattern can reconstruct (SPEC LEM-G11)."""
    dev = batch.mask.device
    key_area = inst.area_of.to(dev)[batch.cluster]                                # (B, P)
    same_area = key_area.unsqueeze(2) == key_area.unsqueeze(1)                     # (B, p, q)
    visible_in_own_area = (same_area & ~batch.mask.unsqueeze(1)).any(-1)
    return batch.mask & ~visible_in_own_area


def loss_split(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(avoidable, unavoidable) parts of L at (Phi, Ups): the loss on masked
    queries whose own area has a visible patch, and on those whose has none.
    As the target FP correlations grow with the rest bounded, the avoidable part
    tends to 0 and L tends to the unavoidable part, SPEC's L_infinity (LEM-G11)."""
    A, _ = area_masses(Phi, Ups, inst, batch)
    _, _, r2 = residual_terms(A, inst, batch)
    lost = unavoidable(inst, batch)
    per_pos = 0.5 * r2 * normaliser(inst, batch).unsqueeze(1) * batch.weight.unsqueeze(1)
    return (per_pos * (batch.mask & ~lost)).sum(), (per_pos * lost).sum()
