"""An independent evaluation of the loss and its gradients, written from SPEC's
formulas with explicit loops (the tests' yardstick; no proofcheck computation).

It reads only the instance's *data* (P, clusters with weights, areas and z
laws, gamma, options, the embedding vectors) and enumerates the events itself:
every cluster k, every tuple of area scales z, every mask M, with probability
pi_k * prod P(z_j) * P(M) (SPEC DEF-DATA, DEF-MASK).  Per event it evaluates

- DEF-MODEL / DEF-LOSS-MAE: attn_{p->q}, F_p, 1/2 sum_{p in M} ||F_p - x_p||^2;
- LEM-G1: the d x d gradient sum_{p in M} sum_{q in S} attn <F_p - x_p, x~_q - F_p> e_p (x~_q + e_q)^T;
- LEM-G4: -dL/dPhi_{p->v_{k,j}} = z_j A_{p,j} (z_j^2 (delta_{ja} - A_{p,j}) + R_p);
- LEM-G8: -dL/dUps_{p->q} = attn_{p->q} (1{q in U} z_j^2 (delta_{ja} - A_{p,j}) + R_p).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Reference:
    loss: float
    grad_q: np.ndarray          # (d, d), LEM-G1
    grad_phi: np.ndarray        # (P, F), LEM-G4 (dL/dPhi, not the ascent direction)
    grad_ups: np.ndarray        # (P, P), LEM-G8
    n_events: int


def enumerate_events(inst):
    """Yield (k, z tuple, mask tuple, probability) for every event of DEF-DATA x DEF-MASK."""
    P, g = inst.P, inst.gamma
    m_fixed = math.floor(g * P)
    for k, cluster in enumerate(inst.clusters):
        for zs in itertools.product(*[list(zip(law.values, law.probs)) for law in cluster.z]):
            p_z = math.prod(pr for _, pr in zs)
            for mask in itertools.product((False, True), repeat=P):
                m = sum(mask)
                if inst.mask_model == "bernoulli":
                    p_m = g**m * (1 - g) ** (P - m)
                else:
                    p_m = 1.0 / math.comb(P, m_fixed) if m == m_fixed else 0.0
                prob = cluster.weight * p_z * p_m
                if prob > 0:
                    yield k, tuple(v for v, _ in zs), mask, prob


def lem_g4_inner(z_j, delta, A_j, R):
    """The bracket of LEM-G4: z_j^2 (delta_{ja} - A_{p,j}) + R_p."""
    return z_j**2 * (delta - A_j) + R


def reference(inst, Q, g4_inner=lem_g4_inner) -> Reference:
    """Exact loss and gradients of ``inst`` at the d x d matrix ``Q`` (numpy float64).

    ``g4_inner`` replaces LEM-G4's bracket, so tests can show that a wrong
    formula is rejected by the same comparison."""
    Q = np.asarray(Q, dtype=np.float64)
    E = inst.E.numpy()
    V = inst.V.numpy()
    P = inst.P
    offsets = np.cumsum([0] + [len(c.areas) for c in inst.clusters])
    loss = 0.0
    grad_q = np.zeros_like(Q)
    grad_phi = np.zeros((P, offsets[-1]))
    grad_ups = np.zeros((P, P))
    n_events = 0
    for k, z, mask, prob in enumerate_events(inst):
        n_events += 1
        areas = inst.clusters[k].areas
        area = {p: j for j, ar in enumerate(areas) for p in ar}
        feat = [offsets[k] + j for j in range(len(areas))]
        x = [z[area[p]] * V[:, feat[area[p]]] for p in range(P)]
        xt = [np.zeros_like(x[p]) if mask[p] else x[p] for p in range(P)]
        tokens = [xt[q] + E[:, q] for q in range(P)]
        keys = [q for q in range(P) if inst.key_set == "B" or not mask[q]]
        n_masked = sum(mask)
        norm = {"none": 1.0, "P": 1.0 / P, "M": 1.0 / n_masked if n_masked else 0.0}[inst.normalisation]
        w = prob * norm
        for p in range(P):
            if not mask[p]:
                continue
            if keys:
                logits = np.array([E[:, p] @ Q @ tokens[q] for q in keys])
                ex = np.exp(logits - logits.max())
                attn = dict(zip(keys, ex / ex.sum()))
            else:
                attn = {}   # variant A with U empty: F_p = 0 (DEF-LOSS-MAE)
            F = sum((attn[q] * xt[q] for q in keys), np.zeros_like(x[p]))
            loss += w * 0.5 * float((F - x[p]) @ (F - x[p]))
            for q in keys:
                grad_q += w * attn[q] * float((F - x[p]) @ (xt[q] - F)) * np.outer(E[:, p], tokens[q])
            a = area[p]
            A = [sum(attn[q] for q in areas[j] if q in attn and not mask[q]) for j in range(len(areas))]
            R = sum(z[i] ** 2 * A[i] ** 2 for i in range(len(areas))) - z[a] ** 2 * A[a]
            for j in range(len(areas)):
                grad_phi[p, feat[j]] -= w * z[j] * A[j] * g4_inner(z[j], float(j == a), A[j], R)
            for q in keys:
                j = area[q]
                inner = (0.0 if mask[q] else z[j] ** 2 * ((j == a) - A[j])) + R
                grad_ups[p, q] -= w * attn[q] * inner
    return Reference(loss, grad_q, grad_phi, grad_ups, n_events)
