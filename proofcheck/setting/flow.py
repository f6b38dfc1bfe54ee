"""Gradient flow d Theta/dt = -grad L(Theta) in correlation coordinates (SPEC DEF-GD, gradient-flow reading).

Time is t = eta * steps, so a flow trajectory lines up with GD at step size eta; GD is the explicit Euler
scheme of this ODE and differs from it by O(eta) (tests/test_flow.py).  The integrator is SciPy's BDF
(variable order 1-5, error-controlled): late in training the Hessian of L has eigenvalues spread over
many orders of magnitude (saturating softmax), so the system is stiff and explicit methods would need
steps below 2 / lambda_max.  BDF needs the Jacobian (the Hessian of L); it is estimated by finite
differences of the analytic gradient, and by row decoupling (SPEC LEM-G3) it is block diagonal, one
block of F + P coordinates per query row, so ``jac_sparsity`` brings one estimate down to F + P gradient
evaluations.  Radau (implicit Runge-Kutta, order 5) takes the same Jacobian and is offered as the
alternative; LSODA cannot use a sparsity pattern, so it would need P (F + P) evaluations per Jacobian.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import scipy
import scipy.sparse
from scipy.integrate import BDF, Radau

import torch

from proofcheck import __version__
from proofcheck.errors import ProofcheckError, TrainingDiverged, UsageError
from proofcheck.setting.coords import area_mass, grad_coords_closed_form
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.population import (key_cells, plan, population_gradient, population_measures,
                                           row_classes)
from proofcheck.setting.symmetry import feature_permutation
from proofcheck.setting.trainer import (TrainConfig, Trajectory, cpu_threads, evaluation_batch, population_meta,
                                        train)

SOLVERS = {"BDF": BDF, "Radau": Radau}
#: the loss along the flow may rise between logged times by this relative amount and still count as
#: non-increasing: dL/dt = -||grad L||^2 <= 0 exactly, and the solver's relative error control (rtol)
#: moves each logged L by about rtol * L; ten times rtol leaves room for the accumulated global error.
MONOTONE_SLACK = 10.0
#: the full gradient at the flow's end may differ from the orbit-reduced one by this much relative to its
#: largest entry: symmetric entries are the same sums in another order (~1e-16 each, a few 1e3 terms).
SYMMETRY_RTOL = 1e-10


def row_block_sparsity(inst: Instance, freeze_pp: bool) -> scipy.sparse.csr_matrix:
    """The Jacobian pattern of -grad L in (Phi, Ups): row p's coordinates depend only on row p (LEM-G3)."""
    P, F = inst.P, inst.F
    phi_idx = np.arange(P * F).reshape(P, F)
    ups_idx = P * F + np.arange(P * P).reshape(P, P)
    blocks = [phi_idx[p] if freeze_pp else np.concatenate([phi_idx[p], ups_idx[p]]) for p in range(P)]
    rows = np.concatenate([np.repeat(b, b.size) for b in blocks])
    cols = np.concatenate([np.tile(b, b.size) for b in blocks])
    n = P * F if freeze_pp else P * F + P * P
    return scipy.sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))


def loss_non_increasing(loss: Sequence[float], rtol: float) -> int | None:
    """The first logged index where the loss rose by more than the solver's slack (see MONOTONE_SLACK),
    or None: along a gradient flow dL/dt = -||grad L||^2, so a rise means a wrong flow."""
    scale = max(abs(float(x)) for x in loss)
    for i in range(1, len(loss)):
        if loss[i] > loss[i - 1] + MONOTONE_SLACK * rtol * scale:
            return i
    return None


def trajectory(inst: Instance, cfg: TrainConfig, progress=None) -> Trajectory:
    """The run a config describes: GD (:func:`proofcheck.setting.trainer.train`) or, when ``cfg.solver``
    is set, the gradient flow up to time eta * steps, logged at ``cfg.log_points`` geometric times from
    eta (or every ``cfg.log_every`` GD steps' worth of time)."""
    if not cfg.solver:
        return train(inst, cfg, progress)
    horizon = cfg.eta * cfg.steps
    times = None
    if cfg.log_points:
        times = [0.0] + np.geomspace(min(cfg.eta, horizon), horizon, cfg.log_points).tolist()
    return flow(inst, cfg, horizon, times, cfg.solver, cfg.rtol, cfg.atol)


def gradient_field(inst: Instance, cfg: TrainConfig, batch):
    """(loss, gPhi, gUps) at coordinates: the population gradient or the evaluation batch's, as in GD."""
    if cfg.gradient == "population":
        def grad(Phi, Ups):
            pg = population_gradient(Phi, Ups, inst, batch)
            return pg.loss, pg.gPhi, pg.gUps
        return grad
    return lambda Phi, Ups: grad_coords_closed_form(Phi, Ups, inst, batch)


def flow(inst: Instance, cfg: TrainConfig, time: float, times: Sequence[float] | None = None,
         method: str = "BDF", rtol: float = 1e-8, atol: float = 1e-10) -> Trajectory:
    """Integrate the gradient flow from Q(0) (``cfg.init``) up to ``time`` and log at ``times`` (default
    ``cfg.log_every`` GD steps apart, i.e. every eta * log_every in time).  The trajectory's ``step``
    holds the equivalent GD steps t / eta (floats); ``meta["time"]`` the times and ``meta["solver"]``
    the method, rtol, atol, steps, function and Jacobian evaluations, LU factorisations and whether
    the logged loss is non-increasing (:func:`loss_non_increasing`)."""
    if method not in SOLVERS:
        raise UsageError(f"flow method must be one of {sorted(SOLVERS)}, got {method!r}")
    if not (math.isfinite(time) and time > 0):
        raise UsageError(f"flow time must be a finite number > 0, got {time!r}")
    if cfg.gradient == "sampled" or cfg.parametrisation != "coords":
        raise UsageError("the flow integrates a fixed loss in coordinates: use gradient 'exact' or 'population' "
                         "with parametrisation 'coords'")
    if times is None:
        dt = cfg.eta * cfg.log_every
        times = [i * dt for i in range(int(time // dt) + 1)]
        if times[-1] < time:
            times.append(time)
    times = sorted(float(t) for t in times)
    if times[0] < 0 or times[-1] > time:
        raise UsageError(f"log times must lie in [0, {time}]")
    with cpu_threads(cfg.threads):
        return _flow(inst, cfg, time, times, method, rtol, atol)


@dataclass
class Orbits:
    """Reduced coordinates of a symmetric point (SPEC LEM-G9, LEM-G3): one query row per orbit of the
    rows under the symmetries found (``reps``), with its FP correlations and one PP value per key class
    of the row plus its own; ``phi_src`` (P, F) and ``ups_src`` (P, P) index every full coordinate into
    the reduced vector, and ``multiplicity`` says how many rows each representative stands for."""

    reps: list[int]
    multiplicity: dict[int, int]
    phi_src: torch.Tensor
    ups_src: torch.Tensor
    size: int

    def expand(self, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.as_tensor(np.ascontiguousarray(y), dtype=DTYPE)
        return t[self.phi_src], t[self.ups_src]

    def reduce(self, gPhi: torch.Tensor, gUps: torch.Tensor) -> np.ndarray:
        """On each reduced coordinate, the mean of the representative's gradient entries that share it
        (all equal at a symmetric point, LEM-G9)."""
        reps = torch.tensor(self.reps)
        idx = torch.cat([self.phi_src[reps].reshape(-1), self.ups_src[reps].reshape(-1)])
        val = torch.cat([gPhi[reps].reshape(-1), gUps[reps].reshape(-1)])
        total = torch.zeros(self.size, dtype=DTYPE).index_add_(0, idx, val)
        count = torch.zeros(self.size, dtype=DTYPE).index_add_(0, idx, torch.ones_like(val))
        return (total / count).numpy()

    def sparsity(self) -> scipy.sparse.csr_matrix:
        """Block diagonal, one block per representative row (LEM-G3)."""
        blocks = [torch.unique(torch.cat([self.phi_src[r], self.ups_src[r]])).numpy() for r in self.reps]
        rows = np.concatenate([np.repeat(b, b.size) for b in blocks])
        cols = np.concatenate([np.tile(b, b.size) for b in blocks])
        return scipy.sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(self.size, self.size))


def symmetry_generators(inst: Instance) -> list[tuple[np.ndarray, np.ndarray]]:
    """Symmetries (sigma, tau) of the instance (SPEC LEM-G9) that generate the row orbits: cyclic shifts
    and reflections of the positions, and transpositions of neighbours in one key cell (two positions
    in the same area of every cluster), each kept only if :func:`feature_permutation` accepts it."""
    P = inst.P
    members: dict[int, list[int]] = {}
    for p, c in enumerate(key_cells(inst).tolist()):
        members.setdefault(c, []).append(p)
    swaps = [[b if p == a else a if p == b else p for p in range(P)]
             for m in members.values() for a, b in zip(m, m[1:])]
    shifts = [[(p + s) % P for p in range(P)] for s in range(1, P)]
    reflections = [[(s - p) % P for p in range(P)] for s in range(P)]
    out = []
    for sigma in swaps + shifts + reflections:
        tau = feature_permutation(inst, sigma)
        if tau is not None:
            out.append((np.asarray(sigma), np.asarray(tau)))
    return out


def orbits(inst: Instance) -> Orbits:
    """:class:`Orbits` of the rows under :func:`symmetry_generators`; each row's map from its
    representative is composed from the generators, breadth first."""
    P, F = inst.P, inst.F
    gens = symmetry_generators(inst)
    cell = key_cells(inst)
    cells = [(cell == c).nonzero().squeeze(1) for c in range(int(cell.max()) + 1)]
    maps: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
    reps = []
    for p0 in range(P):
        if p0 in maps:
            continue
        reps.append(p0)
        maps[p0] = (p0, np.arange(P), np.arange(F))
        queue = [p0]
        while queue:
            q = queue.pop(0)
            _, s, t = maps[q]
            for gs, gt in gens:
                if int(gs[q]) not in maps:
                    maps[int(gs[q])] = (p0, gs[s], gt[t])
                    queue.append(int(gs[q]))
    offset, local = 0, {}
    for r in reps:
        rc = row_classes(cells, cell.tolist(), r)
        ups_of = torch.empty(P, dtype=torch.long)
        for c, keys in enumerate(rc.members):
            ups_of[keys] = offset + F + c
        ups_of[r] = offset + F + len(rc.members)
        local[r] = (offset + torch.arange(F), ups_of)
        offset += F + len(rc.members) + 1
    phi_src = torch.empty(P, F, dtype=torch.long)
    ups_src = torch.empty(P, P, dtype=torch.long)
    for p, (r, s, t) in maps.items():
        phi_src[p, torch.from_numpy(t)] = local[r][0]
        ups_src[p, torch.from_numpy(s)] = local[r][1]
    multiplicity = {r: sum(1 for m in maps.values() if m[0] == r) for r in reps}
    return Orbits(reps, multiplicity, phi_src, ups_src, offset)


def _reduced(inst: Instance, cfg: TrainConfig) -> Orbits | None:
    """The orbit reduction where it is exact: the population gradient from Q(0) = 0 (LEM-G9 keeps the
    point symmetric), where the sufficient statistics apply (not a batch fallback)."""
    if cfg.gradient != "population" or cfg.init != "zero" or cfg.freeze_pp:
        return None
    zero = (torch.zeros(inst.P, inst.F, dtype=DTYPE), torch.zeros(inst.P, inst.P, dtype=DTYPE))
    if isinstance(plan(*zero, inst), str):
        return None
    return orbits(inst)


def _flow(inst, cfg, time, times, method, rtol, atol) -> Trajectory:
    orb = _reduced(inst, cfg)
    if orb is not None:
        return _flow_reduced(inst, cfg, time, times, method, rtol, atol, orb)
    P, F = inst.P, inst.F
    batch = evaluation_batch(inst, cfg.eval_samples, cfg.seed)
    grad = gradient_field(inst, cfg, batch)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    Phi0, Ups0 = torch.zeros(P, F, dtype=DTYPE), torch.zeros(P, P, dtype=DTYPE)
    if cfg.init == "random":
        Phi0 = cfg.init_scale * torch.randn(P, F, dtype=DTYPE, generator=gen)
        Ups0 = cfg.init_scale * torch.randn(P, P, dtype=DTYPE, generator=gen)

    def unpack(y):
        Phi = torch.from_numpy(y[: P * F].copy()).view(P, F)
        Ups = Ups0 if cfg.freeze_pp else torch.from_numpy(y[P * F:].copy()).view(P, P)
        return Phi, Ups

    def rhs(_t, y):
        _, gPhi, gUps = grad(*unpack(y))
        g = gPhi if cfg.freeze_pp else torch.cat([gPhi.reshape(-1), gUps.reshape(-1)])
        return -g.reshape(-1).numpy()

    def point(y):
        Phi, Ups = unpack(y)
        return Phi, Ups, float(grad(Phi, Ups)[0]), area_mass(Phi, Ups, inst, batch)

    y0 = Phi0.reshape(-1).numpy() if cfg.freeze_pp else torch.cat([Phi0.reshape(-1), Ups0.reshape(-1)]).numpy()
    return _integrate(inst, cfg, time, times, method, rtol, atol, rhs, y0,
                      row_block_sparsity(inst, cfg.freeze_pp), point, {})


def _flow_reduced(inst, cfg, time, times, method, rtol, atol, orb: Orbits) -> Trajectory:
    """The flow in the reduced coordinates of :class:`Orbits`: the representative rows' population
    gradient drives every row (LEM-G3, LEM-G9).  Logged points are expanded to the full coordinates with
    the exact loss and masses (:func:`population_measures`); at the last one the full gradient (every
    row) is compared with the expanded reduced one, the check that the reduction is exact."""
    calls = []

    def rep_gradient(y):
        Phi, Ups = orb.expand(y)
        pg = population_gradient(Phi, Ups, inst, rows=orb.reps)
        if pg.method != "sufficient-statistics":
            raise UsageError(f"the reduced flow needs the sufficient statistics, got {pg.method}: {pg.reason}")
        calls.append(pg.summary())
        return pg

    def rhs(_t, y):
        pg = rep_gradient(y)
        return -orb.reduce(pg.gPhi, pg.gUps)

    def point(y):
        Phi, Ups = orb.expand(y)
        m = population_measures(Phi, Ups, inst, 0.5, rows=orb.reps, multiplicity=orb.multiplicity)
        red = torch.zeros(orb.size, dtype=DTYPE)
        for r in orb.reps:
            red[orb.phi_src[r]] = m.mass[r]
        return Phi, Ups, m.gap + m.unavoidable, red[orb.phi_src]

    extra = {"population": None, "reduction": {"orbits": len(orb.reps), "coordinates": orb.size,
                                               "full_coordinates": inst.P * (inst.F + inst.P)}}

    def finish(y):
        Phi, Ups = orb.expand(y)
        full = population_gradient(Phi, Ups, inst)
        red = orb.reduce(full.gPhi, full.gUps)
        gPhi, gUps = orb.expand(red)
        dev = max(float((full.gPhi - gPhi).abs().max()), float((full.gUps - gUps).abs().max()))
        scale = max(float(full.gPhi.abs().max()), float(full.gUps.abs().max()), 1e-300)
        if dev > SYMMETRY_RTOL * scale:
            raise ProofcheckError(f"the orbit reduction is not exact: the full gradient differs from the reduced "
                                  f"one by {dev:.3g} (largest entry {scale:.3g}); a generator is not a symmetry")
        extra["reduction"]["symmetry_deviation"] = dev
        extra["population"] = population_meta(calls)

    return _integrate(inst, cfg, time, times, method, rtol, atol, rhs, np.zeros(orb.size), orb.sparsity(),
                      point, extra, finish)


def _integrate(inst, cfg, time, times, method, rtol, atol, rhs, y0, sparsity, point, extra,
               finish=None) -> Trajectory:
    """Step the solver from y0 to ``time``, record ``point(y)`` = (Phi, Ups, L, mass) at ``times`` from
    the dense output, and build the trajectory with its ``meta["solver"]``."""
    solver = SOLVERS[method](rhs, 0.0, y0, time, rtol=rtol, atol=atol, jac_sparsity=sparsity)
    log = {k: [] for k in ("loss", "phi", "ups", "mass")}

    def record(y):
        Phi, Ups, loss, mass = point(y)
        log["loss"].append(float(loss))
        log["phi"].append(Phi.numpy().copy())
        log["ups"].append(Ups.numpy().copy())
        log["mass"].append(np.asarray(mass))

    pending, steps = list(times), 0
    while pending and pending[0] <= solver.t:
        record(solver.y)
        pending.pop(0)
    while solver.status == "running":
        msg = solver.step()
        steps += 1
        if solver.status == "failed" or not np.isfinite(solver.y).all():
            raise TrainingDiverged(steps, f"{method} failed at t = {solver.t:.6g}: {msg or 'non-finite state'}")
        dense = solver.dense_output()
        while pending and pending[0] <= solver.t:
            record(dense(pending[0]))
            pending.pop(0)
    if finish is not None:
        finish(solver.y)
    decreasing = loss_non_increasing(log["loss"], rtol)
    meta = {"proofcheck": __version__, "torch": torch.__version__, "scipy": scipy.__version__, "device": "cpu",
            "time": times,
            "solver": {"method": method, "rtol": rtol, "atol": atol, "steps": steps, "nfev": solver.nfev,
                       "njev": solver.njev, "nlu": solver.nlu, "loss_non_increasing": decreasing is None,
                       "first_rise_index": decreasing}, **extra}
    n = len(times)
    config = replace(cfg, steps=max(0, round(time / cfg.eta)))
    return Trajectory(inst, config, np.asarray(times) / cfg.eta, np.asarray(log["loss"]), np.asarray(log["phi"]),
                      np.asarray(log["ups"]), np.asarray(log["mass"]), np.full(n, np.nan), None, meta)
