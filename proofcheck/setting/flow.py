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
from dataclasses import replace
from typing import Sequence

import numpy as np
import scipy
import scipy.sparse
from scipy.integrate import BDF, Radau

import torch

from proofcheck import __version__
from proofcheck.errors import TrainingDiverged, UsageError
from proofcheck.setting.coords import area_mass, grad_coords_closed_form
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.population import population_gradient
from proofcheck.setting.trainer import TrainConfig, Trajectory, cpu_threads, evaluation_batch

SOLVERS = {"BDF": BDF, "Radau": Radau}
#: the loss along the flow may rise between logged times by this relative amount and still count as
#: non-increasing: dL/dt = -||grad L||^2 <= 0 exactly, and the solver's relative error control (rtol)
#: moves each logged L by about rtol * L; ten times rtol leaves room for the accumulated global error.
MONOTONE_SLACK = 10.0


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


def _flow(inst, cfg, time, times, method, rtol, atol) -> Trajectory:
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

    y0 = Phi0.reshape(-1).numpy() if cfg.freeze_pp else torch.cat([Phi0.reshape(-1), Ups0.reshape(-1)]).numpy()
    solver = SOLVERS[method](rhs, 0.0, y0, time, rtol=rtol, atol=atol,
                             jac_sparsity=row_block_sparsity(inst, cfg.freeze_pp))
    log = {k: [] for k in ("loss", "phi", "ups", "mass")}

    def record(y):
        Phi, Ups = unpack(y)
        log["loss"].append(float(grad(Phi, Ups)[0]))
        log["phi"].append(Phi.numpy().copy())
        log["ups"].append(Ups.numpy().copy())
        log["mass"].append(area_mass(Phi, Ups, inst, batch).numpy())

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
    decreasing = loss_non_increasing(log["loss"], rtol)
    meta = {"proofcheck": __version__, "torch": torch.__version__, "scipy": scipy.__version__, "device": "cpu",
            "time": times,
            "solver": {"method": method, "rtol": rtol, "atol": atol, "steps": steps, "nfev": solver.nfev,
                       "njev": solver.njev, "nlu": solver.nlu, "loss_non_increasing": decreasing is None,
                       "first_rise_index": decreasing}}
    n = len(times)
    config = replace(cfg, steps=max(0, round(time / cfg.eta)))
    return Trajectory(inst, config, np.asarray(times) / cfg.eta, np.asarray(log["loss"]), np.asarray(log["phi"]),
                      np.asarray(log["ups"]), np.asarray(log["mass"]), np.full(n, np.nan), None, meta)
