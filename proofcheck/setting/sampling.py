"""Images and masks (SPEC DEF-DATA, DEF-MASK), as weighted event batches.

A :class:`Batch` is a list of events ``(k, z, M)`` with weights.  Expectations
are weighted sums over a batch, so the *exact* expectation (every cluster, z
value and mask enumerated, weights = probabilities) and a *Monte Carlo* one
(n seeded draws, weights 1/n) go through the same code.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from proofcheck.errors import InstanceError
from proofcheck.setting.instance import DTYPE, Instance

#: Exact enumeration refuses instances with more events than this (memory).
MAX_EXACT_EVENTS = 4_000_000


@dataclass
class Batch:
    """Weighted events.  ``cluster`` (B,) long; ``z`` (B, N_max) with z of area j
    in column j (padding 1.0); ``mask`` (B, P) bool, True where masked;
    ``weight`` (B,) summing to 1; ``exact`` says whether weights are probabilities."""

    cluster: torch.Tensor
    z: torch.Tensor
    mask: torch.Tensor
    weight: torch.Tensor
    exact: bool

    def __len__(self) -> int:
        return self.cluster.shape[0]

    def to(self, device) -> "Batch":
        return Batch(self.cluster.to(device), self.z.to(device), self.mask.to(device), self.weight.to(device),
                     self.exact)

    def select(self, idx) -> "Batch":
        return Batch(self.cluster[idx], self.z[idx], self.mask[idx], self.weight[idx], self.exact)


def _all_masks(inst: Instance) -> tuple[torch.Tensor, torch.Tensor]:
    """Every mask with its probability under DEF-MASK (Bernoulli or fixed size)."""
    P = inst.P
    bits = (torch.arange(2**P).unsqueeze(1) >> torch.arange(P)) & 1
    masks = bits.bool()
    n_masked = bits.sum(1).to(DTYPE)
    if inst.mask_model == "bernoulli":
        prob = inst.gamma**n_masked * (1 - inst.gamma) ** (P - n_masked)
    else:
        m = math.floor(inst.gamma * P)
        prob = (n_masked == m).to(DTYPE) / math.comb(P, m)
    return masks, prob


def exact_batch(inst: Instance) -> Batch:
    """All events (k, z, M) with their probabilities: the exact expectation.

    Vectorised over masks; a Python loop only over clusters and z tuples, whose
    number is small on the instances where enumeration is feasible at all.
    """
    if not inst.all_z_finite:
        raise InstanceError("exact expectation needs finite z laws; this instance has an interval law (use Monte Carlo)")
    z_tuples = [list(itertools.product(*[list(zip(z.values, z.probs)) for z in c.z])) for c in inst.clusters]
    n_events = 2**inst.P * sum(len(t) for t in z_tuples)
    if n_events > MAX_EXACT_EVENTS:
        raise InstanceError(f"exact enumeration of {inst.name} needs {n_events} events (> {MAX_EXACT_EVENTS}); "
                            "use Monte Carlo")
    masks, mask_prob = _all_masks(inst)
    keep = mask_prob > 0
    masks, mask_prob = masks[keep], mask_prob[keep]
    n_masks = masks.shape[0]
    clusters, zs, weights, mask_rows = [], [], [], []
    for k, (cluster, tuples) in enumerate(zip(inst.clusters, z_tuples)):
        if cluster.weight == 0:
            continue
        z = torch.ones(len(tuples), inst.N_max, dtype=DTYPE)
        pz = torch.empty(len(tuples), dtype=DTYPE)
        for i, t in enumerate(tuples):
            z[i, : len(t)] = torch.tensor([v for v, _ in t], dtype=DTYPE)
            pz[i] = math.prod(p for _, p in t)
        nz = len(tuples)
        clusters.append(torch.full((nz * n_masks,), k, dtype=torch.long))
        zs.append(z.repeat_interleave(n_masks, 0))
        weights.append(cluster.weight * pz.repeat_interleave(n_masks) * mask_prob.repeat(nz))
        mask_rows.append(masks.repeat(nz, 1))
    weight = torch.cat(weights)
    keep = weight > 0
    return Batch(torch.cat(clusters)[keep], torch.cat(zs)[keep], torch.cat(mask_rows)[keep], weight[keep], exact=True)


def random_masking(inst: Instance, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, P) bool masks under DEF-MASK: Bernoulli(gamma) per position, or a
    uniformly random set of floor(gamma P) positions (``mask_model="fixed"``)."""
    if inst.mask_model == "bernoulli":
        return torch.rand(n, inst.P, dtype=DTYPE, generator=generator) < inst.gamma
    m = math.floor(inst.gamma * inst.P)
    ranks = torch.rand(n, inst.P, dtype=DTYPE, generator=generator).argsort(1).argsort(1)
    return ranks < m


def sample_batch(inst: Instance, n: int, generator: torch.Generator) -> Batch:
    """n i.i.d. events (k ~ pi, z ~ laws, M ~ DEF-MASK), weights 1/n."""
    if n < 1:
        raise InstanceError(f"Monte Carlo sample size must be >= 1, got {n}")
    pi = torch.tensor([c.weight for c in inst.clusters], dtype=DTYPE)
    k = torch.multinomial(pi, n, replacement=True, generator=generator)
    z = torch.ones(n, inst.N_max, dtype=DTYPE)
    for kk, cluster in enumerate(inst.clusters):
        rows = (k == kk).nonzero().squeeze(1)
        for j, law in enumerate(cluster.z):
            z[rows, j] = law.sample(rows.numel(), generator)
    mask = random_masking(inst, n, generator)
    return Batch(k, z, mask, torch.full((n,), 1.0 / n, dtype=DTYPE), exact=False)


def expectation_batch(inst: Instance, samples: int | None, generator: torch.Generator | None = None) -> Batch:
    """Exact batch when ``samples`` is None, else a Monte Carlo batch of that size."""
    if samples is None:
        return exact_batch(inst)
    return sample_batch(inst, samples, generator if generator is not None else torch.Generator().manual_seed(0))
