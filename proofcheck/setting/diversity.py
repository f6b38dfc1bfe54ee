"""Attention-diversity metrics (SPEC §10 EXP-1: the paper's metric is [NR]; these are the project's [R]
choices), and their collapsed and ideal area-wide references.

Each metric is the mean dissimilarity between the attention distributions of two distinct query positions
of the same image, a ratio of expectations over images:

    D = E[ sum_{p != p' in Q(X, M)} d(alpha_p, alpha_p') ] / E[ |{(p, p'): p != p' in Q(X, M)}| ],

with ``alpha_p`` a distribution over keys (or over areas) and d one of :data:`DISSIMILARITIES`:

- ``"js"``: the Jensen-Shannon divergence in bits, in [0, 1]: 0 for equal distributions, 1 for disjoint
  supports.  It weighs every difference of mass, smoothly.
- ``"iou"``: 1 - IoU of the two queries' top-mass key sets, where a query's top set is the smallest set of
  its most attended keys that carries at least ``top_mass`` of its attention (keys tied with the last one
  included, so equal distributions give equal sets).  It asks only *where* the bulk of the attention goes,
  as EXP-1's "whether different query patches focus on similar regions" does; the top-m%-by-count variant
  was not chosen because with ties (uniform attention over an area) its set depends on tie-breaking.
- ``"tv"``: the total-variation distance, the score THM-DIVERSITY judges (the other two are in its evidence).

References: any *collapsed* pattern (every query attends the same way) scores exactly 0 under each metric;
the *ideal area-wide* pattern (each query uniform on the visible keys of its own area,
:func:`proofcheck.setting.measures.area_wide_attention`) scores, under each metric, the share of query
pairs lying in different areas, :func:`ideal_diversity` in closed form
(same area: equal distributions, d = 0; different areas: disjoint supports, d = 1 for all three).
"""
from __future__ import annotations

import math

import torch

from proofcheck.errors import UsageError
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.coords import attention_coords
from proofcheck.setting.measures import (Estimate, area_distribution, area_wide_attention, avoidable, collapsed_attention,
                                        ratio_estimate)
from proofcheck.setting.sampling import Batch, exact_batch

#: keys whose attention is within this relative distance of the top set's last key count as tied with it:
#: a float64 softmax of equal logits agrees to a few roundoffs, far inside 1e-9
TIE_RTOL = 1e-9


def total_variation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """TV(a, b) = 1/2 sum_x |a_x - b_x| over the last axis."""
    return 0.5 * (a - b).abs().sum(-1)


def jensen_shannon(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """JS(a, b) = 1/2 KL(a || m) + 1/2 KL(b || m), m = (a + b)/2, in bits (0 log 0 = 0), over the last axis."""
    m = 0.5 * (a + b)

    def kl(p):
        return torch.where(p > 0, p * torch.log2(p / torch.where(m > 0, m, 1.0)), torch.zeros_like(p)).sum(-1)
    return (0.5 * (kl(a) + kl(b))).clamp(0.0, 1.0)


def top_mass_sets(a: torch.Tensor, top_mass: float) -> torch.Tensor:
    """(..., X) bool: the smallest set of the most attended outcomes carrying >= ``top_mass`` of the mass,
    with every outcome tied (within :data:`TIE_RTOL`) with the last one needed; empty for a zero row."""
    if not 0 < top_mass <= 1:
        raise UsageError(f"top_mass must be in (0, 1], got {top_mass!r}")
    values, _ = a.sort(-1, descending=True)
    reached = values.cumsum(-1) >= top_mass * a.sum(-1, keepdim=True) * (1 - TIE_RTOL)
    last = reached.to(torch.int64).argmax(-1, keepdim=True)                    # first index reaching the mass
    threshold = values.gather(-1, last)
    return (a >= threshold * (1 - TIE_RTOL)) & (a > 0)


def iou_distance(sa: torch.Tensor, sb: torch.Tensor) -> torch.Tensor:
    """1 - |sa & sb| / |sa | sb| of two boolean sets over the last axis (0 when both are empty)."""
    inter = (sa & sb).sum(-1).to(DTYPE)
    union = (sa | sb).sum(-1).to(DTYPE)
    return torch.where(union > 0, 1 - inter / union.clamp(min=1), torch.zeros_like(union))


DISSIMILARITIES = ("js", "iou", "tv")


def pairwise_diversity(dist: torch.Tensor, queries: torch.Tensor, batch: Batch, metric: str = "js",
                       top_mass: float = 0.5, chunk: int = 128) -> Estimate:
    """D of the module docstring for distributions ``dist`` (B, P, X) of each query over X outcomes and
    the queries scored ``queries`` (B, P) bool, with a 95% interval over images for a Monte Carlo batch
    (:func:`proofcheck.setting.measures.ratio_estimate`).  Computed in chunks of images."""
    if metric not in DISSIMILARITIES:
        raise UsageError(f"diversity metric must be one of {DISSIMILARITIES}, got {metric!r}")
    x = torch.empty(dist.shape[0], dtype=DTYPE, device=dist.device)
    for s in range(0, dist.shape[0], chunk):
        a, q = dist[s:s + chunk].to(DTYPE), queries[s:s + chunk].to(DTYPE)
        if metric == "iou":
            sets = top_mass_sets(a, top_mass)
            d = iou_distance(sets.unsqueeze(2), sets.unsqueeze(1))
        else:
            d = (jensen_shannon if metric == "js" else total_variation)(a.unsqueeze(2), a.unsqueeze(1))
        x[s:s + chunk] = torch.einsum("bp,bpr,br->b", q, d, q)
    n = queries.sum(1).to(DTYPE)
    return ratio_estimate(x, n * (n - 1), batch, (0.0, 1.0))


def references(inst: Instance, batch: Batch, metric: str = "js", top_mass: float = 0.5) -> dict[str, float]:
    """The metric on the two hand-made patterns of the synthetic model, over avoidable masked queries:
    ``collapsed`` (every query uniform on the visible keys of the global area) and ``area_wide`` (each
    query uniform on the visible keys of its own area)."""
    queries = avoidable(inst, batch)
    return {name: pairwise_diversity(pattern(inst, batch), queries, batch, metric, top_mass).value
            for name, pattern in (("collapsed", collapsed_attention), ("area_wide", area_wide_attention))}


def model_diversity(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch, level: str = "keys",
                    metric: str = "tv", top_mass: float = 0.5) -> Estimate:
    """D over the avoidable masked queries of the model at coordinates (Phi, Ups), of its attention over keys
    (``level="keys"``) or pooled by area (``level="areas"``,
    :func:`proofcheck.setting.measures.area_distribution`): the second ignores how a query spreads its mass
    *inside* an area, so it measures only "different positions attend to different areas"."""
    if level not in ("keys", "areas"):
        raise UsageError(f"diversity level must be 'keys' or 'areas', got {level!r}")
    dist = attention_coords(Phi, Ups, inst, batch) if level == "keys" else area_distribution(Phi, Ups, inst, batch)
    return pairwise_diversity(dist, avoidable(inst, batch), batch, metric, top_mass)


def ideal_diversity(inst: Instance) -> float:
    """D of the ideal area-wide pattern, exactly, under every metric of :data:`DISSIMILARITIES`.

    Two avoidable queries attend uniformly to the visible patches of their own
    areas: d = 0 for the same area, 1 for different (disjoint) areas.  So D is
    the probability that two distinct avoidable queries lie in different areas,
    weighted by Pr[p, p' both masked and avoidable].  Closed form under
    Bernoulli masking (areas of sizes C, C' are avoidable for masked p, p' with
    probabilities 1 - gamma^(C-1) and 1 - gamma^(C'-1) independently, or
    1 - gamma^(C-2) jointly when p, p' share an area); exact enumeration of
    the masks for the fixed-size model."""
    if inst.mask_model != "bernoulli":
        batch = exact_batch(inst)
        return pairwise_diversity(area_wide_attention(inst, batch), avoidable(inst, batch), batch, "tv").value
    g = inst.gamma
    num = den = 0.0
    for c in inst.clusters:
        sizes = [len(a) for a in c.areas]
        same = sum(C * (C - 1) * (1 - g ** (C - 2)) for C in sizes if C >= 2)
        single = [C * (1 - g ** (C - 1)) for C in sizes]
        diff = sum(single) ** 2 - sum(s * s for s in single)
        num += c.weight * g * g * diff
        den += c.weight * g * g * (diff + same)
    return num / den if den > 0 else math.nan
