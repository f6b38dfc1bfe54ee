"""The exact population loss and gradient through sufficient statistics (SPEC DEF-LOSS-MAE, LEM-G3, LEM-G9).

From Q(0) = 0 on a symmetric instance the PP correlations of row p stay equal on each *class* of keys
that play the same role for p in every cluster (LEM-G9): the cells of the common refinement of the
clusters' partitions, with p itself apart.  Then the loss depends on the mask only through how many
keys of each class are visible, whose law is a product of binomials (Bernoulli masks) or a multivariate
hypergeometric (fixed-size masks), and the expectation is a sum over those count vectors
(:mod:`proofcheck.setting.population_laws`) instead of over 2^P masks.  By LEM-G3 the loss is a sum of
row losses, one per query row and cluster; rows (and clusters) whose problems coincide, as symmetric
rows do, are computed once.

Where the classes do not apply (PP correlations not constant on them, an instance whose classes are all
single keys, interval z laws, too many count vectors) :func:`population_gradient` falls back to the
exact enumeration of :func:`proofcheck.setting.sampling.exact_batch`, or to a Monte Carlo batch where
enumeration is infeasible, and says which in ``method`` and why in ``reason``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from proofcheck.setting.coords import grad_coords_closed_form
from proofcheck.setting.instance import DTYPE, Instance, ZLaw
from proofcheck.setting import population_laws as laws
from proofcheck.setting.population_laws import (AreaAtoms, area_atoms, event_measures, expect, integrand_bound, mask_law,
                                                n_points, product_sizes)
from proofcheck.setting.sampling import MAX_EXACT_EVENTS, Batch, exact_batch, sample_batch
from proofcheck.tolerance import EPS

METHODS = ("sufficient-statistics", "enumeration", "monte-carlo")
#: Count vectors (grid points, all distinct problems together) beyond which the sum is not attempted:
#: ~6e7 points take ~10 s on one core, more than enumeration or Monte Carlo at the sizes where it binds.
MAX_POINTS = 60_000_000
#: PP correlations of one class may differ by this (relative to 1 + their size) and still count as
#: equal: GD on an exact batch moves symmetric entries by sums taken in different orders, so they drift
#: apart by a few ulps per step; replacing them by their mean moves L by at most the spread times
#: sum_q |dL/dUps_pq| <= 2 z_max^2 (population_laws.integrand_bound), far below 1e-12 at this spread.
CLASS_SPREAD = 1e4 * EPS
#: Monte Carlo fallback sample size when the caller gives no batch.
FALLBACK_SAMPLES = 8192


@dataclass
class PopulationGradient:
    """(L, dL/dPhi, dL/dUps) at one point, and how they were obtained: ``method`` (one of METHODS),
    ``reason`` (why a fallback was taken, empty otherwise), ``neglected_probability`` (largest
    probability of the count vectors left out of one row problem), ``error_bound`` (rigorous bound on the
    absolute error of L and of every gradient entry from that truncation, 0 when nothing was left out;
    inf for a Monte Carlo fallback, which is an estimate on a fixed batch with no bound), ``points``
    (count vectors or events summed) and ``problems`` (distinct row problems computed)."""

    loss: torch.Tensor
    gPhi: torch.Tensor
    gUps: torch.Tensor
    method: str
    reason: str = ""
    neglected_probability: float = 0.0
    error_bound: float = 0.0
    points: int = 0
    problems: int = 0
    row_loss: torch.Tensor | None = None

    def summary(self) -> dict:
        return {"method": self.method, "reason": self.reason, "neglected_probability": self.neglected_probability,
                "error_bound": self.error_bound, "points": self.points, "problems": self.problems}


def key_cells(inst: Instance) -> torch.Tensor:
    """(P,) long: the cell of each position in the common refinement of the clusters' partitions, i.e.
    the tuple of its areas (a_1(q), ..., a_K(q)); keys of one cell play the same role for every query
    outside it (SPEC LEM-G9 first bullet)."""
    _, cell = torch.unique(inst.area_of.T, dim=0, return_inverse=True)
    return cell


@dataclass
class RowClasses:
    """Classes of keys of one query row: ``members`` (long tensors of keys; p itself is not among them)."""

    p: int
    members: list[torch.Tensor]


def row_classes(cells: list[torch.Tensor], cell: list[int], p: int) -> RowClasses:
    """The classes of row p: the cells, with p taken out of its own (an emptied cell is dropped)."""
    own = cells[cell[p]]
    rest = [m if c != cell[p] else own[own != p] for c, m in enumerate(cells)]
    return RowClasses(p, [m for m in rest if m.numel()])


def class_values(Ups_row: torch.Tensor, rc: RowClasses) -> tuple[list[float], float]:
    """(common PP logit of each class, largest relative spread inside a class)."""
    values, spread = [], 0.0
    for keys in rc.members:
        v = Ups_row[keys]
        # the first entry, not a mean: a mean of equal floats can differ from them in the last bit
        values.append(float(v[0]))
        spread = max(spread, float(v.max() - v.min()) / (1.0 + float(v.abs().max())))
    return values, spread


def _problem(inst: Instance, k: int, rc: RowClasses, values: list[float], Phi_row: torch.Tensor):
    """The canonical description of row rc.p's loss in cluster k, and the map back to its coordinates:
    areas sorted with the target first, classes sorted within each area."""
    cluster = inst.clusters[k]
    area_of = inst.area_of[k]
    target = int(area_of[rc.p])
    by_area: list[list[int]] = [[] for _ in cluster.areas]
    for c, keys in enumerate(rc.members):
        by_area[int(area_of[int(keys[0])])].append(c)
    areas = []
    for j, classes in enumerate(by_area):
        classes.sort(key=lambda c: (len(rc.members[c]), values[c]))
        law = cluster.z[j]
        key = (j != target, law.values, law.probs, float(Phi_row[inst.feature_index(k, j)]),
               tuple((len(rc.members[c]), values[c]) for c in classes))
        areas.append((key, j, classes))
    areas.sort(key=lambda a: a[0])
    return tuple(a[0] for a in areas), [(a[1], a[2]) for a in areas]


def _atoms(inst: Instance, key: tuple):
    law = mask_law(inst.mask_model, inst.gamma, inst.P)
    return law, [_area_atoms(tuple(n for n, _ in a[4]), a[1], a[2], law, laws.TAIL_MASS) for a in key[0]]


@functools.lru_cache(maxsize=4096)
def _area_atoms(sizes: tuple, values: tuple, probs: tuple, law, tail_mass: float) -> AreaAtoms:
    # the atoms depend on the class sizes, the z law, the mask law and the tail cut only, not on the
    # point: a flow asks for the same few thousands of times (read-only tensors, shared)
    return area_atoms(list(sizes), ZLaw(values=values, probs=probs), law)


def _solve(inst: Instance, key: tuple, law, atoms, device):
    sizes = [[n for n, _ in a[4]] for a in key[0]]
    res = expect(atoms, sizes, [[v for _, v in a[4]] for a in key[0]], [a[3] for a in key[0]], key[1],
                 inst.key_set == "B", law, inst.normalisation, device)
    # classes with one description are exchangeable (LEM-G9), so their derivatives are equal; the grid
    # sums them in different orders, so give them their mean and keep symmetric rows bitwise symmetric
    for a, d in zip(key[0], res.dups):
        for desc in set(a[4]):
            tied = [i for i, c in enumerate(a[4]) if c == desc]
            mean = sum(d[i] for i in tied) / len(tied)
            for i in tied:
                d[i] = mean
    return res


@dataclass
class Plan:
    """The row problems of a point: ``entries`` (p, k, classes, problem key, map back to coordinates),
    ``problems`` (problem key -> (mask law, area atoms)), computed once however many rows share them."""

    entries: list
    problems: dict


def plan(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, rows=None) -> Plan | str:
    """The row problems of the rows ``rows`` (default: every row) at (Phi, Ups), or the reason the
    sufficient statistics do not apply."""
    if not inst.all_z_finite:
        return "an interval z law has no finite sum over z values"
    if mask_law(inst.mask_model, inst.gamma, inst.P).p_masked == 0:
        return "nothing is ever masked"
    cell = key_cells(inst)
    cells = [(cell == c).nonzero().squeeze(1) for c in range(int(cell.max()) + 1)]
    cell = cell.tolist()
    if max(m.numel() for m in cells) < 2:
        return "every class is a single key: the instance has no symmetry for the sum to use (LEM-G9)"
    Phi_c, Ups_c = Phi.detach().cpu(), Ups.detach().cpu()
    entries, problems = [], {}
    for p in range(inst.P) if rows is None else rows:
        rc = row_classes(cells, cell, p)
        values, spread = class_values(Ups_c[p], rc)
        if spread > CLASS_SPREAD:
            return (f"PP correlations of row {p} are not constant on its key classes (relative spread "
                    f"{spread:.3g} > {CLASS_SPREAD:.3g}): the LEM-G9 symmetry does not hold at this point")
        for k, cluster in enumerate(inst.clusters):
            if cluster.weight == 0:
                continue
            areas, back = _problem(inst, k, rc, values, Phi_c[p])
            key = (areas, float(Ups_c[p, p]))
            problems.setdefault(key, None)
            entries.append((p, k, rc, key, back))
    total = 0
    for key in problems:
        # estimate from the untruncated class sizes first: building the atoms of a hopeless problem costs memory
        if math.prod(len(a[1]) * product_sizes([n for n, _ in a[4]]) for a in key[0]) > 100 * MAX_POINTS:
            return f"more than {100 * MAX_POINTS:.3g} count vectors in one row problem"
        problems[key] = _atoms(inst, key)
        total += n_points(problems[key][1])
        if total > MAX_POINTS:
            return f"more than {MAX_POINTS:.3g} count vectors (after truncating binomial tails)"
    return Plan(entries, problems)


def sufficient_statistics(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance,
                          rows=None) -> PopulationGradient | str:
    """The exact population loss and gradient by sums over count vectors, or the reason it does not apply.
    ``rows``: compute only these query rows (by LEM-G3 a row's gradient needs only its own problems);
    the other rows of the gradient are 0 and ``loss`` sums the rows computed (``row_loss`` per row)."""
    pl = plan(Phi, Ups, inst, rows)
    if isinstance(pl, str):
        return pl
    problems = {key: _solve(inst, key, *atoms, Phi.device) for key, atoms in pl.problems.items()}
    gPhi = torch.zeros(inst.P, inst.F, dtype=DTYPE)
    gUps = torch.zeros(inst.P, inst.P, dtype=DTYPE)
    row_loss = torch.zeros(inst.P, dtype=DTYPE)
    row_neglected = [0.0] * inst.P
    for p, k, rc, key, back in pl.entries:
        res, pi = problems[key], inst.clusters[k].weight
        row_loss[p] += pi * res.loss
        row_neglected[p] += pi * res.neglected
        for (j, classes), dphi, dups in zip(back, res.dphi, res.dups):
            gPhi[p, inst.feature_index(k, j)] += pi * dphi
            for c, d in zip(classes, dups):
                gUps[p, rc.members[c]] += pi * d / len(rc.members[c])
        gUps[p, p] += pi * res.dself
    neglected = max(res.neglected for res in problems.values())
    c_max = {"none": 1.0, "P": 1.0 / inst.P, "M": 1.0}[inst.normalisation]
    bound = integrand_bound(inst.z_upper) * c_max
    err = max(sum(row_neglected), max(row_neglected)) * bound
    dev = Phi.device
    return PopulationGradient(torch.tensor(float(row_loss.sum()), dtype=DTYPE, device=dev), gPhi.to(dev),
                              gUps.to(dev), "sufficient-statistics", "", neglected, err,
                              sum(r.points for r in problems.values()), len(problems), row_loss.to(dev))


@dataclass
class PopulationMeasures:
    """THM-MAIN-v1's measured quantities at one point, exactly (SPEC LEM-G11, DEF-CORR): ``fraction`` of
    the avoidable masked events with A_{p,a_k(p)} >= 1 - eps, the loss ``gap`` L - L_infinity (the loss on
    avoidable events) and the ``unavoidable`` part L_infinity, ``mass`` (P, F) E[A_{p,j} | k, p in M] and
    ``avoidable_mass`` (P, K, N_max) E[A_{p,j} | k, p avoidable] (NaN beyond N_k or for rows not
    computed), and the largest ``neglected`` probability of a truncated problem."""

    fraction: float
    gap: float
    unavoidable: float
    mass: torch.Tensor
    avoidable_mass: torch.Tensor
    neglected: float


def population_measures(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, eps: float, rows=None,
                        multiplicity=None) -> PopulationMeasures | str:
    """:class:`PopulationMeasures` by sums over count vectors, or the reason they do not apply.  ``rows``
    with ``multiplicity`` (how many rows each stands for, e.g. the size of its orbit under the
    instance's symmetries, SPEC LEM-G9) computes one row per orbit."""
    pl = plan(Phi, Ups, inst, rows)
    if isinstance(pl, str):
        return pl
    problems = {}
    for key, (law, atoms) in pl.problems.items():
        problems[key] = event_measures(atoms, [[n for n, _ in a[4]] for a in key[0]],
                                       [[v for _, v in a[4]] for a in key[0]], [a[3] for a in key[0]], key[1],
                                       inst.key_set == "B", law, inst.normalisation, eps, Phi.device)
    mult = multiplicity or {}
    mass = torch.full((inst.P, inst.F), math.nan, dtype=DTYPE)
    avoidable_mass = torch.full((inst.P, inst.K, inst.N_max), math.nan, dtype=DTYPE)
    tot = torch.zeros(4, dtype=DTYPE)
    for p, k, rc, key, back in pl.entries:
        res, pi = problems[key], inst.clusters[k].weight * mult.get(p, 1)
        tot += pi * torch.tensor([res.avoidable, res.hit, res.loss_avoidable, res.loss_unavoidable], dtype=DTYPE)
        for (j, _), m, m_av in zip(back, res.mass, res.mass_avoidable):
            mass[p, inst.feature_index(k, j)] = m / res.masked
            avoidable_mass[p, k, j] = m_av / res.avoidable if res.avoidable > 0 else math.nan
    return PopulationMeasures(float(tot[1] / tot[0]) if tot[0] > 0 else math.nan, float(tot[2]), float(tot[3]),
                              mass, avoidable_mass, max(r.neglected for r in problems.values()))


def enumeration_feasible(inst: Instance) -> bool:
    if not inst.all_z_finite:
        return False
    return 2**inst.P * sum(math.prod(len(z.values) for z in c.z) for c in inst.clusters) <= MAX_EXACT_EVENTS


def population_gradient(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance,
                        fallback: Batch | None = None, rows=None) -> PopulationGradient:
    """L and its gradient at (Phi, Ups) (SPEC DEF-LOSS-MAE, LEM-G4, LEM-G8): exact by sufficient
    statistics where the LEM-G9 classes apply, else on ``fallback`` (the trainer's evaluation batch:
    exact when enumeration is feasible), or on the exact batch, or on a seeded Monte Carlo batch.
    ``rows``: see :func:`sufficient_statistics` (a fallback computes every row)."""
    out = sufficient_statistics(Phi, Ups, inst, rows)
    if isinstance(out, PopulationGradient):
        return out
    if fallback is None:
        fallback = exact_batch(inst) if enumeration_feasible(inst) else \
            sample_batch(inst, FALLBACK_SAMPLES, torch.Generator().manual_seed(0))
    loss, gPhi, gUps = grad_coords_closed_form(Phi, Ups, inst, fallback.to(Phi.device))
    return PopulationGradient(loss, gPhi, gUps, "enumeration" if fallback.exact else "monte-carlo", out,
                              error_bound=0.0 if fallback.exact else math.inf, points=len(fallback))
