"""Gradient descent on the masked-reconstruction loss, with a logged trajectory
(SPEC DEF-GD, DEF-CORR).

``parametrisation="coords"`` trains (Phi, Ups) directly, which by LEM-G2 is
*exactly* GD on Q when Q(0) is in the span (e.g. Q(0) = 0); ``"full"`` trains
the d x d matrix Q with the real model, needed when Q(0) is random, and the
reference that the coordinate trainer's closed forms are checked against
(:class:`proofcheck.checks.trajectory.FullModelAgreement`).

Trajectory file format (``.npz``, numpy's zip of arrays, no pickles):
``meta`` (a JSON string: ``format="proofcheck-trajectory"``, ``version``, the
instance, the config, software versions, device), ``step`` (T,), ``loss`` (T,),
``phi`` (T,P,F), ``ups`` (T,P,P), ``mass`` (T,P,F) the conditional mean area
masses E[A_{p,j} | k, p in M], ``off_span`` (T,) (NaN in coords mode), and
``final_q`` (d,d) in full mode.  ``meta["max_logit_step"]``: the largest change of any attention logit
in one GD step over the run (:func:`logit_step`), the measure of how far GD is from its flow.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from proofcheck import __version__
from proofcheck.setting.coords import area_mass, fp_correlation, grad_coords_closed_form, loss_coords, off_span_fraction, pp_correlation, q_from_coords
from proofcheck.errors import TrainingDiverged, TrajectoryFileError, UsageError
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.io import atomic_write_bytes
from proofcheck.setting.model import forward_loss
from proofcheck.setting.population import population_gradient
from proofcheck.setting.sampling import MAX_EXACT_EVENTS, Batch, exact_batch, sample_batch

FORMAT = "proofcheck-trajectory"
FORMAT_VERSION = 1
#: the exact batch is used for evaluation when it has at most this many events
EXACT_EVAL_LIMIT = 300_000
GRADIENTS = ("exact", "sampled", "population")
#: "" is GD; the others integrate the gradient flow (:mod:`proofcheck.setting.flow`)
SOLVERS = ("", "BDF", "Radau")


@dataclass(frozen=True)
class TrainConfig:
    """GD settings (SPEC DEF-GD).  ``gradient``: "exact" (full expectation over the evaluation
    batch), "sampled" (fresh Monte Carlo batch of ``samples`` events each step) or "population" (the
    exact population gradient by sufficient statistics, :mod:`proofcheck.setting.population`, which
    falls back to the evaluation batch where the LEM-G9 classes do not apply and says so in the
    trajectory's ``meta["population"]``).

    ``threads``: torch intra-op CPU threads while training (0 keeps torch's
    setting).  1 by default: at the sizes the checks train (P <= 256, batches
    of 10^2..10^4 events) a second thread gained nothing on an idle 2-core
    machine and made steps 2-20x slower on a busy one (benches/README.md).

    ``solver`` ("BDF" or "Radau"; "" is GD) integrates the gradient flow instead, up to time eta * steps
    (:func:`proofcheck.setting.flow.trajectory`) with the error control ``rtol``, ``atol``; ``log_points`` > 0
    logs it at t = 0 and that many times spaced geometrically from eta to eta * steps (the flow's
    correlations grow like log t, so equal steps in log t resolve every stage)."""

    steps: int = 500
    eta: float = 1.0
    gradient: str = "exact"
    samples: int = 512
    init: str = "zero"
    init_scale: float = 1e-2
    parametrisation: str = "coords"
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    eval_samples: int = 8192
    freeze_pp: bool = False
    threads: int = 1
    solver: str = ""
    rtol: float = 1e-6
    atol: float = 1e-9
    log_points: int = 0

    def __post_init__(self):
        checks = [
            (isinstance(self.steps, int) and self.steps >= 0, f"steps must be an integer >= 0, got {self.steps!r}"),
            (math.isfinite(self.eta) and self.eta > 0, f"eta must be a finite number > 0, got {self.eta!r}"),
            (self.gradient in GRADIENTS, f"gradient must be one of {GRADIENTS}, got {self.gradient!r}"),
            (not (self.gradient == "population" and self.parametrisation == "full"),
             "gradient='population' needs parametrisation='coords'"),
            (self.samples >= 1, f"samples must be >= 1, got {self.samples!r}"),
            (self.init in ("zero", "random"), f"init must be 'zero' or 'random', got {self.init!r}"),
            (self.parametrisation in ("coords", "full"),
             f"parametrisation must be 'coords' or 'full', got {self.parametrisation!r}"),
            (self.log_every >= 1, f"log_every must be >= 1, got {self.log_every!r}"),
            (self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}"),
            (isinstance(self.threads, int) and self.threads >= 0,
             f"threads must be an integer >= 0 (0 keeps torch's setting), got {self.threads!r}"),
            (self.solver in SOLVERS, f"solver must be one of {SOLVERS} ('' is GD), got {self.solver!r}"),
            (not self.solver or (self.gradient != "sampled" and self.parametrisation == "coords"),
             "the flow (solver) integrates a fixed loss in coordinates: gradient 'exact' or 'population'"),
            (not self.solver or self.steps >= 1, "a flow needs steps >= 1 (its time is eta * steps)"),
            (isinstance(self.log_points, int) and self.log_points >= 0,
             f"log_points must be an integer >= 0, got {self.log_points!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cuda`` without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but CUDA is not available on this machine")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def evaluation_batch(inst: Instance, eval_samples: int = 8192, seed: int = 0) -> Batch:
    """The exact batch when it is small enough, else a fixed Monte Carlo batch."""
    n_exact = 2**inst.P * sum(math.prod(len(z.values) for z in c.z) for c in inst.clusters) \
        if inst.all_z_finite else math.inf
    if n_exact <= min(EXACT_EVAL_LIMIT, MAX_EXACT_EVENTS):
        return exact_batch(inst)
    return sample_batch(inst, eval_samples, torch.Generator().manual_seed(seed + 7919))


def loss_and_gradient(params: list[torch.Tensor], inst: Instance, batch: Batch, parametrisation: str,
                      freeze_pp: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(L, gradients of the trained parameters) for one GD step (SPEC DEF-GD).

    ``"full"``: autograd of the d x d model on ``params = [Q]``.  ``"coords"``:
    ``params = [Phi, Ups]`` with the closed forms LEM-G4/G8, which by LEM-G2 give
    the same step; Ups is left out when ``freeze_pp`` (LEM-G12), and in the full
    model the gradient is projected on the e_p v^T block, E E^T G V V^T, which with
    orthonormal embeddings is the step of Phi = E^T Q V alone."""
    if parametrisation == "full":
        Q = params[0].detach().requires_grad_(True)
        loss = forward_loss(Q, inst, batch)
        (g,) = torch.autograd.grad(loss, Q)
        if freeze_pp:
            E, V = inst.E.to(g.device), inst.V.to(g.device)
            g = E @ (E.T @ g @ V) @ V.T
        return loss.detach(), [g]
    loss, gPhi, gUps = grad_coords_closed_form(params[0], params[1], inst, batch)
    return loss, [gPhi] if freeze_pp else [gPhi, gUps]


def logit_step(dPhi: torch.Tensor, dUps: torch.Tensor, inst: Instance) -> float:
    """The largest change of any attention logit under the coordinate change (dPhi, dUps), over every
    cluster, z value and mask (SPEC DEF-CORR logits): an unmasked key q != p in area j moves by
    z_j dPhi_{p->v_{k,j}} + dUps_{p->q}, linear in z and so largest at an end of z's range; a masked
    key (variant B, p itself included) by dUps_{p->q}."""
    off = ~torch.eye(inst.P, dtype=torch.bool, device=dUps.device)
    out = float(dUps.abs().max()) if inst.key_set == "B" else 0.0
    for k, c in enumerate(inst.clusters):
        areas = inst.area_of[k].tolist()
        dphi = dPhi[:, inst.feature_of[k].to(dPhi.device)]                      # (p, q): dPhi_{p -> v_{k, a_k(q)}}
        for end in ("lower", "upper"):
            z = torch.tensor([getattr(c.z[j], end) for j in areas], dtype=dPhi.dtype, device=dPhi.device)
            out = max(out, float(((z * dphi + dUps).abs() * off).max()))
    return out


@dataclass
class Trajectory:
    """A logged GD run: arrays indexed by logged step (see module docstring)."""

    instance: Instance
    config: TrainConfig
    step: np.ndarray
    loss: np.ndarray
    phi: np.ndarray
    ups: np.ndarray
    mass: np.ndarray
    off_span: np.ndarray
    final_q: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "instance": self.instance.to_dict(),
                "config": asdict(self.config), **{k: v for k, v in self.meta.items() if k not in ("format", "version")}}
        arrays = {"step": self.step, "loss": self.loss, "phi": self.phi, "ups": self.ups, "mass": self.mass,
                  "off_span": self.off_span}
        if self.final_q is not None:
            arrays["final_q"] = self.final_q
        buf = io.BytesIO()
        np.savez_compressed(buf, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "Trajectory":
        path = Path(path)
        if not path.exists():
            raise TrajectoryFileError(f"trajectory file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as exc:
            raise TrajectoryFileError(f"trajectory file {path} is truncated or corrupt: {exc}") from None
        try:
            meta = json.loads(str(arrays.pop("meta")))
        except (KeyError, json.JSONDecodeError):
            raise TrajectoryFileError(f"trajectory file {path} has no readable 'meta' record") from None
        if meta.get("format") != FORMAT:
            raise TrajectoryFileError(f"{path} is not a proofcheck trajectory (format {meta.get('format')!r})")
        if meta.get("version") != FORMAT_VERSION:
            raise TrajectoryFileError(f"trajectory file {path} has format version {meta.get('version')!r}; "
                                      f"this proofcheck reads version {FORMAT_VERSION}")
        missing = {"step", "loss", "phi", "ups", "mass", "off_span"} - set(arrays)
        if missing:
            raise TrajectoryFileError(f"trajectory file {path} lacks arrays {sorted(missing)}")
        inst = Instance.from_dict(meta.pop("instance"))
        try:
            config = TrainConfig(**meta.pop("config"))
        except TypeError as exc:
            raise TrajectoryFileError(f"trajectory file {path} has an unreadable config: {exc}") from None
        return cls(inst, config, arrays["step"], arrays["loss"], arrays["phi"], arrays["ups"], arrays["mass"],
                   arrays["off_span"], arrays.get("final_q"), meta)

    def target_phi(self) -> np.ndarray:
        """(T, P, K) target FP correlations Phi_{p -> v_{k, a_k(p)}}."""
        return self.phi[:, np.arange(self.instance.P)[:, None], self.instance.feature_of.T.numpy()]

    def target_mass(self) -> np.ndarray:
        """(T, P, K) conditional mean of A_{p, a_k(p)}."""
        return self.mass[:, np.arange(self.instance.P)[:, None], self.instance.feature_of.T.numpy()]


@contextmanager
def cpu_threads(n: int):
    """Run a block with ``n`` torch intra-op threads (0: unchanged), then restore."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(inst: Instance, cfg: TrainConfig = TrainConfig(),
          progress: Callable[[int, int], None] | None = None,
          start: tuple[torch.Tensor, torch.Tensor] | None = None,
          stop: Callable[[int, torch.Tensor, torch.Tensor], bool] | None = None) -> Trajectory:
    """Run GD from Q(0) (SPEC DEF-GD) and log every ``cfg.log_every`` steps and the last.

    ``start``: (Phi, Ups) to start from instead of ``cfg.init`` (coordinates
    only; the structural checks start GD at drawn points).  ``stop(t, Phi, Ups)``
    is asked at every logged step t; True ends the run there (``meta["stopped_at"]``),
    so that ``cfg.steps`` is a budget for reaching something rather than a run
    length (the trajectory probes).  Raises :class:`TrainingDiverged` naming the
    step where the loss or the gradient stops being finite.
    """
    if start is not None and cfg.parametrisation != "coords":
        raise UsageError("a start point (Phi, Ups) needs parametrisation='coords'")
    if cfg.freeze_pp and cfg.parametrisation == "full" and not inst.orthonormal:
        raise UsageError("freeze_pp on the full model projects on the e_p v^T block, which is the Phi step only "
                         "for orthonormal embeddings")
    if cfg.solver:
        raise UsageError(f"solver {cfg.solver!r} asks for the gradient flow: proofcheck.setting.flow.trajectory "
                         "runs either")
    with cpu_threads(cfg.threads):
        return _train(inst, cfg, progress, start, stop)


def _train(inst: Instance, cfg: TrainConfig, progress: Callable[[int, int], None] | None,
           start: tuple[torch.Tensor, torch.Tensor] | None,
           stop: Callable[[int, torch.Tensor, torch.Tensor], bool] | None) -> Trajectory:
    dev = resolve_device(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    eval_batch = evaluation_batch(inst, cfg.eval_samples, cfg.seed).to(dev)
    P, F, d = inst.P, inst.F, inst.d
    init_gen = torch.Generator().manual_seed(cfg.seed + 1)
    full = cfg.parametrisation == "full"
    if full:
        Q = torch.zeros(d, d, dtype=DTYPE)
        if cfg.init == "random":
            Q = cfg.init_scale * torch.randn(d, d, dtype=DTYPE, generator=init_gen)
        params = [Q.to(dev)]
    else:
        Phi, Ups = torch.zeros(P, F, dtype=DTYPE), torch.zeros(P, P, dtype=DTYPE)
        if cfg.init == "random":
            Phi = cfg.init_scale * torch.randn(P, F, dtype=DTYPE, generator=init_gen)
            Ups = cfg.init_scale * torch.randn(P, P, dtype=DTYPE, generator=init_gen)
        if start is not None:
            Phi, Ups = (t.detach().to(DTYPE).clone() for t in start)
        params = [Phi.to(dev), Ups.to(dev)]

    def coords_now():
        if full:
            return fp_correlation(params[0], inst), pp_correlation(params[0], inst)
        return params[0], params[1]

    @torch.no_grad()
    def loss_on(batch):
        if full:
            return forward_loss(params[0], inst, batch)
        return loss_coords(params[0], params[1], inst, batch)

    log: dict[str, list] = {k: [] for k in ("step", "loss", "phi", "ups", "mass", "off_span")}

    def record(t: int, loss_value: float):
        Phi, Ups = coords_now()
        log["step"].append(t)
        log["loss"].append(loss_value)
        # copies: in coords mode Phi/Ups alias the parameters that GD updates in place
        log["phi"].append(Phi.cpu().numpy().copy())
        log["ups"].append(Ups.cpu().numpy().copy())
        with torch.no_grad():
            log["mass"].append(area_mass(Phi, Ups, inst, eval_batch).cpu().numpy())
        log["off_span"].append(off_span_fraction(params[0].cpu(), inst) if full else math.nan)

    population: list[dict] = []
    max_logit = 0.0
    stopped_at = None

    def population_step():
        pg = population_gradient(params[0], params[1], inst, eval_batch)
        population.append(pg.summary())
        return pg.loss, [pg.gPhi] if cfg.freeze_pp else [pg.gPhi, pg.gUps]

    for t in range(cfg.steps + 1):
        batch = eval_batch if cfg.gradient != "sampled" else sample_batch(inst, cfg.samples, gen).to(dev)
        logged = t % cfg.log_every == 0 or t == cfg.steps
        if cfg.gradient == "population":
            # the population loss is logged too, so the evaluation batch only serves as the fallback
            loss, grads = population_step()
        elif t == cfg.steps:
            loss = loss_on(batch)
        else:
            loss, grads = loss_and_gradient(params, inst, batch, cfg.parametrisation, cfg.freeze_pp)
        if logged:
            eval_loss = loss if batch is eval_batch else loss_on(eval_batch)
            if not torch.isfinite(eval_loss):
                raise TrainingDiverged(t, f"loss is {float(eval_loss)} (eta = {cfg.eta})")
            record(t, float(eval_loss))
            if stop is not None and t < cfg.steps and stop(t, *coords_now()):
                stopped_at = t
                break
        if t == cfg.steps:
            break
        if not torch.isfinite(loss):
            raise TrainingDiverged(t, f"loss is {float(loss)} (eta = {cfg.eta})")
        for g in grads:
            if not torch.isfinite(g).all():
                raise TrainingDiverged(t, f"gradient has non-finite entries (eta = {cfg.eta})")
        if full:
            dQ = -cfg.eta * grads[0]
            max_logit = max(max_logit, logit_step(fp_correlation(dQ, inst), pp_correlation(dQ, inst), inst))
        else:
            max_logit = max(max_logit, logit_step(-cfg.eta * grads[0],
                                                  -cfg.eta * grads[1] if len(grads) > 1 else 0 * params[1], inst))
        for p, g in zip(params, grads):
            p -= cfg.eta * g
            if not torch.isfinite(p).all():
                raise TrainingDiverged(t, f"parameters overflowed to non-finite values in the update (eta = {cfg.eta})")
        if progress is not None:
            progress(t + 1, cfg.steps)
    arrays = {k: np.asarray(v) for k, v in log.items()}
    final_q = params[0].cpu().numpy() if full else None
    meta = {"proofcheck": __version__, "torch": torch.__version__, "device": str(dev), "max_logit_step": max_logit}
    if population:
        meta["population"] = population_meta(population)
    if stopped_at is not None:
        meta["stopped_at"] = stopped_at
    return Trajectory(inst, cfg, arrays["step"], arrays["loss"], arrays["phi"], arrays["ups"], arrays["mass"],
                      arrays["off_span"], final_q, meta)


def population_meta(calls: list[dict]) -> dict:
    """How the population gradients of a run were obtained: the methods used (with the first reason
    for each fallback), the largest neglected probability and error bound, and the count vectors."""
    methods = {}
    for c in calls:
        methods.setdefault(c["method"], c["reason"])
    return {"methods": methods, "calls": len(calls),
            "max_neglected_probability": max(c["neglected_probability"] for c in calls),
            "max_error_bound": max(c["error_bound"] for c in calls), "max_points": max(c["points"] for c in calls)}


def coords_at(traj: Trajectory, index: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """(Phi, Ups) at a logged step, as float64 tensors (for checkpoint checks)."""
    return torch.from_numpy(traj.phi[index]).to(DTYPE), torch.from_numpy(traj.ups[index]).to(DTYPE)


def q_at(traj: Trajectory, index: int = -1) -> torch.Tensor:
    """Q at a logged step, rebuilt from coordinates (exact under LEM-G2)."""
    Phi, Ups = coords_at(traj, index)
    return q_from_coords(Phi, Ups, traj.instance)
