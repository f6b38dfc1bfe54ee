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

from .instance import Instance
from .model import key_set, masked_softmax, normaliser
from .sampling import Batch


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
    a = key_area  # the target area of query p is the area of position p
    z2 = batch.z**2
    z_a = batch.z.gather(1, a)
    z2A = z2.unsqueeze(1) * A
    R = (z2A * A).sum(-1) - z_a**2 * A.gather(2, a.unsqueeze(-1)).squeeze(-1)
    r2 = R - z_a**2 * A.gather(2, a.unsqueeze(-1)).squeeze(-1) + z_a**2
    return Events(attn, A, A0, a, batch.z, z_a, R, r2, batch.mask, unmasked, key_area)


def event_losses_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B,) per-event loss in coordinates: 1/2 sum_{p in M} ||r_p||^2 with
    ||r_p||^2 = z_a^2 (1 - A_a)^2 + sum_{i != a} z_i^2 A_i^2 (SPEC DEF-CORR)."""
    ev = events(Phi, Ups, inst, batch)
    return 0.5 * (ev.r2 * batch.mask).sum(1) * normaliser(inst, batch)


def loss_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """L(Phi, Ups): same value as :func:`proofcheck.model.forward_loss` on span Q."""
    return (event_losses_coords(Phi, Ups, inst, batch) * batch.weight).sum()


def grad_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch):
    """(loss, dL/dPhi, dL/dUps) by autograd in coordinates."""
    Phi = Phi.detach().requires_grad_(True)
    Ups = Ups.detach().requires_grad_(True)
    loss = loss_coords(Phi, Ups, inst, batch)
    gPhi, gUps = torch.autograd.grad(loss, (Phi, Ups))
    return loss.detach(), gPhi, gUps


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
    ev = events(Phi, Ups, inst, batch)
    B, P = batch.mask.shape
    cols = feature_columns(inst, batch)                                         # (B, N_max)
    w = batch.weight.unsqueeze(1) * batch.mask                                  # (B, P)
    num = torch.zeros(P, inst.F + 1, dtype=Phi.dtype, device=Phi.device)
    num.index_add_(1, cols.reshape(-1), (w.unsqueeze(-1) * ev.A).permute(1, 0, 2).reshape(P, -1))
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
    ev = events(Phi, Ups, inst, batch)
    lost = unavoidable(inst, batch)
    per_pos = 0.5 * ev.r2 * normaliser(inst, batch).unsqueeze(1) * batch.weight.unsqueeze(1)
    return (per_pos * (batch.mask & ~lost)).sum(), (per_pos * lost).sum()
