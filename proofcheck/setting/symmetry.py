"""Symmetries of an instance (SPEC LEM-G9): permutations of positions and features that map every
area onto an area of the same cluster with the same z law, and their action on the coordinates."""
from __future__ import annotations

import itertools
from typing import Sequence
import torch
from proofcheck.errors import UsageError
from proofcheck.setting.instance import Instance


def feature_permutation(inst: Instance, sigma: Sequence[int]) -> list[int] | None:
    """The feature permutation tau that makes the position permutation sigma a
    symmetry of the instance (SPEC LEM-G9): sigma maps every area of every
    cluster onto an area of the same cluster with the same z law, and tau maps
    the features accordingly.  None if sigma is not a symmetry."""
    tau = [0] * inst.F
    for k, c in enumerate(inst.clusters):
        lookup = {frozenset(a): j for j, a in enumerate(c.areas)}
        for j, area in enumerate(c.areas):
            img = lookup.get(frozenset(sigma[p] for p in area))
            if img is None or c.z[img] != c.z[j]:
                return None
            tau[inst.feature_index(k, j)] = inst.feature_index(k, img)
    return tau


def automorphisms(inst: Instance, limit: int = 64) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Non-trivial automorphisms (pi, tau) of an instance (SPEC LEM-G9), see
    :func:`feature_permutation`.  Clusters are kept fixed.  Brute force over pi,
    so meant for P <= 7; at most ``limit`` are returned."""
    if inst.P > 7:
        raise UsageError(f"automorphism search is brute force; P = {inst.P} is too large (at most 7)")
    out = []
    for pi in itertools.permutations(range(inst.P)):
        if pi == tuple(range(inst.P)):
            continue
        tau = feature_permutation(inst, pi)
        if tau is not None:
            out.append((pi, tuple(tau)))
            if len(out) >= limit:
                break
    return out


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
