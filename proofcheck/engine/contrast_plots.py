"""Figures of the MAE-versus-CL comparison (SPEC §9.3 THM-CL-v3, §10 EXP-1), in the style of
:mod:`proofcheck.engine.plots` (matplotlib, Agg, one file written atomically per call):

- :func:`plot_maps_side_by_side`: attention maps (query x key) of several models in one row per group;
- :func:`plot_delta_sweep`: both diversity metrics and CL's global-area mass against the information gap.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from proofcheck.engine.plots import _save, plt


def plot_maps_side_by_side(rows: dict[str, dict[str, np.ndarray]], path: str | Path, tag: str, title: str,
                           xlabel: str = "key position q", ylabel: str = "query position p") -> str:
    """``rows`` maps a row label (a cluster, a digit) to {model label: (queries, keys) map}."""
    labels = list(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), len(labels), figsize=(3.4 * len(labels), 3.0 * len(rows)), squeeze=False,
                             constrained_layout=True)
    for r, (row, maps) in enumerate(rows.items()):
        for c, label in enumerate(labels):
            ax = axes[r, c]
            im = ax.imshow(maps[label], vmin=0.0, vmax=max(1e-12, float(np.nanmax(maps[label]))), cmap="viridis")
            ax.set_title(f"{label}, {row}", fontsize=8)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            fig.colorbar(im, ax=ax, label="attention")
    fig.suptitle(f"[{tag}] {title}", fontsize=10)
    return _save(fig, Path(path))


def plot_delta_sweep(points: list[dict], path: str | Path, tag: str) -> str:
    """``points``: rows with ``delta``, ``negatives``, ``D_mae`` / ``D_cl`` ({metric: value}) and
    ``cl_global_mass``; one line per objective (and number of negatives for CL) per metric."""
    metrics = sorted(points[0]["D_mae"])
    fig, axes = plt.subplots(1, len(metrics) + 1, figsize=(4.2 * (len(metrics) + 1), 3.6), constrained_layout=True)
    negs = sorted({p["negatives"] for p in points})
    colours = plt.cm.plasma(np.linspace(0.1, 0.8, len(negs)))
    for ax, metric in zip(axes, metrics):
        mae = sorted({(p["delta"], p["D_mae"][metric]) for p in points})
        ax.plot(*zip(*mae), "o-", color="tab:blue", label="MAE")
        for n, colour in zip(negs, colours):
            cl = sorted((p["delta"], p["D_cl"][metric]) for p in points if p["negatives"] == n)
            ax.plot(*zip(*cl), "s--", color=colour, label=f"CL, {n} negatives")
        ideal = sorted({(p["delta"], p["D_ideal"]) for p in points})
        ax.plot(*zip(*ideal), ":", color="grey", label="area-wide reference")
        ax.set_title(f"diversity ({metric}) across queries", fontsize=9)
        ax.set_xlabel("information gap Delta [R]")
        ax.set_ylabel("D")
        ax.axvline(0, color="grey", lw=0.5)
    for n, colour in zip(negs, colours):
        g = sorted((p["delta"], p["cl_global_mass"]) for p in points if p["negatives"] == n)
        axes[-1].plot(*zip(*g), "s--", color=colour, label=f"CL, {n} negatives")
    axes[-1].set_title("CL: smallest E[A_(p,1) | k] over (p, k)", fontsize=9)
    axes[-1].set_xlabel("information gap Delta [R]")
    axes[-1].set_ylabel("mass on the global area")
    axes[-1].axvline(0, color="grey", lw=0.5)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"[{tag}] MAE vs CL over the information gap (SPEC THM-CL-v3)", fontsize=10)
    return _save(fig, Path(path))
