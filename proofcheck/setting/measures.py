"""Measured quantities of the theorem forms of SPEC §9, named after SPEC.

Everything here is a function of correlation coordinates (Phi, Ups) on an
event batch (exact or Monte Carlo), or of a logged trajectory:

- :func:`target_mass_fraction`: THM-MAIN-v1 item 2 at event level: among masked
  queries whose own area has a visible patch (the *avoidable* events, LEM-G11),
  the fraction with A_{p,a_k(p)} >= 1 - eps;
- :func:`loss_gap`: THM-MAIN-v1 item 1, L(Q) - L_infinity, the avoidable part of
  the loss (LEM-G11, :func:`proofcheck.setting.coords.loss_split`);
- :func:`first_passage`: T*(eps), the first logged step from which a condition
  holds at every later logged step ("for all T >= T*");
- :func:`phases`: THM-MAE-v3 Phase I / Phase II, T1 and T2 per (p, k) as flow times, and
  :func:`log_information_gap`, the gap Delta [R] in units of log P;
- :func:`area_wide_attention` and :func:`collapsed_attention`, the two hand-made
  patterns the diversity metrics (:mod:`proofcheck.setting.diversity`) are read against;
- :func:`fit_scaling_exponent`: log-log least squares with a t interval.

Monte Carlo estimates come as :class:`Estimate` with a normal-approximation
interval for a ratio of means (delta method over *images*, because the queries
of one image are not independent); exact batches give a zero-width interval.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import mpmath
import numpy as np
import torch

from proofcheck.setting.coords import events, loss_split, unavoidable
from proofcheck.setting.flow import orbits
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.model import key_set, normaliser
from proofcheck.setting.population import population_measures
from proofcheck.setting.sampling import Batch
from proofcheck.setting.trainer import Trajectory, coords_at

#: two-sided normal quantile of the 95% intervals reported for Monte Carlo estimates
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A value with a two-sided 95% interval [lo, hi]; ``exact`` when the batch
    enumerates every event (then lo = value = hi up to rounding)."""

    value: float
    lo: float
    hi: float
    n: int
    exact: bool

    def to_dict(self) -> dict:
        return asdict(self)


def ratio_estimate(x: torch.Tensor, y: torch.Tensor, batch: Batch, bounds=(-math.inf, math.inf)) -> Estimate:
    """sum_b w_b x_b / sum_b w_b y_b with per-image totals x_b, y_b.

    For a Monte Carlo batch the 95% interval is the delta-method one,
    var ~ Var(x - r y) / (n mean(y)^2), which treats images (not queries) as the
    independent units."""
    w = batch.weight
    den = float((w * y).sum())
    if den <= 0:
        return Estimate(math.nan, math.nan, math.nan, len(batch), batch.exact)
    r = float((w * x).sum()) / den
    if batch.exact:
        return Estimate(r, r, r, len(batch), True)
    n = len(batch)
    resid = x - r * y
    half = Z95 * float(resid.std(unbiased=True)) / (math.sqrt(n) * den / float(w.sum())) if n > 1 else math.inf
    return Estimate(r, max(bounds[0], r - half), min(bounds[1], r + half), n, False)


def avoidable(inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P) bool: p is masked and its own area has a visible patch (the events
    on which THM-MAIN-v1 item 2 can hold at all, SPEC LEM-G11)."""
    return batch.mask & ~unavoidable(inst, batch)


def own_area_mass(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P) A_{p, a_k(p)}, the mass on the visible patches of the query's own area (SPEC DEF-CORR)."""
    ev = events(Phi, Ups, inst, batch)
    return ev.A.gather(2, ev.a.unsqueeze(-1)).squeeze(-1)


def target_mass_fraction(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch,
                         eps: float) -> Estimate:
    """THM-MAIN-v1 item 2 [R], event level: the fraction of avoidable masked
    (k, X, M, p) events with A_{p, a_k(p)} >= 1 - eps."""
    ok = avoidable(inst, batch)
    hit = (own_area_mass(Phi, Ups, inst, batch) >= 1 - eps) & ok
    return ratio_estimate(hit.sum(1).to(DTYPE), ok.sum(1).to(DTYPE), batch, (0.0, 1.0))


def loss_gap(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> Estimate:
    """THM-MAIN-v1 item 1 [R]: L(Q) - L_infinity, the avoidable part of the loss
    (SPEC LEM-G11).  The value is :func:`proofcheck.setting.coords.loss_split`'s; the
    interval needs the per-image avoidable losses, 1/2 sum_{p avoidable} ||r_p||^2."""
    value = float(loss_split(Phi, Ups, inst, batch)[0])
    if batch.exact:
        return Estimate(value, value, value, len(batch), True)
    per_image = 0.5 * (events(Phi, Ups, inst, batch).r2 * avoidable(inst, batch)).sum(1) * normaliser(inst, batch)
    est = ratio_estimate(per_image, torch.ones_like(per_image), batch, (0.0, math.inf))
    return Estimate(value, est.lo, est.hi, est.n, False)


def conditional_area_mass(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(P, K, N_max) E[A_{p,j} | X ~ D_k, p avoidable] (NaN where undefined: no
    such event, or j beyond N_k).  Restricting to avoidable events keeps the
    unavoidable ones (A_{p,a} = 0 for every Q) from capping the mean below 1."""
    ev = events(Phi, Ups, inst, batch)
    w = batch.weight.unsqueeze(1) * avoidable(inst, batch)                       # (B, P)
    onehot = torch.nn.functional.one_hot(batch.cluster, inst.K).to(DTYPE)        # (B, K)
    num = torch.einsum("bp,bk,bpj->pkj", w, onehot, ev.A)
    den = torch.einsum("bp,bk->pk", w, onehot).unsqueeze(-1)
    valid = torch.arange(inst.N_max).unsqueeze(0) < torch.tensor(inst.N).unsqueeze(1)   # (K, N_max)
    out = num / den
    return torch.where(valid.unsqueeze(0) & (den > 0), out, torch.full_like(out, math.nan))


def first_passage(steps: Sequence[float], holds: Sequence[bool]) -> int | float | None:
    """T*: the first logged step from which ``holds`` is true at every later
    logged step (SPEC §9.1 "for all T >= T*"), or None if it does not hold at
    the last logged step.  Resolution: one logging interval.  A flow logs at
    real times (steps of eta): those come back unrounded."""
    holds = np.asarray(holds, dtype=bool)
    if holds.size == 0 or not holds[-1]:
        return None
    fails = np.nonzero(~holds)[0]
    v = float(steps[0 if fails.size == 0 else fails[-1] + 1])
    return int(v) if v.is_integer() else v


def along(traj: Trajectory, measure: Callable[[torch.Tensor, torch.Tensor], object]) -> list:
    """``measure(Phi, Ups)`` at every logged step of a trajectory."""
    return [measure(*coords_at(traj, t)) for t in range(len(traj.step))]


@dataclass
class AreaWideSeries:
    """THM-MAIN-v1 quantities at every logged step, and T*(eps): the first step
    from which both the event fraction's lower 95% bound is >= ``fraction`` and
    the loss gap's upper bound is <= eps."""

    step: np.ndarray
    fraction: list[Estimate]
    gap: list[Estimate]
    eps: float
    target_fraction: float
    t_star: int | None

    def holds(self) -> np.ndarray:
        return np.array([f.lo >= self.target_fraction and g.hi <= self.eps for f, g in zip(self.fraction, self.gap)])


def area_wide_series(traj: Trajectory, batch: Batch, eps: float, target_fraction: float) -> AreaWideSeries:
    """The series on an event batch (Monte Carlo estimates with intervals, or exact on the exact batch)."""
    inst = traj.instance
    frac = along(traj, lambda Phi, Ups: target_mass_fraction(Phi, Ups, inst, batch, eps))
    gap = along(traj, lambda Phi, Ups: loss_gap(Phi, Ups, inst, batch))
    s = AreaWideSeries(traj.step, frac, gap, eps, target_fraction, None)
    s.t_star = first_passage(traj.step, s.holds())
    return s


#: population_along's memo: THM-MAIN-v1's claims each measure T* (and the masses) on the same runs, and
#: a pass over a logged flow costs seconds at P = 64; a few dozen runs cover a lemma's plans
_ALONG: OrderedDict = OrderedDict()
_ALONG_SIZE = 48


def _content_key(traj: Trajectory, eps: float) -> tuple:
    h = hashlib.sha256(json.dumps(traj.instance.to_dict(), sort_keys=True, default=str).encode())
    for a in (traj.step, traj.phi, traj.ups):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest(), "reduction" in traj.meta, eps


def population_along(traj: Trajectory, eps: float) -> list | str:
    """:func:`proofcheck.setting.population.population_measures` at every logged point (one row per
    LEM-G9 orbit when the trajectory carries the flow's reduction), or the reason they do not apply;
    memoised on the trajectory's content and eps."""
    key = _content_key(traj, eps)
    if key in _ALONG:
        _ALONG.move_to_end(key)
        return _ALONG[key]
    inst = traj.instance
    rows = mult = None
    if "reduction" in traj.meta:
        orb = orbits(inst)
        rows, mult = orb.reps, orb.multiplicity
    out = []
    for t in range(len(traj.step)):
        m = population_measures(*coords_at(traj, t), inst, eps, rows, mult)
        if isinstance(m, str):
            out = m
            break
        out.append(m)
    _ALONG[key] = out
    while len(_ALONG) > _ALONG_SIZE:
        _ALONG.popitem(last=False)
    return out


def population_series(traj: Trajectory, eps: float, target_fraction: float) -> AreaWideSeries | str:
    """The series of the population quantities themselves (zero-width intervals): the fraction and the
    loss gap by count vectors (:func:`population_along`); or the reason they do not apply."""
    along_ = population_along(traj, eps)
    if isinstance(along_, str):
        return along_
    frac = [Estimate(m.fraction, m.fraction, m.fraction, 0, True) for m in along_]
    gap = [Estimate(m.gap, m.gap, m.gap, 0, True) for m in along_]
    s = AreaWideSeries(traj.step, frac, gap, eps, target_fraction, None)
    s.t_star = first_passage(traj.step, s.holds())
    return s


def main_series(traj: Trajectory, held_out: Callable[[], Batch], eps: float,
                target_fraction: float) -> tuple[AreaWideSeries, str]:
    """THM-MAIN-v1's series and how it was evaluated: the population quantities themselves where the run
    trained on the population loss and the sufficient statistics apply, else the batch ``held_out()``."""
    why = "the run did not train on the population loss"
    if traj.config.gradient == "population":
        s = population_series(traj, eps, target_fraction)
        if not isinstance(s, str):
            return s, "population (sufficient statistics, exact)"
        why = s
    batch = held_out()
    s = area_wide_series(traj, batch, eps, target_fraction)
    return s, ("exact (every event enumerated)" if batch.exact else
               f"held-out Monte Carlo batch of {len(batch)} images, 95% delta-method interval ({why})")


def t_star_bracket(traj: Trajectory, t_star) -> list[float] | None:
    """The flow times between which the crossing at T* lies: (eta x the logged step before T*, eta T*]."""
    if t_star is None:
        return None
    i = int(np.searchsorted(traj.step, t_star))
    eta = traj.config.eta
    return [eta * float(traj.step[max(i - 1, 0)]), eta * float(traj.step[i])]


def measure_t_star(traj, run, eps: float, fraction: float) -> dict:
    """T*(eps) of THM-MAIN-v1 on one run (:func:`main_series`): the flow
    time eta T*, its logging bracket, the target FP correlation there and how it was evaluated."""
    s, evaluation = main_series(traj, run.held_out, eps, fraction)
    eta = traj.config.eta
    out = {"eps": eps, "fraction": fraction, "evaluation": evaluation, "time_T_star": None,
           "time_T_star_bracket": t_star_bracket(traj, s.t_star), "target_phi_at_T_star": None,
           "final_fraction": s.fraction[-1].value, "final_loss_gap": s.gap[-1].value,
           "time_end": eta * float(traj.step[-1])}
    if s.t_star is not None:
        i = int(np.searchsorted(traj.step, s.t_star))
        out.update(time_T_star=eta * s.t_star, target_phi_at_T_star=float(traj.target_phi()[i].mean()))
    return out


# -- THM-MAE-v3 phases -------------------------------------------------------------------

def log_information_gap(inst: Instance) -> float:
    """Delta [R], our definition (SPEC's candidate; the paper's is [NR]): kappa_g - kappa_l in units of
    log P, i.e. log(|P_{k,1}| / largest local area) / log P, the smallest over clusters.  Its sign is that
    of :func:`proofcheck.setting.contrastive.information_gap` (the difference of the areas' shares)."""
    return min(math.log(len(c.areas[0]) / max(len(a) for a in c.areas[1:])) for c in inst.clusters) / math.log(inst.P)


def phase_masses(traj: Trajectory, held_out: Callable[[], Batch]) -> tuple[np.ndarray, str]:
    """(T, P, K, N_max) E[A_{p,j} | k, p avoidable] at every logged point and how it was evaluated: exact
    by count vectors where the run trained on the population loss (NaN for rows outside the LEM-G9
    representatives of a reduced flow), else on the batch ``held_out()``."""
    if traj.config.gradient == "population":
        along_ = population_along(traj, 0.05)
        if not isinstance(along_, str):
            return np.stack([m.avoidable_mass.numpy() for m in along_]), "population (sufficient statistics, exact)"
    batch = held_out()
    mass = along(traj, lambda Phi, Ups: conditional_area_mass(Phi, Ups, traj.instance, batch))
    return np.stack([m.numpy() for m in mass]), ("exact (every event enumerated)" if batch.exact else
                                                  f"held-out Monte Carlo batch of {len(batch)} images")


@dataclass
class PhaseRow:
    """One (p, k) of THM-MAE-v3 (SPEC §9.2 [R]), 0-based p and k; times are flow times eta x steps.

    ``kind``: "global" if p lies in area 1 of cluster k, else "local".  For a local p, Phase I lasts while
    the global mass A_{p,1} exceeds every local mass A_{p,j} (j >= 2); ``t1`` is the first logged time
    from which it no longer does (0 when it never did: one phase), ``t1_bracket`` the logged times around
    it.  ``t2``: the first logged time from which the target mass A_{p,a} is >= 1 - eps (None if not
    reached), with ``t2_bracket``.  Over [0, t1]: ``global_fall`` = Phi_{p->v_{k,1}}(0) - Phi(t1) and
    ``target_rise`` = Phi_{p->v_{k,a}}(t1) - Phi(0).  A global p has one phase: t1 = 0.  Masses are
    E[A_{p,j} | k, p avoidable]."""

    p: int
    k: int
    kind: str
    t1: float | None
    t1_bracket: list[float] | None
    t2: float | None
    t2_bracket: list[float] | None
    global_fall: float
    target_rise: float
    initial_global_mass: float
    initial_local_max: float
    final_target_mass: float

    def to_dict(self) -> dict:
        return asdict(self)


def _passage(times: np.ndarray, holds: np.ndarray) -> tuple[float | None, list[float] | None]:
    t = first_passage(times, holds)
    if t is None:
        return None, None
    i = int(np.searchsorted(times, t))
    return float(t), [float(times[max(i - 1, 0)]), float(t)]


def phases(traj: Trajectory, mass: np.ndarray, eps: float) -> list[PhaseRow]:
    """THM-MAE-v3's phase times per (p, k) along a trajectory (SPEC §9.2 [R] form, LEM-G6/G7 for Phase I,
    LEM-G5 for Phase II), from ``mass`` of :func:`phase_masses`; rows with undefined masses are skipped."""
    inst = traj.instance
    times = traj.config.eta * np.asarray(traj.step, dtype=float)
    rows = []
    for k in range(inst.K):
        g = inst.feature_index(k, 0)
        for p in range(inst.P):
            a = int(inst.area_of[k, p])
            m = mass[:, p, k, : inst.N[k]]                                       # (T, N_k)
            if np.isnan(m).any():
                continue
            local_max = m[:, 1:].max(1)
            t1, b1 = (0.0, [0.0, 0.0]) if a == 0 else _passage(times, m[:, 0] <= local_max)
            t2, b2 = _passage(times, m[:, a] >= 1 - eps)
            i1 = int(np.searchsorted(times, t1)) if t1 is not None else len(times) - 1
            phi_g, phi_a = traj.phi[:, p, g], traj.phi[:, p, inst.feature_index(k, a)]
            rows.append(PhaseRow(p, k, "global" if a == 0 else "local", t1, b1, t2, b2,
                                 float(phi_g[0] - phi_g[i1]), float(phi_a[i1] - phi_a[0]), float(m[0, 0]),
                                 float(local_max[0]), float(m[-1, a])))
    return rows


# -- attention diversity --------------------------------------------------------------------

def area_distribution(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P, N_max + 1) each query's attention pooled by area: (A_{p,1}, ..., A_{p,N_k}, A_{p,0})."""
    ev = events(Phi, Ups, inst, batch)
    return torch.cat([ev.A, ev.A0.unsqueeze(-1)], -1)


def area_wide_attention(inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P, P) the ideal area-wide pattern (SPEC DEF-CORR, LEM-G11 limit): each
    query attends uniformly to the visible patches of its own area (rows of
    unavoidable queries are 0: they are not among the queries scored)."""
    key_area = inst.area_of[batch.cluster]
    same = ((key_area.unsqueeze(2) == key_area.unsqueeze(1)) & ~batch.mask.unsqueeze(1)).to(DTYPE)
    return same / same.sum(-1, keepdim=True).clamp(min=1)


def collapsed_attention(inst: Instance, batch: Batch, area: int = 0) -> torch.Tensor:
    """(B, P, P) a collapsed pattern (SPEC THM-CL-v3 [R]): every query attends
    uniformly to the visible patches of area ``area`` (0-based; area 1 in SPEC,
    the global area), or uniformly to all keys if none is visible."""
    key_area = inst.area_of[batch.cluster]
    visible = (key_area == area) & ~batch.mask
    keys = torch.where(visible.any(1, keepdim=True), visible, key_set(inst, batch)).to(DTYPE)
    row = keys / keys.sum(-1, keepdim=True).clamp(min=1)
    return row.unsqueeze(1).expand(-1, inst.P, -1)


# -- scaling -------------------------------------------------------------------------------

def t_quantile(q: float, df: int) -> float:
    """Student-t quantile (mpmath's regularised incomplete beta; no scipy needed)."""
    def cdf(t):
        x = df / (df + t * t)
        tail = 0.5 * mpmath.betainc(df / 2.0, 0.5, 0, x, regularized=True)
        return 1 - tail if t >= 0 else tail
    return float(mpmath.findroot(lambda t: cdf(t) - q, Z95))


@dataclass
class ScalingFit:
    """log T = c + sum_i beta_i log x_i by least squares, with 95% t intervals."""

    names: list[str]
    coef: list[float]
    lo: list[float]
    hi: list[float]
    intercept: float
    r2: float
    n: int

    def term(self, name: str) -> tuple[float, float, float]:
        i = self.names.index(name)
        return self.coef[i], self.lo[i], self.hi[i]

    def to_dict(self) -> dict:
        return asdict(self)


def fit_scaling_exponent(T: Sequence[float], **regressors: Sequence[float]) -> ScalingFit:
    """Fit T ~ C * prod x_i^beta_i on a log-log scale, e.g.
    ``fit_scaling_exponent(T, P=P, eta=eta)`` for SPEC §9.1's T* = O~(poly(P)/eta)
    (where the eta exponent should be -1).  Intervals: beta_i +- t_{0.975, n-m-1} se_i."""
    names = list(regressors)
    y = np.log(np.asarray(T, dtype=float))
    X = np.column_stack([np.ones_like(y)] + [np.log(np.asarray(regressors[n], dtype=float)) for n in names])
    n, m = X.shape
    if n <= m:
        raise ValueError(f"scaling fit needs more than {m} points, got {n}")
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = n - m
    s2 = float(resid @ resid) / dof
    se = np.sqrt(np.diag(s2 * np.linalg.pinv(X.T @ X)))
    t = t_quantile(0.975, dof)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return ScalingFit(names, beta[1:].tolist(), (beta[1:] - t * se[1:]).tolist(), (beta[1:] + t * se[1:]).tolist(),
                      float(beta[0]), r2, n)
