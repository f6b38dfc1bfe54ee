"""The contrastive (CL) objective on the one-layer softmax attention (SPEC §9.3 THM-CL-v3, §12 item 8).

The paper's CL objective is [NR]; this is the project's [R] reading, every choice a field of
:class:`CLConfig` with its default:

- two views of one image X ~ D_k: the same (k, z), two independent masks drawn by DEF-MASK with each
  view's ratio (``view_gamma``; default: the instance's gamma for both) [R];
- every position p queries with its position embedding e_p, exactly as a masked query of the MAE model
  (DEF-MODEL), over the key set S; the attention output is F_p = sum_q attn_{p->q} x~_q [R];
- the representation is the mean of the outputs over the pooled queries (``pooling``: "all" positions,
  default, or the "masked" ones), h(X, M) = sum_p w_p F_p, a vector in the span of the features [R];
- InfoNCE with ``negatives`` other images per anchor: the training sample is ``groups`` groups of
  ``negatives + 1`` images; in a group, view 1 of image i is contrasted with view 2 of every image,
  the positive being its own; the loss is symmetrised over the two views (``symmetric``) [R];
- similarity <h, h'> / ``temperature`` (``similarity="dot"``, default; "cosine" normalises h first) [R].

The loss is a function of Q only through (Phi, Ups) (the logits are those of DEF-CORR), and its gradient
lies in the span of LEM-G2 (d s_{p->q} / dQ = e_p (x~_q + e_q)^T), so GD from Q = 0 is GD in coordinates.
Three implementations: :func:`loss_full` (autograd of the d x d model, the reference),
:func:`loss_coords` (autograd in coordinates) and :func:`grad_closed_form` [D]:

    dL/ds_{p->q} = w_p attn_{p->q} <G, x~_q - F_p>,   G = dL/dh of the view,
    dL/dUps_{p->q} = sum over views and images of dL/ds_{p->q},
    dL/dPhi_{p->v_{k,j}} = sum over views, images of cluster k and visible keys q of area j of z_j dL/ds_{p->q},

LEM-G1's chain rule with the reconstruction residual F_p - x_p replaced by G (for MAE, G = F_p - x_p).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from proofcheck import __version__
from proofcheck.errors import ProofcheckError, TrainingDiverged, TrajectoryFileError, UsageError
from proofcheck.setting.coords import area_mass, attention_coords, events
from proofcheck.setting.instance import DTYPE, Instance, make_instance
from proofcheck.setting.model import attention, images
from proofcheck.setting.sampling import Batch, random_masking, sample_batch
from proofcheck.setting.trainer import TrainConfig, Trajectory, cpu_threads, evaluation_batch, logit_step, resolve_device
from proofcheck.setting.trajcache import Trained, cache_key

SIMILARITIES = ("dot", "cosine")
POOLINGS = ("all", "masked")


@dataclass(frozen=True)
class CLConfig:
    """The [R] choices of the CL objective (SPEC §12 item 8: the paper's are [NR]).

    ``temperature`` 0.2 (MoCo v3's); ``negatives`` 15 per anchor; ``groups`` 32 (so 512 images in the
    training sample); ``similarity`` "dot": the inner product keeps the loss a smooth function of h with
    no normalisation, the form theory works with; ``pooling`` "all": every position's output; ``view_gamma``
    (None, None): both views masked with the instance's gamma; ``symmetric``: both views act as anchors."""

    temperature: float = 0.2
    negatives: int = 15
    groups: int = 32
    similarity: str = "dot"
    pooling: str = "all"
    view_gamma: tuple = (None, None)
    symmetric: bool = True

    def __post_init__(self):
        object.__setattr__(self, "view_gamma", tuple(self.view_gamma))
        checks = [
            (math.isfinite(self.temperature) and self.temperature > 0,
             f"temperature must be a finite number > 0, got {self.temperature!r}"),
            (isinstance(self.negatives, int) and self.negatives >= 1, f"negatives must be an integer >= 1, got {self.negatives!r}"),
            (isinstance(self.groups, int) and self.groups >= 1, f"groups must be an integer >= 1, got {self.groups!r}"),
            (self.similarity in SIMILARITIES, f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}"),
            (self.pooling in POOLINGS, f"pooling must be one of {POOLINGS}, got {self.pooling!r}"),
            (len(self.view_gamma) == 2 and all(g is None or 0 < g < 1 for g in self.view_gamma),
             f"view_gamma must be two mask ratios in (0, 1) or None, got {self.view_gamma!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)

    @property
    def images(self) -> int:
        return self.groups * (self.negatives + 1)

    def describe(self) -> str:
        g = ", ".join("gamma" if v is None else f"{v:g}" for v in self.view_gamma)
        return (f"InfoNCE [R]: tau={self.temperature:g}, {self.negatives} negatives, {self.similarity} similarity, "
                f"{self.pooling}-query mean pooling, view mask ratios ({g}), "
                f"{'symmetric' if self.symmetric else 'one-sided'}, {self.images} images")


def gap_instance(P: int, c_global: int, c_local: int, K: int = 2, gamma: float = 0.5) -> Instance:
    """A `global-local` layout with explicit sizes: area 1 of ``c_global`` positions, then local areas of
    ``c_local``; cluster k shifts it cyclically by k local areas.  Its information gap is
    :func:`information_gap` (SPEC's Delta is [NR]; ours is [R])."""
    n_local, rest = divmod(P - c_global, c_local)
    if c_global < 1 or n_local < 1 or rest:
        raise UsageError(f"gap instance: P = {P} is not {c_global} + a positive multiple of {c_local}")
    base = [list(range(c_global))] + [list(range(c_global + i * c_local, c_global + (i + 1) * c_local))
                                      for i in range(n_local)]
    parts = [[sorted((q + k * c_local) % P for q in area) for area in base] for k in range(K)]
    return make_instance(P, parts, gamma=gamma, name=f"gap-P{P}-g{c_global}-l{c_local}")


def information_gap(inst: Instance) -> float:
    """Delta [R] (SPEC §2: the paper's definition is [NR]): (C_{k,1} - max_{j>=2} C_{k,j}) / P, the
    difference of the initial attention shares (1 - gamma) C / P of the global area and the largest
    local one (at Q = 0, LEM-G10), over clusters the smallest.  Delta > 0: the global area dominates;
    Delta = 0: balanced; Delta < 0: a local area is larger than the "global" one."""
    return min((len(c.areas[0]) - max(len(a) for a in c.areas[1:])) / inst.P for c in inst.clusters)


def views(inst: Instance, cl: CLConfig, n: int, generator: torch.Generator) -> tuple[Batch, Batch]:
    """n images, each as two views sharing (k, z) with independent masks (ratios ``cl.view_gamma``)."""
    first = sample_batch(inst.with_options(gamma=cl.view_gamma[0] or inst.gamma), n, generator)
    mask2 = random_masking(inst.with_options(gamma=cl.view_gamma[1] or inst.gamma), n, generator)
    return first, Batch(first.cluster, first.z, mask2, first.weight, False)


def pooling_weights(batch: Batch, pooling: str) -> torch.Tensor:
    """(B, P) w_p of h = sum_p w_p F_p: 1/P for every position, or 1/|M| on the masked ones (0 if none)."""
    if pooling == "all":
        return torch.full(batch.mask.shape, 1.0 / batch.mask.shape[1], dtype=DTYPE, device=batch.mask.device)
    m = batch.mask.to(DTYPE)
    return m / m.sum(1, keepdim=True).clamp(min=1)


def contents(inst: Instance, batch: Batch) -> torch.Tensor:
    """(B, P, F) x~_q in feature coordinates: z_{a(q)} 1{q in U} at the column of v_{k, a_k(q)}."""
    dev = batch.z.device
    feat = inst.feature_of.to(dev)[batch.cluster]
    zq = batch.z.gather(1, inst.area_of.to(dev)[batch.cluster]) * (~batch.mask)
    return torch.nn.functional.one_hot(feat, inst.F).to(DTYPE) * zq.unsqueeze(-1)


def info_nce(h1: torch.Tensor, h2: torch.Tensor, cl: CLConfig) -> torch.Tensor:
    """The InfoNCE loss of representations (B, D) of the two views, B = groups * (negatives + 1)."""
    if cl.similarity == "cosine":
        h1, h2 = (torch.nn.functional.normalize(h, dim=-1) for h in (h1, h2))
    g = h1.shape[0] // (cl.negatives + 1)
    s = torch.einsum("gid,gjd->gij", h1.view(g, cl.negatives + 1, -1), h2.view(g, cl.negatives + 1, -1))
    s = s / cl.temperature
    loss = -torch.log_softmax(s, -1).diagonal(dim1=1, dim2=2).mean()
    if cl.symmetric:
        loss = 0.5 * (loss - torch.log_softmax(s, -2).diagonal(dim1=1, dim2=2).mean())
    return loss


def info_nce_gradient(h1: torch.Tensor, h2: torch.Tensor, cl: CLConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, dL/dh1, dL/dh2) in closed form: with S = <a_i, b_j>/tau per group and row / column
    softmaxes Pi, Pi', dL/dS = (Pi - I)/B (+ (Pi' - I)/B, halved, when symmetric), dL/da = dL/dS b / tau,
    dL/db = dL/dS^T a / tau; for cosine similarity a = h/|h| and dL/dh = (I - a a^T) dL/da / |h|."""
    n = cl.negatives + 1
    g = h1.shape[0] // n
    if cl.similarity == "cosine":
        a, b = (torch.nn.functional.normalize(h, dim=-1) for h in (h1, h2))
    else:
        a, b = h1, h2
    a, b = a.view(g, n, -1), b.view(g, n, -1)
    S = torch.einsum("gid,gjd->gij", a, b) / cl.temperature
    eye = torch.eye(n, dtype=S.dtype, device=S.device)
    rows, cols = torch.log_softmax(S, -1), torch.log_softmax(S, -2)
    loss = -rows.diagonal(dim1=1, dim2=2).mean()
    dS = (rows.exp() - eye) / (g * n)
    if cl.symmetric:
        loss = 0.5 * (loss - cols.diagonal(dim1=1, dim2=2).mean())
        dS = 0.5 * (dS + (cols.exp() - eye) / (g * n))
    da = torch.einsum("gij,gjd->gid", dS, b).reshape(g * n, -1) / cl.temperature
    db = torch.einsum("gij,gid->gjd", dS, a).reshape(g * n, -1) / cl.temperature
    if cl.similarity == "cosine":
        da, db = (_through_normalisation(d, h) for d, h in ((da, h1), (db, h2)))
    return loss, da, db


def _through_normalisation(dn: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    norm = h.norm(dim=-1, keepdim=True).clamp(min=1e-12)      # torch's normalize: h / max(|h|, 1e-12)
    u = h / norm
    return (dn - (dn * u).sum(-1, keepdim=True) * u) / norm


def representation_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch, pooling: str):
    """(h (B, F), attn (B, P, P), outputs F_p (B, P, F), contents (B, P, F), weights (B, P)) of one view."""
    attn = attention_coords(Phi, Ups, inst, batch)
    x = contents(inst, batch)
    out = attn @ x
    w = pooling_weights(batch, pooling)
    return (w.unsqueeze(-1) * out).sum(1), attn, out, x, w


def loss_coords(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, v1: Batch, v2: Batch, cl: CLConfig) -> torch.Tensor:
    """The CL loss at coordinates (Phi, Ups) on the views (v1, v2)."""
    h1 = representation_coords(Phi, Ups, inst, v1, cl.pooling)[0]
    h2 = representation_coords(Phi, Ups, inst, v2, cl.pooling)[0]
    return info_nce(h1, h2, cl)


def loss_full(Q: torch.Tensor, inst: Instance, v1: Batch, v2: Batch, cl: CLConfig) -> torch.Tensor:
    """The CL loss of the d x d model (SPEC DEF-MODEL: :func:`proofcheck.setting.model.attention`),
    with h in R^d: the reference that autograd differentiates."""
    def rep(batch):
        x_tilde = images(inst, batch) * (~batch.mask).unsqueeze(-1)
        return (pooling_weights(batch, cl.pooling).unsqueeze(-1) * (attention(Q, inst, batch) @ x_tilde)).sum(1)
    return info_nce(rep(v1), rep(v2), cl)


def grad_autograd(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, v1: Batch, v2: Batch, cl: CLConfig):
    """(loss, dL/dPhi, dL/dUps) by autograd in coordinates."""
    Phi, Ups = Phi.detach().requires_grad_(True), Ups.detach().requires_grad_(True)
    loss = loss_coords(Phi, Ups, inst, v1, v2, cl)
    gPhi, gUps = torch.autograd.grad(loss, (Phi, Ups))
    return loss.detach(), gPhi, gUps


def grad_closed_form(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, v1: Batch, v2: Batch, cl: CLConfig):
    """(loss, dL/dPhi, dL/dUps) from the closed form of the module docstring [D] (the trainer's gradient)."""
    Phi, Ups = Phi.detach(), Ups.detach()
    parts = [representation_coords(Phi, Ups, inst, v, cl.pooling) for v in (v1, v2)]
    loss, G1, G2 = info_nce_gradient(parts[0][0], parts[1][0], cl)
    gPhi, gUps = torch.zeros_like(Phi), torch.zeros_like(Ups)
    for (_, attn, out, x, w), G, v in zip(parts, (G1, G2), (v1, v2)):
        # <G, x~_q - F_p> for every (image, query p, key q)
        proj = torch.einsum("bf,bqf->bq", G, x).unsqueeze(1) - torch.einsum("bf,bpf->bp", G, out).unsqueeze(2)
        dS = w.unsqueeze(-1) * attn * proj                                      # dL/ds_{p->q}
        gUps += dS.sum(0)
        zq = x.sum(-1)                                                          # z_{a(q)} 1{q in U}
        feat = inst.feature_of.to(Phi.device)[v.cluster]
        gPhi += torch.einsum("bpq,bqf->pf", dS * zq.unsqueeze(1), torch.nn.functional.one_hot(feat, inst.F).to(DTYPE))
    return loss, gPhi, gUps


def train_cl(inst: Instance, cfg: TrainConfig, cl: CLConfig) -> Trajectory:
    """GD from Q(0) = 0 on the CL loss of a fixed sample of ``cl.images`` images (two views each, drawn
    with ``cfg.seed``), in coordinates (exact by LEM-G2's span argument), logged every ``cfg.log_every``
    steps in the trainer's :class:`Trajectory` format: ``loss`` is the CL loss on the sample, ``mass``
    the trainer's E[A_{p,j} | k, p in M] on its evaluation batch; ``meta`` adds ``objective``, ``cl``
    ``max_logit_step`` (:func:`proofcheck.setting.trainer.logit_step`) and the largest gradient entry at
    the first and the last step (``grad_max_initial``, ``grad_max_final``: how close GD ended to a
    stationary point)."""
    if cfg.parametrisation != "coords" or cfg.init != "zero" or cfg.gradient != "exact":
        raise UsageError("CL training runs GD in coordinates from Q = 0 on its fixed sample "
                         "(parametrisation='coords', init='zero', gradient='exact')")
    with cpu_threads(cfg.threads):
        dev = resolve_device(cfg.device)
        v1, v2 = (v.to(dev) for v in views(inst, cl, cl.images, torch.Generator().manual_seed(cfg.seed)))
        eval_batch = evaluation_batch(inst, cfg.eval_samples, cfg.seed).to(dev)
        Phi = torch.zeros(inst.P, inst.F, dtype=DTYPE, device=dev)
        Ups = torch.zeros(inst.P, inst.P, dtype=DTYPE, device=dev)
        log = {k: [] for k in ("step", "loss", "phi", "ups", "mass")}
        max_logit, grad_max = 0.0, []
        for t in range(cfg.steps + 1):
            loss, gPhi, gUps = grad_closed_form(Phi, Ups, inst, v1, v2, cl)
            grad_max.append(max(float(gPhi.abs().max()), float(gUps.abs().max())))
            if not (torch.isfinite(loss) and torch.isfinite(gPhi).all() and torch.isfinite(gUps).all()):
                raise TrainingDiverged(t, f"CL loss or gradient is not finite (eta = {cfg.eta})")
            if t % cfg.log_every == 0 or t == cfg.steps:
                for key, value in (("step", t), ("loss", float(loss)), ("phi", Phi.cpu().numpy().copy()),
                                   ("ups", Ups.cpu().numpy().copy()),
                                   ("mass", area_mass(Phi, Ups, inst, eval_batch).cpu().numpy())):
                    log[key].append(value)
            if t == cfg.steps:
                break
            max_logit = max(max_logit, logit_step(-cfg.eta * gPhi, -cfg.eta * gUps, inst))
            Phi -= cfg.eta * gPhi
            Ups -= cfg.eta * gUps
    arrays = {k: np.asarray(v) for k, v in log.items()}
    meta = {"proofcheck": __version__, "torch": torch.__version__, "device": str(dev), "objective": "contrastive",
            "cl": asdict(cl), "max_logit_step": max_logit, "grad_max_initial": grad_max[0], "grad_max_final": grad_max[-1]}
    return Trajectory(inst, cfg, arrays["step"], arrays["loss"], arrays["phi"], arrays["ups"], arrays["mass"],
                      np.full(len(arrays["step"]), math.nan), None, meta)


def cl_cache_key(inst: Instance, cfg: TrainConfig, cl: CLConfig) -> str:
    """The trainer's cache key (instance, config, model and trainer code) plus the CL config and this module."""
    blob = json.dumps({"mae": cache_key(inst, replace(cfg, device="auto")), "cl": asdict(cl),
                       "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_train_cl(inst: Instance, cfg: TrainConfig, cl: CLConfig, cache_dir: Path | None) -> Trained:
    """Load the CL trajectory of (inst, cfg, cl) from ``cache_dir`` or train and store it (as
    :func:`proofcheck.setting.trajcache.cached_train` does for MAE; an unreadable file is retrained)."""
    t0 = time.perf_counter()
    path = Path(cache_dir) / f"{inst.name}-cl-{cl_cache_key(inst, cfg, cl)[:20]}.npz" if cache_dir else None
    if path is not None and path.exists():
        try:
            traj = Trajectory.load(path)
            if traj.meta.get("cl") != json.loads(json.dumps(asdict(cl))):
                raise TrajectoryFileError(f"cached CL trajectory {path} belongs to another CL config")
            return Trained(traj, True, time.perf_counter() - t0, path)
        except ProofcheckError:
            pass  # retrain below, overwriting the unreadable or foreign file
    traj = train_cl(inst, cfg, cl)
    if path is not None:
        traj.save(path)
    return Trained(traj, False, time.perf_counter() - t0, path)


def query_area_mass(Phi: torch.Tensor, Ups: torch.Tensor, inst: Instance, batch: Batch,
                    queries: torch.Tensor) -> torch.Tensor:
    """(P, K, N_max) E[A_{p,j} | X ~ D_k, p among ``queries`` (B, P)], the area masses of DEF-CORR for
    every query position (NaN where no event has p as a query, or j beyond N_k)."""
    A = events(Phi, Ups, inst, batch).A
    w = batch.weight.unsqueeze(1) * queries
    onehot = torch.nn.functional.one_hot(batch.cluster, inst.K).to(DTYPE)
    num = torch.einsum("bp,bk,bpj->pkj", w, onehot, A)
    den = torch.einsum("bp,bk->pk", w, onehot).unsqueeze(-1)
    valid = torch.arange(inst.N_max).unsqueeze(0) < torch.tensor(inst.N).unsqueeze(1)
    out = num / den.clamp(min=1e-300)
    return torch.where(valid.unsqueeze(0) & (den > 0), out, torch.full_like(out, math.nan))
