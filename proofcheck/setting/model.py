"""The one-layer softmax attention and the masked-reconstruction loss, on full
d x d matrices (SPEC DEF-MODEL, DEF-LOSS-MAE).

This is the "real" model that autograd differentiates; :mod:`proofcheck.setting.coords`
is the fast implementation in correlation coordinates, cross-checked against it.
"""
from __future__ import annotations

import math

import torch

from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.sampling import Batch


def images(inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P, d) images: x_p = z_{a_k(p)} v_{k, a_k(p)} (SPEC DEF-DATA item 3)."""
    V = inst.V.to(batch.z.device)
    feat = inst.feature_of.to(batch.z.device)[batch.cluster]          # (B, P)
    zq = batch.z.gather(1, inst.area_of.to(batch.z.device)[batch.cluster])  # (B, P)
    return zq.unsqueeze(-1) * V.T[feat]


def key_set(inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P) bool: which positions are keys, S = P (variant B) or S = U (variant A)."""
    if inst.key_set == "B":
        return torch.ones_like(batch.mask)
    return ~batch.mask


def masked_softmax(logits: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to ``keys`` (B, P_keys), broadcast over
    queries.  A row with no key at all (variant A with U empty) gets attention 0,
    so F_p = 0 there, as DEF-LOSS-MAE prescribes."""
    keys = keys.unsqueeze(1).expand_as(logits)
    has_key = keys.any(-1, keepdim=True)
    # -inf on non-keys; rows without keys get finite logits so softmax stays NaN-free
    filler = torch.where(has_key, torch.tensor(-math.inf, dtype=logits.dtype, device=logits.device),
                         torch.tensor(0.0, dtype=logits.dtype, device=logits.device))
    attn = torch.softmax(torch.where(keys, logits, filler), dim=-1)
    return attn * keys


def attention(Q: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P, P) attn_{p->q}: query e_p (a masked query carries only its position),
    keys x~_q + e_q over the key set S (SPEC DEF-MODEL, DEF-MASK)."""
    E = inst.E.to(Q.device)
    X_tilde = images(inst, batch) * (~batch.mask).unsqueeze(-1)
    tokens = X_tilde + E.T                                             # (B, P, d)
    logits = torch.matmul(E.T @ Q, tokens.transpose(1, 2))             # (B, P, P)
    return masked_softmax(logits, key_set(inst, batch))


def reconstruct(Q: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P, d) predictions F_p = sum_q attn_{p->q} x~_q (values carry content only)."""
    X_tilde = images(inst, batch) * (~batch.mask).unsqueeze(-1)
    return attention(Q, inst, batch) @ X_tilde


def normaliser(inst: Instance, batch: Batch) -> torch.Tensor:
    """(B,) factor of the loss normalisation option (SPEC §12 item 2): 1, 1/P or 1/|M|."""
    return normalisation_factor(inst, batch.mask.sum(1))


def normalisation_factor(inst: Instance, masked_count: torch.Tensor) -> torch.Tensor:
    """The loss normalisation factor c(|M|) for events with ``masked_count`` masked
    positions: 1, 1/P or 1/|M| (0 when nothing is masked: such an event has no loss)."""
    m = torch.as_tensor(masked_count).to(DTYPE)
    if inst.normalisation == "none":
        return torch.ones_like(m)
    if inst.normalisation == "P":
        return torch.full_like(m, 1.0 / inst.P)
    return torch.where(m > 0, 1.0 / m.clamp(min=1), torch.zeros_like(m))


def position_losses(Q: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P) per-event, per-query loss 1/2 ||F_p - x_p||^2 1{p in M}, normalised:
    the row losses L_p of SPEC LEM-G3, before the expectation."""
    X = images(inst, batch)
    resid = reconstruct(Q, inst, batch) - X
    return 0.5 * (resid**2).sum(-1) * batch.mask * normaliser(inst, batch).unsqueeze(1)


def event_losses(Q: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B,) per-event loss 1/2 sum_{p in M} ||F_p - x_p||^2, normalised."""
    return position_losses(Q, inst, batch).sum(1)


def forward_loss(Q: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """The masked-reconstruction loss L(Q) (SPEC DEF-LOSS-MAE) as the weighted
    mean over the batch: exact when the batch is exact, Monte Carlo otherwise."""
    return (event_losses(Q, inst, batch) * batch.weight).sum()


def standard_error(per_event: torch.Tensor, batch: Batch) -> float:
    """Standard error of a Monte Carlo mean of per-event values (0 for an exact batch)."""
    if batch.exact:
        return 0.0
    n = per_event.shape[0]
    return float(per_event.std(unbiased=True) / math.sqrt(n)) if n > 1 else math.inf
