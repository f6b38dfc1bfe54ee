"""PNG pictures of trajectories for the reports (matplotlib, Agg backend).

- :func:`plot_attention_maps`: attn_{p->q} (query position x key position),
  averaged over the events of each cluster in which p is masked, at chosen
  logged steps (start, phase boundaries, end);
- :func:`plot_fp_trajectories`: target and non-target FP correlations
  Phi_{p->v_{k,j}} against the step (SPEC DEF-CORR);
- :func:`plot_mass_trajectories`: the conditional mean area masses A_{p,j}
  (target and largest non-target) and the loss.

Titles carry the SPEC names and the provenance tag; every function writes one
file atomically and returns its path as a string.
"""
from __future__ import annotations

import os

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from proofcheck.setting.coords import attention_coords  # noqa: E402
from proofcheck.io import atomic_write_bytes  # noqa: E402
from proofcheck.setting.trainer import Trajectory, coords_at, evaluation_batch  # noqa: E402


def _save(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return str(atomic_write_bytes(path, buf.getvalue()))


def mean_attention_maps(traj: Trajectory, index: int, samples: int = 1024) -> np.ndarray:
    """(K, P, P) E[attn_{p->q} | X ~ D_k, p in M] at a logged step, on the
    trajectory's evaluation batch (exact when small, else Monte Carlo)."""
    inst = traj.instance
    batch = evaluation_batch(inst, samples, traj.config.seed + 1)
    attn = attention_coords(*coords_at(traj, index), inst, batch)                    # (B, P, P)
    w = batch.weight.unsqueeze(1) * batch.mask                                     # (B, P)
    onehot = torch.nn.functional.one_hot(batch.cluster, inst.K).to(attn.dtype)     # (B, K)
    num = torch.einsum("bp,bk,bpq->kpq", w, onehot, attn)
    den = torch.einsum("bp,bk->kp", w, onehot).clamp(min=1e-300).unsqueeze(-1)
    return (num / den).numpy()


def plot_attention_maps(traj: Trajectory, path: str | Path, tag: str, marks: dict[str, int]) -> str:
    """One row per cluster, one column per marked logged step (label -> index)."""
    inst = traj.instance
    maps = {label: mean_attention_maps(traj, i) for label, i in marks.items()}
    # constrained layout keeps each colour bar beside its own map and off the titles and labels
    fig, axes = plt.subplots(inst.K, len(marks), figsize=(3.6 * len(marks), 3.2 * inst.K), squeeze=False,
                             constrained_layout=True)
    for col, (label, i) in enumerate(marks.items()):
        for k in range(inst.K):
            ax = axes[k, col]
            im = ax.imshow(maps[label][k], vmin=0.0, vmax=max(1e-12, float(maps[label][k].max())), cmap="viridis")
            ax.set_title(f"cluster {k + 1}, {label} (step {int(traj.step[i])})", fontsize=8)
            ax.set_xlabel("key position q", fontsize=8)
            ax.set_ylabel("query position p", fontsize=8)
            fig.colorbar(im, ax=ax, label="attention")
    fig.suptitle(f"[{tag}] E[attn_(p->q) | k, p masked] on {inst.name}", fontsize=10)
    return _save(fig, Path(path))


def _target_mask(traj: Trajectory) -> np.ndarray:
    """(P, F) True where v_f is the target feature v_{k, a_k(p)} of p."""
    inst = traj.instance
    m = np.zeros((inst.P, inst.F), dtype=bool)
    m[np.arange(inst.P)[:, None], inst.feature_of.T.numpy()] = True
    return m


def plot_fp_trajectories(traj: Trajectory, path: str | Path, tag: str) -> str:
    """Target FP correlations (left) and non-target ones (right) for every p."""
    target = _target_mask(traj)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    T = traj.step
    # one colour per query position p (the lines of one p: its features in every cluster), one legend entry each
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, traj.instance.P))
    for p, colour in enumerate(colours):
        left.plot(T, traj.phi[:, p, target[p]], lw=0.8, color=colour)[0].set_label(f"p = {p}")
        right.plot(T, traj.phi[:, p, ~target[p]], lw=0.8, color=colour)
    fig.legend(title="query position", loc="outside right center", fontsize=8)
    left.set_title("target FP correlations Phi_(p->v_(k,a_k(p)))", fontsize=9)
    right.set_title("non-target FP correlations Phi_(p->v_(k,j)), j != a_k(p)", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("GD step t")
        ax.set_ylabel("correlation")
        ax.axhline(0, color="grey", lw=0.5)
    fig.suptitle(f"[{tag}] FP correlations along GD on {traj.instance.name} (eta={traj.config.eta:g})", fontsize=10)
    return _save(fig, Path(path))


def plot_mass_trajectories(traj: Trajectory, path: str | Path, tag: str) -> str:
    """Target mass E[A_{p,a_k(p)} | k, p in M], the largest non-target mass, and the loss."""
    target = _target_mask(traj)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    T = traj.step
    lines = left.plot(T, traj.mass[:, target], lw=0.8, color="tab:blue", alpha=0.6)
    lines[0].set_label("target A_(p,a_k(p)), one line per (p, k)")
    left.plot(T, np.where(~target, traj.mass, -np.inf).max((1, 2)), lw=1.5, color="tab:red",
              label="largest non-target A_(p,j)")
    left.set_title("A_(p,a_k(p)) (blue) and non-target A_(p,j)", fontsize=9)
    left.set_xlabel("GD step t")
    left.set_ylabel("mean area mass")
    left.legend(fontsize=8, loc="center right")  # between the rising target and the falling non-target lines
    right.semilogy(T, traj.loss)
    right.set_title("loss L(Q_t) (DEF-LOSS-MAE)", fontsize=9)
    right.set_xlabel("GD step t")
    right.set_ylabel("loss (log scale)")
    fig.suptitle(f"[{tag}] area masses and loss along GD on {traj.instance.name} (eta={traj.config.eta:g})",
                 fontsize=10)
    return _save(fig, Path(path))


def trajectory_plot(traj, path: str | os.PathLike) -> Path:
    """Loss and target area masses E[A_{p,a_k(p)} | k, p in M] along a saved GD
    run (SPEC DEF-GD, DEF-CORR), written atomically as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_mass) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    ax_loss.plot(traj.step, traj.loss, color="#1f5fbf")
    ax_loss.set(xlabel="GD step", ylabel="loss", title="loss")
    mass = traj.target_mass()
    for k in range(mass.shape[2]):
        ax_mass.plot(traj.step, mass[:, :, k].min(1), label=f"cluster {k + 1}: min over p")
        ax_mass.plot(traj.step, mass[:, :, k].mean(1), linestyle="--", label=f"cluster {k + 1}: mean over p")
    ax_mass.set(xlabel="GD step", ylabel="E[A_{p,a}]", ylim=(0, 1.02), title="target area mass")
    ax_mass.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_scaling(points: list[dict], fits: dict, path: str | Path, tag: str) -> str:
    """THM-MAIN-v1-SCALING: flow time to T*(eps) against P on log-log axes, one colour per eps, one marker per
    instance family (one area exponent), with each family's fitted line C P^alpha (1/eps)^beta (``fits``:
    family -> the :class:`~proofcheck.setting.measures.ScalingFit` as a dict)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    eps_values = sorted({p["eps"] for p in points}, reverse=True)
    colours = dict(zip(eps_values, plt.cm.viridis(np.linspace(0.0, 0.85, len(eps_values)))))
    markers = dict(zip(sorted(fits), "osD^v"))
    for fam, fit in fits.items():
        a, b = fit["coef"][fit["names"].index("P")], fit["coef"][fit["names"].index("inv_eps")]
        Ps = sorted({p["P"] for p in points if p["family"] == fam})
        grid = np.geomspace(min(Ps), max(Ps), 50)
        for eps in eps_values:
            pts = sorted((p["P"], p["time_T_star"]) for p in points if p["family"] == fam and p["eps"] == eps)
            ax.loglog(*zip(*pts), markers[fam], color=colours[eps], ls="none", label=f"{fam}, eps {eps:g}")
            ax.loglog(grid, np.exp(fit["intercept"]) * grid**a * (1 / eps)**b, color=colours[eps], lw=0.8,
                      ls="-" if markers[fam] == "o" else "--")
        ax.plot([], [], color="grey", ls="-" if markers[fam] == "o" else "--",
                label=f"fit {fam}: P^{a:.2f} (1/eps)^{b:.2f}")
    ax.set_xlabel("number of patches P")
    ax.set_ylabel("flow time to T*(eps)")
    ax.legend(fontsize=7)
    ax.set_title(f"[{tag}] T*(eps) against P (population gradient flow)", fontsize=10)
    return _save(fig, Path(path))


def plot_phase_correlations(traj: Trajectory, rows: list, path: str | Path, tag: str) -> str:
    """THM-MAE-v3 along the flow: for each local (p, k) of ``rows`` (:class:`~proofcheck.setting.measures.
    PhaseRow`), the global FP correlation Phi_(p->v_(k,1)) and the target one Phi_(p->v_(k,a)) against flow
    time (log axis), with T1 (dotted) and T2 (dashed) marked."""
    inst = traj.instance
    times = traj.config.eta * np.asarray(traj.step, dtype=float)
    local = [r for r in rows if r.kind == "local"]
    fig, ax = plt.subplots(figsize=(7.2, 4.2), constrained_layout=True)
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, max(1, len(local))))
    keep = times > 0
    for r, colour in zip(local, colours):
        a = int(inst.area_of[r.k, r.p])
        ax.semilogx(times[keep], traj.phi[keep, r.p, inst.feature_index(r.k, 0)], color=colour, ls="--", lw=0.9)
        ax.semilogx(times[keep], traj.phi[keep, r.p, inst.feature_index(r.k, a)], color=colour, lw=0.9,
                    label=f"p = {r.p}, cluster {r.k + 1}")
        for t, ls in ((r.t1, ":"), (r.t2, "-.")):
            if t:
                ax.axvline(t, color=colour, ls=ls, lw=0.7)
    ax.plot([], [], color="grey", ls="--", label="global Phi_(p->v_(k,1))")
    ax.plot([], [], color="grey", label="target Phi_(p->v_(k,a))")
    ax.plot([], [], color="grey", ls=":", label="T1 (end of Phase I)")
    ax.plot([], [], color="grey", ls="-.", label="T2 (A_(p,a) >= 1 - eps)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("flow time t (log scale)")
    ax.set_ylabel("FP correlation")
    ax.legend(fontsize=7)
    ax.set_title(f"[{tag}] phases of local positions on {inst.name}", fontsize=10)
    return _save(fig, Path(path))


def plot_phase_times(points: list[dict], path: str | Path, tag: str) -> str:
    """THM-MAE-v3 sweep: median T1 and T2 of the local positions against the information gap Delta [R],
    one line per P (flow time, log axis); T1 = 0 (a single phase) is drawn on the axis floor."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    Ps = sorted({p["P"] for p in points})
    colours = dict(zip(Ps, plt.cm.plasma(np.linspace(0.1, 0.8, len(Ps)))))
    reached = [v for p in points for v in (p["T1"], p["T2"]) if v]
    floor = min(reached) / 3 if reached else 1.0
    for P in Ps:
        pts = sorted((p["delta"], p["T1"], p["T2"]) for p in points if p["P"] == P)
        d = [x[0] for x in pts]
        ax.semilogy(d, [x[1] or floor for x in pts], "o:", color=colours[P], label=f"T1, P = {P}")
        ax.semilogy(d, [x[2] or np.nan for x in pts], "s-", color=colours[P], label=f"T2, P = {P}")
    ax.axhline(floor, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("information gap Delta = kappa_g - kappa_l [R]")
    ax.set_ylabel(f"flow time (T1 = 0 drawn at {floor:.2g})")
    ax.legend(fontsize=7)
    ax.set_title(f"[{tag}] THM-MAE-v3 phase times against Delta", fontsize=10)
    return _save(fig, Path(path))
