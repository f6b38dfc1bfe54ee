"""Instances of the paper's data model (SPEC DEF-DATA, ASM-DIM, DEF-MASK, §12).

An :class:`Instance` fixes everything the loss depends on except ``Q``: the
positions, the clusters with their weights and partitions into areas, the law
of each area's scale ``z``, the masking probability ``gamma``, the open choices
of SPEC §12 (key set, masking model, loss normalisation) and the embeddings.

Basis order (SPEC §11): ``e_0 .. e_{P-1}`` then ``v_{1,1}, v_{1,2}, ..., v_{K,N_K}``.
Positions and areas are 0-based in code; reports print SPEC's 1-based areas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Sequence

import torch

from proofcheck.errors import InstanceError

DTYPE = torch.float64
KEY_SETS = ("B", "A")
MASK_MODELS = ("bernoulli", "fixed")
NORMALISATIONS = ("none", "P", "M")
BASES = ("aligned", "rotated")


@dataclass(frozen=True)
class ZLaw:
    """Law of one area's scale ``z_j(X)`` (SPEC DEF-DATA item 4) [V]/[R].

    Either a finite support ``values`` with ``probs`` (exact enumeration works),
    or a uniform law on ``interval = (L, U)`` (Monte Carlo only).  Positivity
    ``z >= L > 0`` is a *lemma assumption*, not an instance rule.
    """

    values: tuple[float, ...] | None = None
    probs: tuple[float, ...] | None = None
    interval: tuple[float, float] | None = None

    def __post_init__(self):
        if (self.values is None) == (self.interval is None):
            raise InstanceError("z law: give either values (with probs) or an interval, not both or neither")
        if self.values is not None:
            values = tuple(float(v) for v in self.values)
            if not values:
                raise InstanceError("z law: the support is empty")
            probs = self.probs if self.probs is not None else (1.0 / len(values),) * len(values)
            probs = tuple(float(p) for p in probs)
            object.__setattr__(self, "values", values)
            object.__setattr__(self, "probs", probs)
            if len(probs) != len(values):
                raise InstanceError(f"z law: {len(values)} values but {len(probs)} probabilities")
            if any(not math.isfinite(v) for v in values):
                raise InstanceError(f"z law: support {values} contains a non-finite value")
            if any(not math.isfinite(p) or p < 0 for p in probs):
                raise InstanceError(f"z law: probabilities {probs} contain a negative or non-finite value")
            if abs(sum(probs) - 1.0) > 1e-9:
                raise InstanceError(f"z law: probabilities {probs} sum to {sum(probs):.12g}, not 1")
        else:
            lo, hi = (float(x) for x in self.interval)
            object.__setattr__(self, "interval", (lo, hi))
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise InstanceError(f"z law: interval ({lo}, {hi}) is not a finite interval with L <= U")

    @property
    def finite(self) -> bool:
        return self.values is not None

    @property
    def lower(self) -> float:
        return min(self.values) if self.finite else self.interval[0]

    @property
    def upper(self) -> float:
        return max(self.values) if self.finite else self.interval[1]

    def moment(self, k: int) -> float:
        """E[z^k]."""
        if self.finite:
            return sum(p * v**k for v, p in zip(self.values, self.probs))
        lo, hi = self.interval
        return lo**k if hi == lo else (hi ** (k + 1) - lo ** (k + 1)) / ((k + 1) * (hi - lo))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.finite:
            idx = torch.multinomial(torch.tensor(self.probs, dtype=DTYPE), n, replacement=True, generator=generator)
            return torch.tensor(self.values, dtype=DTYPE)[idx]
        lo, hi = self.interval
        return lo + (hi - lo) * torch.rand(n, dtype=DTYPE, generator=generator)

    def to_dict(self) -> dict:
        if self.finite:
            return {"values": list(self.values), "probs": list(self.probs)}
        return {"interval": list(self.interval)}

    @classmethod
    def from_dict(cls, d: dict) -> "ZLaw":
        if "interval" in d:
            return cls(interval=tuple(d["interval"]))
        return cls(values=tuple(d["values"]), probs=tuple(d.get("probs") or ()) or None)


@dataclass(frozen=True)
class Cluster:
    """One cluster D_k: its weight pi_k, its partition of [P] into areas, and
    one z law per area (SPEC DEF-DATA items 1-4)."""

    weight: float
    areas: tuple[tuple[int, ...], ...]
    z: tuple[ZLaw, ...]

    def to_dict(self) -> dict:
        return {"weight": self.weight, "areas": [list(a) for a in self.areas], "z": [z.to_dict() for z in self.z]}

    @classmethod
    def from_dict(cls, d: dict) -> "Cluster":
        return cls(weight=float(d["weight"]), areas=tuple(tuple(int(p) for p in a) for a in d["areas"]),
                   z=tuple(ZLaw.from_dict(z) for z in d["z"]))


@dataclass(frozen=True)
class Instance:
    """A finite instance of the data model, masking and model (SPEC §3-§6).

    Parameters left open by the paper (SPEC §12) are fields with SPEC's
    preferred default: ``key_set="B"`` (all positions are keys), ``mask_model=
    "bernoulli"``, ``normalisation="none"``.  ``skew > 0`` perturbs the
    embeddings away from orthonormality (for probing that assumption only).
    """

    P: int
    clusters: tuple[Cluster, ...]
    gamma: float
    key_set: str = "B"
    mask_model: str = "bernoulli"
    normalisation: str = "none"
    basis: str = "aligned"
    rotation_seed: int = 0
    d: int | None = None
    skew: float = 0.0
    name: str = "custom"

    def __post_init__(self):
        object.__setattr__(self, "clusters", tuple(self.clusters))
        if self.d is None:
            object.__setattr__(self, "d", self.P + sum(len(c.areas) for c in self.clusters))
        self.validate()

    # -- validation -------------------------------------------------------
    def validate(self) -> None:
        P = self.P
        if not isinstance(P, int) or P < 1:
            raise InstanceError(f"P must be a positive integer, got {P!r}")
        if not self.clusters:
            raise InstanceError("an instance needs at least one cluster")
        weights = [c.weight for c in self.clusters]
        if any(not math.isfinite(w) or w < 0 for w in weights):
            raise InstanceError(f"cluster weights {weights} contain a negative or non-finite value")
        if abs(sum(weights) - 1.0) > 1e-9:
            raise InstanceError(f"cluster weights {weights} sum to {sum(weights):.12g}, not 1")
        for k, c in enumerate(self.clusters, start=1):
            if not c.areas:
                raise InstanceError(f"cluster {k} has no areas")
            if len(c.z) != len(c.areas):
                raise InstanceError(f"cluster {k} has {len(c.areas)} areas but {len(c.z)} z laws")
            seen: dict[int, int] = {}
            for j, area in enumerate(c.areas, start=1):
                if not area:
                    raise InstanceError(f"cluster {k}: area {j} is empty")
                for p in area:
                    if not (0 <= p < P):
                        raise InstanceError(f"cluster {k}: area {j} contains position {p}, outside [0, {P})")
                    if p in seen:
                        raise InstanceError(f"cluster {k}: position {p} lies in areas {seen[p]} and {j}; areas must be disjoint")
                    seen[p] = j
            missing = sorted(set(range(P)) - set(seen))
            if missing:
                raise InstanceError(f"cluster {k}: areas do not cover positions {missing}; they must partition [0, {P})")
        if not (isinstance(self.gamma, (int, float)) and 0.0 <= self.gamma <= 1.0):
            raise InstanceError(f"masking probability gamma must lie in [0, 1], got {self.gamma!r}")
        for name, value, allowed in (("key_set", self.key_set, KEY_SETS), ("mask_model", self.mask_model, MASK_MODELS),
                                     ("normalisation", self.normalisation, NORMALISATIONS), ("basis", self.basis, BASES)):
            if value not in allowed:
                raise InstanceError(f"{name} must be one of {allowed}, got {value!r}")
        need = P + self.F
        if self.d < need:
            raise InstanceError(f"d = {self.d} is too small for orthonormal embeddings: need d >= P + sum N_k = {need}")
        if not (math.isfinite(self.skew) and self.skew >= 0):
            raise InstanceError(f"skew must be a finite number >= 0, got {self.skew!r}")

    # -- sizes and index tables ----------------------------------------------
    @property
    def K(self) -> int:
        return len(self.clusters)

    @property
    def N(self) -> tuple[int, ...]:
        """Number of areas N_k of each cluster."""
        return tuple(len(c.areas) for c in self.clusters)

    @property
    def F(self) -> int:
        """Number of features sum_k N_k."""
        return sum(self.N)

    @property
    def N_max(self) -> int:
        return max(self.N)

    @cached_property
    def feature_offset(self) -> tuple[int, ...]:
        out, acc = [], 0
        for n in self.N:
            out.append(acc)
            acc += n
        return tuple(out)

    def feature_index(self, k: int, j: int) -> int:
        """Column of v_{k,j} (0-based k, j) among the F features."""
        return self.feature_offset[k] + j

    def feature_name(self, f: int) -> str:
        """SPEC name of feature column f, 1-based: 'v_{k,j}'."""
        for k in reversed(range(self.K)):
            if f >= self.feature_offset[k]:
                return f"v_{{{k + 1},{f - self.feature_offset[k] + 1}}}"
        raise IndexError(f)

    @cached_property
    def area_of(self) -> torch.Tensor:
        """(K, P) long: a_k(p), the 0-based area of cluster k holding p."""
        t = torch.empty(self.K, self.P, dtype=torch.long)
        for k, c in enumerate(self.clusters):
            for j, area in enumerate(c.areas):
                t[k, list(area)] = j
        return t

    @cached_property
    def feature_of(self) -> torch.Tensor:
        """(K, P) long: the feature column of the area of cluster k holding p."""
        return self.area_of + torch.tensor(self.feature_offset).unsqueeze(1)

    @cached_property
    def area_sizes(self) -> torch.Tensor:
        """(K, N_max) C_{k,j}, zero-padded."""
        t = torch.zeros(self.K, self.N_max, dtype=DTYPE)
        for k, c in enumerate(self.clusters):
            t[k, : len(c.areas)] = torch.tensor([len(a) for a in c.areas], dtype=DTYPE)
        return t

    @cached_property
    def feature_cluster(self) -> torch.Tensor:
        """(F,) long: the cluster each feature column belongs to."""
        return torch.tensor([k for k, n in enumerate(self.N) for _ in range(n)])

    @property
    def all_z_finite(self) -> bool:
        return all(z.finite for c in self.clusters for z in c.z)

    @property
    def z_lower(self) -> float:
        return min(z.lower for c in self.clusters for z in c.z)

    @property
    def z_upper(self) -> float:
        return max(z.upper for c in self.clusters for z in c.z)

    # -- embeddings (SPEC DEF-DATA item 5) -----------------------------------------
    @cached_property
    def basis_matrix(self) -> torch.Tensor:
        """(d, P + F): columns e_0..e_{P-1}, v_{1,1}..v_{K,N_K}; orthonormal unless skew > 0."""
        d, n = self.d, self.P + self.F
        if self.basis == "aligned":
            B = torch.eye(d, n, dtype=DTYPE)
        else:
            g = torch.Generator().manual_seed(self.rotation_seed)
            q, r = torch.linalg.qr(torch.randn(d, d, dtype=DTYPE, generator=g))
            B = (q * torch.sign(torch.diagonal(r)))[:, :n]  # sign fix makes QR's rotation unique
        if self.skew > 0:
            g = torch.Generator().manual_seed(self.rotation_seed + 1)
            B = B + self.skew * torch.randn(d, n, dtype=DTYPE, generator=g) / math.sqrt(d)
        return B

    @property
    def E(self) -> torch.Tensor:
        """(d, P) position embeddings e_p as columns."""
        return self.basis_matrix[:, : self.P]

    @property
    def V(self) -> torch.Tensor:
        """(d, F) features v_{k,j} as columns."""
        return self.basis_matrix[:, self.P:]

    @property
    def orthonormal(self) -> bool:
        B = self.basis_matrix
        return bool(torch.allclose(B.T @ B, torch.eye(B.shape[1], dtype=DTYPE), atol=1e-12))

    # -- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"P": self.P, "clusters": [c.to_dict() for c in self.clusters], "gamma": self.gamma,
                "key_set": self.key_set, "mask_model": self.mask_model, "normalisation": self.normalisation,
                "basis": self.basis, "rotation_seed": self.rotation_seed, "d": self.d, "skew": self.skew,
                "name": self.name}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Instance":
        try:
            return cls(P=int(d["P"]), clusters=tuple(Cluster.from_dict(c) for c in d["clusters"]),
                       gamma=float(d["gamma"]), key_set=d.get("key_set", "B"),
                       mask_model=d.get("mask_model", "bernoulli"), normalisation=d.get("normalisation", "none"),
                       basis=d.get("basis", "aligned"), rotation_seed=int(d.get("rotation_seed", 0)),
                       d=d.get("d"), skew=float(d.get("skew", 0.0)), name=d.get("name", "custom"))
        except (KeyError, TypeError) as exc:
            raise InstanceError(f"instance description is missing or has a malformed field: {exc}") from None

    def with_options(self, **changes) -> "Instance":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def describe(self) -> str:
        sizes = "; ".join("cluster %d (pi=%.3g): %s" % (k + 1, c.weight, [len(a) for a in c.areas])
                          for k, c in enumerate(self.clusters))
        return (f"{self.name}: P={self.P}, K={self.K}, d={self.d}, gamma={self.gamma}, key set {self.key_set}, "
                f"{self.mask_model} mask, normalisation {self.normalisation}, {self.basis} basis; area sizes {sizes}")


def make_instance(P: int, partitions: Sequence[Sequence[Sequence[int]]], *, weights: Sequence[float] | None = None,
                  z: ZLaw | None = None, gamma: float = 0.5, **options) -> Instance:
    """Convenience constructor: one shared z law for every area."""
    z = z or ZLaw(values=(0.5, 1.5))
    weights = weights or [1.0 / len(partitions)] * len(partitions)
    clusters = tuple(Cluster(float(w), tuple(tuple(a) for a in part), (z,) * len(part))
                     for w, part in zip(weights, partitions, strict=True))
    return Instance(P=P, clusters=clusters, gamma=gamma, **options)


# -- presets -------------------------------------------------------------------

def fixture_6(**options) -> Instance:
    """SPEC §11 verification fixture: P=6, K=2, pi=(0.3, 0.7), z iid uniform on
    {0.5, 1.5}, gamma=0.4, d=11, basis e_0..e_5, v_{1,1}, v_{1,2}, v_{2,1..3}."""
    return make_instance(6, [[[0, 1, 2], [3, 4, 5]], [[0, 3], [1, 4], [2, 5]]], weights=[0.3, 0.7],
                         z=ZLaw(values=(0.5, 1.5)), gamma=0.4, name="fixture-6", **options)


def _cluster_partitions(P: int, sizes: Sequence[int], K: int, seed: int) -> list[list[list[int]]]:
    """K different partitions of [P] into areas of the given sizes: cluster 1 in
    contiguous blocks, cluster 2 interleaved, further clusters seeded shuffles."""
    def cut(order: list[int]) -> list[list[int]]:
        out, i = [], 0
        for s in sizes:
            out.append(sorted(order[i:i + s]))
            i += s
        return out

    parts = [cut(list(range(P)))]
    if K >= 2:
        # interleave: position p goes to the area that p mod P lands in after striding
        stride = sorted(range(P), key=lambda p: (p % len(sizes), p))
        parts.append(cut(stride))
    g = torch.Generator().manual_seed(seed)
    while len(parts) < K:
        parts.append(cut(torch.randperm(P, generator=g).tolist()))
    return parts


def balanced(P: int = 16, K: int = 2, N: int = 2, gamma: float = 0.5, z: ZLaw | None = None, seed: int = 0,
             **options) -> Instance:
    """K clusters, each with N equal areas of size P/N (SPEC DEF-DATA item 7, balanced case)."""
    if N < 1 or P % N:
        raise InstanceError(f"balanced preset: N = {N} areas must divide P = {P}")
    parts = _cluster_partitions(P, [P // N] * N, K, seed)
    return make_instance(P, parts, z=z, gamma=gamma, name=f"balanced-P{P}", **options)


def global_local(P: int = 16, K: int = 2, kappa_g: float = 0.8, kappa_l: float = 0.4, gamma: float = 0.5,
                 z: ZLaw | None = None, seed: int = 0, delta: float | None = None, **options) -> Instance:
    """Each cluster: one global area (area 1) of size about P^kappa_g and local
    areas of size about P^kappa_l (SPEC DEF-DATA item 7, v3 working convention).
    The remainder that does not fill a whole local area joins the global one.

    ``delta``: the information gap Delta = kappa_g - kappa_l in units of log P, SPEC's candidate for
    THM-MAE-v3's gap ([R], our definition).  When given, kappa_g = kappa_l + delta, and delta <= 0 is
    allowed (a global area no larger than the local ones, the single-phase side of THM-MAE-v3); the
    realised gap after rounding is :func:`proofcheck.setting.measures.log_information_gap`."""
    if delta is not None:
        kappa_g = kappa_l + delta
        if not (0 < kappa_l and 0 < kappa_g <= 1):
            raise InstanceError(f"global-local preset with delta needs 0 < kappa_l and 0 < kappa_l + delta <= 1, "
                                f"got {kappa_l}, {delta}")
    elif not (0 < kappa_l <= kappa_g <= 1):
        raise InstanceError(f"global-local preset needs 0 < kappa_l <= kappa_g <= 1, got {kappa_l}, {kappa_g}")
    c_g = max(1, round(P ** kappa_g))
    c_l = max(1, round(P ** kappa_l))
    n_local = (P - c_g) // c_l
    if n_local < 1:
        raise InstanceError(f"global-local preset: P = {P} leaves no room for a local area "
                            f"(global {c_g}, local {c_l})")
    sizes = [P - n_local * c_l] + [c_l] * n_local
    # cluster k shifts the layout cyclically by k local areas, so partitions differ
    base = _cluster_partitions(P, sizes, 1, seed)[0]
    parts = [[sorted((q + k * c_l) % P for q in area) for area in base] for k in range(K)]
    name = f"global-local-P{P}" if delta is None else f"global-local-P{P}-D{delta:g}"
    return make_instance(P, parts, z=z, gamma=gamma, name=name, **options)


PRESETS = {"fixture-6": fixture_6, "balanced": balanced, "global-local": global_local}


def preset(name: str, **kwargs) -> Instance:
    """A named preset (``fixture-6``, ``balanced``, ``global-local``)."""
    try:
        factory = PRESETS[name]
    except KeyError:
        raise InstanceError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise InstanceError(f"preset {name!r}: {exc}") from None
