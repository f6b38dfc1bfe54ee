"""Hypothesis strategies for checks: small instances and points (Phi, Ups).

A :class:`Case` is what a numeric check evaluates a lemma at: an instance and a
point in correlation coordinates (by LEM-G2 this is a Q in the span).  Every
float is bounded to the ranges the assumptions allow (LIBRARY-FACTS: unbounded
floats give spurious failures).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from proofcheck.setting.instance import DTYPE, Cluster, Instance, ZLaw


@dataclass
class Case:
    """An instance and a point (Phi, Ups) in correlation coordinates."""

    instance: Instance
    Phi: torch.Tensor
    Ups: torch.Tensor

    def to_dict(self) -> dict:
        return {"instance": self.instance.to_dict(), "Phi": self.Phi.tolist(), "Ups": self.Ups.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Case":
        return cls(Instance.from_dict(d["instance"]), torch.tensor(d["Phi"], dtype=DTYPE),
                   torch.tensor(d["Ups"], dtype=DTYPE))


@st.composite
def z_laws(draw, lower: float = 0.25, upper: float = 2.0, max_support: int = 2) -> ZLaw:
    """A finite z law with support in [lower, upper] (so exact enumeration works)."""
    n = draw(st.integers(1, max_support))
    values = tuple(draw(st.lists(st.floats(lower, upper), min_size=n, max_size=n, unique=True)))
    raw = draw(st.lists(st.floats(0.1, 1.0), min_size=n, max_size=n))
    probs = tuple(r / sum(raw) for r in raw)
    return ZLaw(values=values, probs=probs[:-1] + (1.0 - sum(probs[:-1]),))


@st.composite
def partitions(draw, P: int, max_areas: int | None = None) -> tuple[tuple[int, ...], ...]:
    """A partition of [P] into exactly n non-empty areas, n drawn first (so that many
    areas are as likely as few), sizes as they fall: n positions seed the areas and
    the others join any of them."""
    n = draw(st.integers(1, min(P, max_areas or P)))
    order = draw(st.permutations(range(P)))
    labels = list(range(n)) + draw(st.lists(st.integers(0, n - 1), min_size=P - n, max_size=P - n))
    return tuple(tuple(sorted(p for p, lab in zip(order, labels) if lab == area)) for area in range(n))


@st.composite
def instances(draw, min_P: int = 2, max_P: int = 7, max_clusters: int = 2, max_areas: int = 6,
              key_sets=("B", "A"), z_lower: float = 0.25, z_upper: float = 2.0, gamma=(0.1, 0.9),
              max_support: int = 2, bases=("aligned", "rotated"), max_z_tuples: int = 8) -> Instance:
    """Small instances inside the usual assumptions (z > 0, orthonormal, gamma interior).

    Up to ``max_areas`` areas per cluster, of sizes as they fall (unequal in general), so
    that statements true only for N <= 3 meet clusters of four to six areas.  Exact
    enumeration has 2^P x (z tuples) events per cluster: the z laws of a cluster draw
    at most ``max_z_tuples`` joint values (a second support point only while the
    product allows it), so a case has at most 2^max_P x max_z_tuples x max_clusters
    events (2048 with the defaults)."""
    P = draw(st.integers(min_P, max_P))
    K = draw(st.integers(1, max_clusters))
    raw = draw(st.lists(st.floats(0.1, 1.0), min_size=K, max_size=K))
    weights = [r / sum(raw) for r in raw]
    weights[-1] = 1.0 - sum(weights[:-1])
    clusters = []
    for k in range(K):
        part = draw(partitions(P, max_areas))
        laws, tuples = [], 1
        for _ in part:
            laws.append(draw(z_laws(z_lower, z_upper, max(1, min(max_support, max_z_tuples // tuples)))))
            tuples *= len(laws[-1].values)
        clusters.append(Cluster(weights[k], part, tuple(laws)))
    return Instance(P=P, clusters=tuple(clusters), gamma=draw(st.floats(*gamma)),
                    key_set=draw(st.sampled_from(key_sets)), basis=draw(st.sampled_from(bases)),
                    rotation_seed=draw(st.integers(0, 2**16)), name="drawn")


@st.composite
def points(draw, inst: Instance, scale: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(Phi, Ups) with entries in [-scale, scale], drawn from a seed (cheap to shrink)."""
    seed = draw(st.integers(0, 2**31 - 1))
    s = draw(st.floats(0.0, scale))
    g = torch.Generator().manual_seed(seed)
    Phi = s * (2 * torch.rand(inst.P, inst.F, dtype=DTYPE, generator=g) - 1)
    Ups = s * (2 * torch.rand(inst.P, inst.P, dtype=DTYPE, generator=g) - 1)
    return Phi, Ups


@st.composite
def cases(draw, scale: float = 3.0, **instance_kwargs) -> Case:
    """An instance from :func:`instances` and a point from :func:`points`."""
    inst = draw(instances(**instance_kwargs))
    Phi, Ups = draw(points(inst, scale))
    return Case(inst, Phi, Ups)
