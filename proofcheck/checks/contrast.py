"""THM-CL-v3 on trained models (check kind "contrast"): contrastive learning collapses to one global
pattern where MAE learns diverse attention (SPEC §9.3, §10 EXP-1).

- :class:`Collapse`: after CL training (or MAE training, for the planted variant), every query position's
  attention concentrates on one area: ``form="near-one"`` is SPEC's [R] form (mass >= 1 - eps on the
  global area, local FP correlations small), ``form="dominant"`` the statement checked in its place (at
  every logged step the global area holds every query's largest area mass, and the queries share one
  pattern).
- :class:`Contrast`: MAE and CL trained on the same instances with the same GD settings; over a sweep of
  the information gap Delta and of the number of negatives, MAE's attention is more diverse across
  queries than CL's under both metrics of :mod:`proofcheck.setting.diversity`.
- :class:`DigitsDiversity`: EXP-1's claim on real images (scikit-learn's digits).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
import torch

from proofcheck.context import Budget
from proofcheck.engine.trajclaim import TrajectoryClaim, _plot_name
from proofcheck.errors import TrainingDiverged
from proofcheck.lang.lemma import Claim
from proofcheck.setting import contrastive as cl_mod
from proofcheck.setting.coords import attention_coords
from proofcheck.setting.diversity import pairwise_diversity, references
from proofcheck.setting.measures import avoidable
from proofcheck.setting.trainer import coords_at
from proofcheck.setting.trajcache import cached_train
from proofcheck.tolerance import EPS
from proofcheck.verdict import CheckResult, Verdict, key_set_words

METRICS = ("js", "iou")


def train_run(run, objective: str, cl: cl_mod.CLConfig, ctx):
    """The trajectory of ``run`` under the objective ("cl" or "mae"), cached in the session's folder."""
    if objective == "cl":
        return cl_mod.cached_train_cl(run.instance, run.config, cl, ctx.cache("trajectories"))
    return cached_train(run.instance, run.config, ctx.cache("trajectories"))


def scored_queries(inst, batch, objective: str, cl: cl_mod.CLConfig):
    """(B, P) the queries an objective trains: every position (CL, all-position pooling), else the masked
    ones; for MAE only the avoidable ones, where its attention has a target at all (LEM-G11)."""
    if objective == "mae":
        return avoidable(inst, batch)
    return batch.mask | (cl.pooling == "all")


def pattern_diversity(traj, batch, queries, index: int = -1) -> dict:
    """Both diversity metrics of the attention over keys at a logged step."""
    attn = attention_coords(*coords_at(traj, index), traj.instance, batch)
    return {m: pairwise_diversity(attn, queries, batch, m).to_dict() for m in METRICS}


@dataclass
class Collapse(TrajectoryClaim):
    """THM-CL-v3 (SPEC 9.3) on one trained run per instance.  ``area`` (1-based) is the area claimed to
    take the attention (1: the global one; 2, a local one, is a planted wrong variant); ``objective="mae"``
    trains with the MAE loss instead (the planted "collapse claimed for MAE").

    ``form="near-one"`` (SPEC's [R] form): at the end, E[A_{p,area} | k, p queried] >= 1 - eps for every
    (p, k), and every local FP correlation is <= ``local_ratio`` x the largest global one.  Not reached
    with GD still moving is INCONCLUSIVE; not reached at an approximate stationary point (largest gradient
    entry <= ``stationary`` x its initial value) is REFUTED.
    ``form="dominant"``: at every logged step after the first, every (p, k) puts at least as much mass on
    ``area`` as on any other area, and at the end the queries share one pattern (both diversity metrics
    of the attention over keys <= ``same_pattern``).  A step where it fails is the counterexample.
    ``area=None`` with ``form="dominant"`` claims the shared pattern alone (the masses on area 1 are
    reported)."""

    cl: cl_mod.CLConfig = field(default_factory=cl_mod.CLConfig)
    objective: str = "cl"
    area: int = 1
    form: str = "dominant"
    eps: float = 0.05
    local_ratio: float = 0.1
    same_pattern: float = 0.01
    stationary: float = 1e-3
    kind = "contrast"

    def describe(self) -> str:
        who = "CL" if self.objective == "cl" else "MAE"
        if self.area is None:
            return f"{who}: all queries share one attention pattern"
        where = "the global area" if self.area == 1 else f"area {self.area}"
        if self.form == "near-one":
            return (f"after {who} training every query puts >= 1-{self.eps:g} on {where}, local FP correlations "
                    f"<= {self.local_ratio:g} x global (SPEC THM-CL-v3 [R] form)")
        return f"{who}: {where} holds every query's largest area mass at every step, one pattern for all queries"

    def check(self, lemma, ctx) -> list[CheckResult]:
        runs = self.runs.get(ctx.budget, ())
        if not runs:
            return super().check(lemma, ctx)                 # the base states that no run is planned
        out = []
        for run in runs:
            run = replace(run, config=replace(run.config, device=ctx.device, seed=ctx.seed))
            t0 = time.perf_counter()
            try:
                trained = train_run(run, self.objective, self.cl, ctx)
            except TrainingDiverged as exc:
                out.append(self.result(lemma, run, Verdict.INCONCLUSIVE, f"{exc}; a diverged run gives no verdict",
                                       evidence={"reason": "training diverged", "diverged_at_step": exc.step,
                                                 "run": run.describe()}, timing_s=time.perf_counter() - t0))
                continue
            r = self.evaluate(lemma, trained.trajectory, run, ctx)
            r.evidence.update(budget=ctx.budget.name, run=run.describe(), cached=trained.cached,
                              train_s=trained.seconds, objective=self.objective,
                              cl=self.cl.describe() if self.objective == "cl" else None)
            r.timing_s = time.perf_counter() - t0
            out.append(r)
        return out

    def evaluate(self, lemma, traj, run, ctx):
        inst = traj.instance
        batch = run.held_out()
        queries = scored_queries(inst, batch, self.objective, self.cl)
        masses = np.stack([cl_mod.query_area_mass(*coords_at(traj, t), inst, batch, queries).numpy()
                           for t in range(len(traj.step))])                          # (T, P, K, N_max)
        j = (self.area or 1) - 1
        final = masses[-1, :, :, j]
        glob = [inst.feature_index(k, 0) for k in range(inst.K)]
        local = [f for f in range(inst.F) if f not in glob]
        phi = traj.phi[-1]
        evidence = {"information_gap": cl_mod.information_gap(inst), "area": self.area, "form": self.form,
                    "mass_on_area_final": {"min": float(np.nanmin(final)), "max": float(np.nanmax(final))},
                    "mass_on_area_start": float(np.nanmin(masses[0, :, :, j])),
                    "max_global_phi": float(phi[:, glob].max()), "max_local_phi": float(phi[:, local].max()),
                    "diversity_final": pattern_diversity(traj, batch, queries),
                    "diversity_references": {m: references(inst, batch, m) for m in METRICS},
                    "eta": traj.config.eta, "steps": int(traj.step[-1]),
                    "max_logit_step": traj.meta.get("max_logit_step"),
                    "grad_max_initial": traj.meta.get("grad_max_initial"),
                    "grad_max_final": traj.meta.get("grad_max_final"),
                    "evaluation": "exact" if batch.exact else f"held-out Monte Carlo batch of {len(batch)} images"}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.plots import plot_attention_maps, plot_mass_trajectories
            plots = [plot_attention_maps(traj, ctx.plot_dir / _plot_name(ctx, run, f"{self.objective}-attention"),
                                         lemma.tag, {"start": 0, "end": len(traj.step) - 1}),
                     plot_mass_trajectories(traj, ctx.plot_dir / _plot_name(ctx, run, f"{self.objective}-mass"),
                                            lemma.tag)]
        if self.form == "near-one":
            return self._near_one(lemma, run, final, evidence, plots)
        return self._dominant(lemma, run, traj, masses, evidence, plots)

    def _near_one(self, lemma, run, final, evidence, plots):
        low = float(np.nanmin(final))
        small_local = evidence["max_local_phi"] <= self.local_ratio * max(evidence["max_global_phi"], 0.0)
        tol = {"atol": 0.0, "rtol": 0.0, "justification": f"thresholds are the claim's eps = {self.eps:g} and "
               f"local ratio {self.local_ratio:g}; exact expectations carry only rounding, far below them; "
               f"'stationary': largest gradient entry <= {self.stationary:g} x its value at Q = 0"}
        summary = (f"min over (p, k) of the mass on area {self.area} {low:.3f} (start "
                   f"{evidence['mass_on_area_start']:.3f}); max local Phi {evidence['max_local_phi']:.3f} vs "
                   f"global {evidence['max_global_phi']:.3f}")
        if low >= 1 - self.eps and small_local:
            return self.result(lemma, run, Verdict.VERIFIED, summary, evidence=evidence, tolerance=tol,
                               margin=low - (1 - self.eps), plots=plots)
        g0, g1 = evidence["grad_max_initial"], evidence["grad_max_final"]
        if g0 and g1 is not None and g1 <= self.stationary * g0:
            return self.result(lemma, run, Verdict.REFUTED, f"GD ended at an approximate stationary point "
                               f"(gradient {g1:.2g} vs {g0:.2g} at the start) without the pattern: {summary}",
                               evidence=evidence, tolerance=tol, margin=low - (1 - self.eps), plots=plots,
                               counterexample={"step": evidence["steps"], "min_mass": low,
                                               "max_local_phi": evidence["max_local_phi"]})
        return self.result(lemma, run, Verdict.INCONCLUSIVE, f"not reached within {evidence['steps']} steps, GD "
                           f"still moving: {summary}", evidence={**evidence, "reason": "step budget exhausted"},
                           tolerance=tol, margin=low - (1 - self.eps), plots=plots)

    def _dominant(self, lemma, run, traj, masses, evidence, plots):
        j = (self.area or 1) - 1
        tol_mass = 64 * EPS
        tol = {"atol": tol_mass, "rtol": 0.0, "justification": "mass comparisons allow 64 float64 roundoffs "
               f"(masses are <= 1); 'one pattern': both diversity metrics <= {self.same_pattern:g}, 1% of the "
               "value of two queries with disjoint supports"}
        for t in range(1 if self.area is not None else masses.shape[0], masses.shape[0]):
            m = masses[t]
            others = np.delete(m, j, axis=2)
            gap = m[:, :, j] - np.nanmax(np.where(np.isnan(others), -np.inf, others), axis=2)
            bad = np.argwhere(gap < -tol_mass)
            if len(bad):
                p, k = (int(v) for v in bad[0])
                cex = {"step": int(traj.step[t]), "p": p, "k": k + 1, "mass_on_area": float(m[p, k, j]),
                       "largest_other": float(m[p, k, j] - gap[p, k])}
                return self.result(lemma, run, Verdict.REFUTED, f"query p={p} (cluster {k + 1}) puts "
                                   f"{cex['mass_on_area']:.3f} on area {self.area} and {cex['largest_other']:.3f} on "
                                   f"another at step {cex['step']}", evidence=evidence, tolerance=tol,
                                   counterexample=cex, plots=plots)
        div = {m: evidence["diversity_final"][m] for m in METRICS}
        spread = [m for m in METRICS if div[m]["lo"] > self.same_pattern]
        lead = "no lead claimed" if self.area is None else f"area {self.area} dominant for every (p, k) at every step"
        summary = (f"{lead}; diversity "
                   + ", ".join(f"{m} {div[m]['value']:.2g}" for m in METRICS)
                   + f"; final mass on area {j + 1} >= {evidence['mass_on_area_final']['min']:.3f}")
        if spread:
            return self.result(lemma, run, Verdict.REFUTED, f"queries do not share one pattern ({spread[0]} "
                               f"diversity {div[spread[0]]['value']:.3f} > {self.same_pattern:g}): {summary}",
                               evidence=evidence, tolerance=tol, plots=plots,
                               counterexample={"step": int(traj.step[-1]), "diversity": div})
        if any(div[m]["hi"] > self.same_pattern for m in METRICS):
            return self.result(lemma, run, Verdict.INCONCLUSIVE, f"diversity interval straddles {self.same_pattern:g}"
                               f": {summary}", evidence={**evidence, "reason": "Monte Carlo interval"},
                               tolerance=tol, plots=plots)
        return self.result(lemma, run, Verdict.VERIFIED, summary, evidence=evidence, tolerance=tol,
                           margin=min(self.same_pattern - div[m]["value"] for m in METRICS), plots=plots)


@dataclass
class Contrast(TrajectoryClaim):
    """THM-CL-v3 (b) (SPEC 9.3 [V], EXP-1's claim in the synthetic model): on each instance of the budget,
    CL trained with the GD settings of ``runs``, once per number of negatives of ``negatives`` (others from
    ``cl``), and MAE for the same gradient-flow time eta * steps at its own step ``mae_eta``, so that both
    stay in the small-step regime (MAE's gradient moves the logits several times more per unit of eta).  Scored over the avoidable masked queries (both objectives train
    them): D_MAE > D_CL for both metrics at every point with Delta > 0, decided on the 95% intervals
    (disjoint: VERIFIED / REFUTED, else INCONCLUSIVE).  Points with Delta <= 0 are reported, not judged:
    they locate where CL stops collapsing onto the global area.  ``direction="cl"`` plants the wrong
    claim D_CL > D_MAE.  One result for the whole sweep, with its table and the Delta plot."""

    negatives: Mapping[Budget, Sequence[int]] = field(default_factory=dict)
    cl: cl_mod.CLConfig = field(default_factory=cl_mod.CLConfig)
    direction: str = "mae"
    mae_eta: float = 0.8
    kind = "contrast"

    def mae_run(self, run):
        """``run`` with MAE's step size, over the same time eta * steps."""
        c = run.config
        steps = round(c.steps * c.eta / self.mae_eta)
        return replace(run, config=replace(c, eta=self.mae_eta, steps=steps, log_every=max(1, steps // 20)))

    def describe(self) -> str:
        more, less = ("MAE", "CL") if self.direction == "mae" else ("CL", "MAE")
        return f"{more}'s attention is more diverse across queries than {less}'s for Delta > 0 (JS and IoU)"

    def check(self, lemma, ctx) -> list[CheckResult]:
        runs = self.runs.get(ctx.budget, ())
        if not runs:
            return super().check(lemma, ctx)
        t0, points, trains, side_by_side = time.perf_counter(), [], [], {}
        name = f"[{lemma.tag}] {self.describe()}"
        for run in runs:
            run = replace(run, config=replace(run.config, device=ctx.device, seed=ctx.seed))
            batch = run.held_out()
            inst = run.instance
            queries = avoidable(inst, batch)
            try:
                mae = train_run(self.mae_run(run), "mae", self.cl, ctx)
                cls = [(n, train_run(run, "cl", replace(self.cl, negatives=n, groups=max(1, self.cl.images // (n + 1))),
                                     ctx)) for n in self.negatives.get(ctx.budget, (self.cl.negatives,))]
            except TrainingDiverged as exc:
                return [CheckResult(self.kind, name, Verdict.INCONCLUSIVE, f"{exc} on {inst.name}",
                                    evidence={"reason": "training diverged"}, seed=ctx.seed)]
            d_mae = pattern_diversity(mae.trajectory, batch, queries)
            ideal = references(inst, batch, "js")["area_wide"]
            trains += [mae] + [c for _, c in cls]
            side_by_side[run] = (mae, cls[-1][1])
            for n, c in cls:
                every = scored_queries(inst, batch, "cl", self.cl)
                glob = cl_mod.query_area_mass(*coords_at(c.trajectory, -1), inst, batch, every).numpy()[:, :, 0]
                points.append({"instance": inst.name, "delta": cl_mod.information_gap(inst), "negatives": n,
                               "D_mae": {m: d_mae[m]["value"] for m in METRICS}, "D_mae_interval": d_mae,
                               "D_cl_interval": (d_cl := pattern_diversity(c.trajectory, batch, queries)),
                               "D_cl": {m: d_cl[m]["value"] for m in METRICS}, "D_ideal": ideal,
                               "cl_global_mass": float(np.nanmin(glob)),
                               "max_logit_step": {"mae": mae.trajectory.meta.get("max_logit_step"),
                                                  "cl": c.trajectory.meta.get("max_logit_step")}})
        deltas = sorted({round(p["delta"], 4) for p in points})
        negatives = sorted({p["negatives"] for p in points})
        evidence = {"verified_on": f"a sweep of {len(points)} points: Delta in {{{', '.join(f'{d:g}' for d in deltas)}}}"
                                   f" x {{{', '.join(map(str, negatives))}}} negatives ("
                                   f"{key_set_words({r.instance.key_set for r in runs})}), Delta > 0 judged",
                    "table": {"caption": "attention diversity after training (exact or held-out batch); the "
                                         "collapsed pattern scores 0 under both metrics",
                              "columns": ["instance", "Delta", "negatives", "MAE JS", "CL JS", "MAE 1-IoU",
                                          "CL 1-IoU", "area-wide JS", "CL min global mass"],
                              "rows": [[p["instance"], p["delta"], p["negatives"], p["D_mae"]["js"], p["D_cl"]["js"],
                                        p["D_mae"]["iou"], p["D_cl"]["iou"], p["D_ideal"], p["cl_global_mass"]]
                                       for p in points]},
                    "points": points, "cl_eta": runs[0].config.eta, "cl_steps": runs[0].config.steps,
                    "mae_eta": self.mae_eta, "mae_steps": self.mae_run(runs[0]).config.steps, "cl": self.cl.describe(),
                    "train_s": sum(t.seconds for t in trains), "cached": all(t.cached for t in trains)}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.contrast_plots import plot_delta_sweep, plot_maps_side_by_side
            from proofcheck.engine.plots import mean_attention_maps
            plots.append(plot_delta_sweep(points, ctx.plot_dir / f"{ctx.lemma_id or 'lemma'}-delta-sweep.png",
                                          lemma.tag))
            for run, (mae, cl_last) in side_by_side.items():
                maps = {label: mean_attention_maps(t.trajectory, -1) for label, t in (("MAE", mae), ("CL", cl_last))}
                plots.append(plot_maps_side_by_side(
                    {f"cluster {k + 1}": {label: m[k] for label, m in maps.items()} for k in range(run.instance.K)},
                    ctx.plot_dir / f"{ctx.lemma_id or 'lemma'}-{run.instance.name}-maps.png", lemma.tag,
                    f"E[attn_(p->q) | k, p masked] after MAE and CL training on {run.instance.name}"))
        tol = {"atol": 0.0, "rtol": 0.0, "justification": "decided on the 95% intervals of D (zero width for exact "
               "batches, where only rounding, < 1e-12, separates equal scores)"}
        hi, lo = ("D_mae_interval", "D_cl_interval") if self.direction == "mae" else ("D_cl_interval", "D_mae_interval")
        judged = [p for p in points if p["delta"] > 0]
        margins = [p[hi][m]["lo"] - p[lo][m]["hi"] for p in judged for m in METRICS]
        table = "; ".join(f"Delta {p['delta']:+.2f}, {p['negatives']} neg: MAE js {p['D_mae']['js']:.3f} / CL "
                          f"{p['D_cl']['js']:.3f}, CL global mass {p['cl_global_mass']:.2f}" for p in points)
        timing = time.perf_counter() - t0
        if not judged:
            return [CheckResult(self.kind, name, Verdict.INCONCLUSIVE, "no sweep point with Delta > 0",
                                evidence={**evidence, "reason": "nothing to judge"}, seed=ctx.seed, timing_s=timing)]
        reverse = [p[lo][m]["lo"] - p[hi][m]["hi"] for p in judged for m in METRICS]
        if max(reverse) > 1e-12:
            return [CheckResult(self.kind, name, Verdict.REFUTED, f"the other objective is more diverse: {table}",
                                evidence=evidence, tolerance=tol, margin=-max(reverse), plots=plots, seed=ctx.seed,
                                timing_s=timing, counterexample=judged[int(np.argmax(reverse)) // len(METRICS)])]
        verdict = Verdict.VERIFIED if min(margins) > 1e-12 else Verdict.INCONCLUSIVE
        return [CheckResult(self.kind, name, verdict, table, evidence=evidence if verdict == Verdict.VERIFIED else
                            {**evidence, "reason": "intervals overlap"}, tolerance=tol, margin=min(margins),
                            plots=plots, seed=ctx.seed, timing_s=timing)]

    def evaluate(self, lemma, traj, run, ctx):  # pragma: no cover - check() is the whole sweep
        raise NotImplementedError


@dataclass
class DigitsDiversity(Claim):
    """EXP-1's claim [V] on scikit-learn's 8 x 8 digits (:mod:`proofcheck.setting.digits`): the same
    one-layer attention trained by MAE and by CL with the same architecture and budget (``plans``: one
    :class:`~proofcheck.setting.digits.DigitsConfig` per budget), over its seeds.  Per seed, both metrics of
    the attention of the masked queries on the held-out images; the claim is D_MAE > D_CL for both, judged
    on the 95% t interval over seeds of the paired difference (above 0: VERIFIED; below 0 for a metric:
    REFUTED; else INCONCLUSIVE).  ``direction="cl"`` plants the reverse.  A plain :class:`Claim`: it trains
    neither the trainer's GD nor on drawn cases, so neither base fits."""

    plans: Mapping[Budget, object]
    label: str = "[V] EXP-1 on real images: MAE's attention is more diverse across query patches than CL's"
    direction: str = "mae"
    kind = "contrast"

    def check(self, lemma, ctx) -> list[CheckResult]:
        from proofcheck.setting import digits
        from proofcheck.setting.measures import t_quantile

        name = f"[{lemma.tag}] {self.label}" + (" (planted: reversed)" if self.direction == "cl" else "")
        cfg = self.plans.get(ctx.budget)
        if cfg is None:
            return [CheckResult(self.kind, name, Verdict.INCONCLUSIVE, f"no plan for the {ctx.budget.name} budget",
                                evidence={"reason": "no plan for this budget"}, seed=ctx.seed)]
        t0 = time.perf_counter()
        x, mask = digits.test_views(cfg)
        seeds = [seed + ctx.seed for seed in cfg.seeds]
        rows, maps = [{"seed": seed} for seed in seeds], {}
        for obj in ("mae", "cl"):
            model = digits.train(obj, cfg, seeds)
            with torch.no_grad():
                attn = model.attention(x, mask)
            for row, a in zip(rows, attn):
                row[obj] = {m: digits.diversity(a, mask, m).to_dict() for m in METRICS}
            maps[obj] = ((attn[0] * mask.unsqueeze(-1)).sum(0) / mask.sum(0).clamp(min=1).unsqueeze(-1)).numpy()
        sign = 1.0 if self.direction == "mae" else -1.0
        summary, intervals = [], {}
        for m in METRICS:
            diff = np.array([sign * (r["mae"][m]["value"] - r["cl"][m]["value"]) for r in rows])
            half = (t_quantile(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
                    if len(diff) > 1 else math.inf)
            intervals[m] = (float(diff.mean() - half), float(diff.mean() + half))
            summary.append(f"{m}: MAE {np.mean([r['mae'][m]['value'] for r in rows]):.3f} vs CL "
                           f"{np.mean([r['cl'][m]['value'] for r in rows]):.3f}, difference "
                           f"[{intervals[m][0]:.3f}, {intervals[m][1]:.3f}]")
        refs = {m: {"collapsed": 0.0, "neighbourhood_3x3": digits.diversity(digits.neighbourhood_attention(mask, cfg.patch),
                                                                            mask, m).value} for m in METRICS}
        evidence = {"verified_on": f"scikit-learn digits: {len(rows)} seeds x {len(x)} held-out images",
                    "table": {"caption": "attention diversity of masked query patches on held-out digits, per "
                                         "seed, with the references",
                              "columns": ["seed / reference", "MAE JS", "CL JS", "MAE 1-IoU", "CL 1-IoU"],
                              "rows": [[str(r["seed"]), r["mae"]["js"]["value"], r["cl"]["js"]["value"],
                                        r["mae"]["iou"]["value"], r["cl"]["iou"]["value"]] for r in rows]
                              + [[name, refs["js"][name], refs["js"][name], refs["iou"][name], refs["iou"][name]]
                                 for name in ("collapsed", "neighbourhood_3x3")]},
                    "seeds": rows, "difference_95": intervals, "references": refs, "config": repr(cfg),
                    "data": f"scikit-learn digits: {len(x)} held-out images of 8 x 8, {x.shape[1]} patches of "
                            f"{cfg.patch} x {cfg.patch}"}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.contrast_plots import plot_maps_side_by_side
            g = int(math.isqrt(x.shape[1]))
            panels = {f"query patch {p}": {o.upper(): maps[o][p].reshape(g, g) for o in ("mae", "cl")}
                      for p in (0, g + 1, 2 * g + 2, x.shape[1] - 1)}
            plots.append(plot_maps_side_by_side(panels, ctx.plot_dir / f"{ctx.lemma_id or 'lemma'}-digits-maps.png",
                                                lemma.tag, "attention of masked query patches over the patch grid "
                                                f"(held-out digits, seed {rows[0]['seed']})", "key column",
                                                "key row"))
        tol = {"atol": 0.0, "rtol": 0.0, "justification": f"95% t interval over {len(rows)} seeds of the paired "
               "difference of the scores (each a mean over held-out images)"}
        lows, highs = [intervals[m][0] for m in METRICS], [intervals[m][1] for m in METRICS]
        verdict = (Verdict.VERIFIED if min(lows) > 0 else Verdict.REFUTED if min(highs) < 0 else Verdict.INCONCLUSIVE)
        if verdict == Verdict.INCONCLUSIVE:
            evidence["reason"] = "an interval over seeds contains 0"
        return [CheckResult(self.kind, name, verdict, "; ".join(summary), evidence=evidence, tolerance=tol,
                            margin=min(lows), plots=plots, seed=ctx.seed, timing_s=time.perf_counter() - t0)]
