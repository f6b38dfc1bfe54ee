"""Theorem claims along training (check kind "trajectory"): THM-MAIN-v1's area-wide attention,
THM-MAE-v3's phases, attention diversity and the scaling of T*, on runs from the trainer."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence
import numpy as np
from proofcheck.setting import diversity as dv, measures as th
from proofcheck.setting.runs import SMALL_STEP, regime
from proofcheck.setting.trainer import coords_at
from proofcheck.verdict import CheckResult, Verdict
from proofcheck.engine.trajclaim import TrajectoryClaim, _plot_name
from proofcheck.tolerance import EPS


def _log_slope(steps: np.ndarray, values: Sequence[float]) -> float | None:
    """d value / d log(step) over the second half of the run: the rate of the
    logarithmic growth expected once the residual is small."""
    steps = np.asarray(steps, dtype=float)
    keep = steps >= max(1.0, steps[-1] / 2)
    if keep.sum() < 2:
        return None
    return float(np.polyfit(np.log(steps[keep]), np.asarray(values, dtype=float)[keep], 1)[0])


@dataclass
class AreaWide(TrajectoryClaim):
    """THM-MAIN-v1 [R] (SPEC 9.1) on a trained model: there is T* within the
    budget from which, at every later logged step, (1) the loss gap to
    L_infinity is <= eps and (2) at least ``fraction`` of the avoidable masked
    events have A_{p,a_k(p)} >= 1 - eps (lower 95% bound for Monte Carlo).
    Not reaching it is INCONCLUSIVE (an existence claim), with the distance
    left.  Planted wrong variant ``quantifier="never"``: the area-wide pattern
    is never reached (refuted by any step where it is)."""

    eps: float = 0.05
    fraction: float = 0.95
    quantifier: str = "eventually"

    def describe(self) -> str:
        q = "is reached and kept" if self.quantifier == "eventually" else "is never reached"
        return (f"area-wide attention (>= {self.fraction:.0%} of avoidable events with A_(p,a) >= 1-{self.eps:g}, "
                f"loss gap <= {self.eps:g}) {q} (SPEC THM-MAIN-v1)")

    def evaluate(self, lemma, traj, run, ctx):
        inst = traj.instance
        reg = regime(traj)
        s, evaluation = th.main_series(traj, run.held_out, self.eps, self.fraction)
        f, g = s.fraction[-1], s.gap[-1]
        tphi, phi = traj.target_phi()[-1], traj.phi[-1]
        nontarget = np.ones_like(phi, dtype=bool)
        nontarget[np.arange(inst.P)[:, None], inst.feature_of.T.numpy()] = False
        eta = traj.config.eta
        i_star = int(np.searchsorted(traj.step, s.t_star)) if s.t_star is not None else None
        evidence = {
            "T_star": s.t_star, "time_T_star": eta * s.t_star if s.t_star is not None else None,
            "time_T_star_bracket": th.t_star_bracket(traj, s.t_star),
            "T_star_resolution": float(np.diff(traj.step).max()) if len(traj.step) > 1 else 0,
            "eps": self.eps, "fraction_target": self.fraction, "evaluation": evaluation,
            "final_fraction": f.to_dict(), "final_loss_gap": g.to_dict(),
            "fraction_series": [x.value for x in s.fraction], "gap_series": [x.value for x in s.gap],
            "steps": traj.step.tolist(), "times": (eta * traj.step).tolist(),
            "fraction_per_log_step": _log_slope(traj.step, [x.value for x in s.fraction]),
            "target_phi_at_T_star": float(traj.target_phi()[i_star].mean()) if i_star is not None else None,
            "target_phi_final": [float(tphi.min()), float(tphi.max())],
            "target_phi_over_log_P_over_eps": float(tphi.mean() / math.log(inst.P / self.eps)),
            "target_phi_per_log_step": _log_slope(traj.step, traj.target_phi().mean((1, 2))),
            "max_abs_nontarget_phi": float(np.abs(phi[nontarget]).max()) if nontarget.any() else 0.0,
            "max_abs_ups": float(np.abs(traj.ups[-1]).max()),
            "loss_monotone": bool((np.diff(traj.loss) <= 1e-12 * np.abs(traj.loss[:-1])).all()),
        }
        tol = {"atol": 0.0, "rtol": 0.0, "justification": "thresholds are the theorem's eps and the 95% target; "
               "Monte Carlo uncertainty is handled by requiring the interval's pessimistic end, exact batches "
               "have none"}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.plots import plot_attention_maps, plot_mass_trajectories
            marks = {"start": 0, "T*": int(np.searchsorted(traj.step, s.t_star)) if s.t_star is not None else None,
                     "end": len(traj.step) - 1}
            plots.append(plot_attention_maps(traj, ctx.plot_dir / _plot_name(ctx, run, "attention"), lemma.tag,
                                             {k: v for k, v in marks.items() if v is not None}))
            plots.append(plot_mass_trajectories(traj, ctx.plot_dir / _plot_name(ctx, run, "mass"), lemma.tag))
        reached = [int(traj.step[i]) for i, ok in enumerate(s.holds()) if ok]
        if not reg["small_step"]:
            why = (f"outside the small-step regime of SPEC DEF-GD: max_logit_step = {reg['max_logit_step']:.3g} > "
                   f"{SMALL_STEP:g} at eta = {eta:g}; the theorem speaks of eta <= 1/poly(P) (run the flow)")
            return self.result(lemma, run, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                               tolerance=tol, plots=plots)
        if self.quantifier == "never":
            if reached:
                return self.result(lemma, run, Verdict.REFUTED, f"the area-wide pattern holds at step {reached[0]}",
                                   evidence=evidence, tolerance=tol, counterexample={"step": reached[0]},
                                   plots=plots)
            return self.result(lemma, run, Verdict.VERIFIED, "the area-wide pattern is not reached within the budget",
                               evidence=evidence, tolerance=tol, plots=plots)
        status = (f"fraction {f.value:.3f} [{f.lo:.3f}, {f.hi:.3f}], loss gap {g.value:.3g} at time "
                  f"{eta * traj.step[-1]:.4g}")
        if s.t_star is not None:
            return self.result(lemma, run, Verdict.VERIFIED, f"time to T*({self.eps:g}) = "
                               f"{evidence['time_T_star']:.4g} (eta T*); {status}",
                               evidence=evidence, tolerance=tol, margin=f.lo - self.fraction, plots=plots)
        return self.result(lemma, run, Verdict.INCONCLUSIVE, f"not reached within time {eta * traj.step[-1]:.4g}: "
                           f"{status}", evidence={**evidence, "reason": "time budget exhausted"}, tolerance=tol,
                           margin=f.lo - self.fraction, plots=plots)


def _spread(values: list) -> dict:
    vals = [v for v in values if v is not None]
    return {"n": len(values), "reached": len(vals), "min": min(vals) if vals else None,
            "median": float(np.median(vals)) if vals else None, "max": max(vals) if vals else None}


@dataclass
class Phases(TrajectoryClaim):
    """THM-MAE-v3 [R] (SPEC 9.2) on `global-local`: for every local (p, k),
    Phase I (the global FP correlation Phi_{p->v_{k,1}} falls while the target
    area has not yet taken over, up to T1) and Phase II (the target mass reaches
    1 - eps at T2 >= T1); every global (p, k) needs one phase (its target area
    dominates from step 0, T1 = 0).  Masses are conditional on the avoidable
    events (:func:`proofcheck.setting.measures.phases`).

    Planted wrong variant ``claim="collapse"`` (THM-CL-v3's conclusion carried
    over to MAE): every local position keeps at least as much mass on the global
    area as on its own at every logged step."""

    eps: float = 0.05
    claim: str = "two-phase"

    def describe(self) -> str:
        if self.claim == "collapse":
            return "attention of local positions stays collapsed on the global area (THM-CL-v3 form, planted for MAE)"
        return "Phase I then Phase II for local positions, one phase for global ones (SPEC THM-MAE-v3)"

    def evaluate(self, lemma, traj, run, ctx):
        batch = run.held_out()
        tol_phi = 64 * EPS * max(1.0, float(np.abs(traj.phi).max()))
        rows = th.phases(traj, batch, self.eps, tol_phi)
        local = [r for r in rows if r.kind == "local"]
        glob = [r for r in rows if r.kind == "global"]
        evidence = {"rows": [r.to_dict() for r in rows], "eps": self.eps,
                    "local": {"T1": _spread([r.t1 for r in local]), "T2": _spread([r.t2 for r in local]),
                              "phase1_detected": sum(r.phase1 for r in local)},
                    "global": {"T1": _spread([r.t1 for r in glob]), "T2": _spread([r.t2 for r in glob])},
                    "evaluation": "exact" if batch.exact else f"held-out Monte Carlo batch of {len(batch)} images"}
        tol = {"atol": tol_phi, "rtol": 0.0, "justification": "a fall of the global FP correlation counts only "
               "beyond 64 float64 roundoffs of the largest |Phi|; masses compared without tolerance (phase "
               "boundaries have the resolution of the logging interval)"}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.plots import plot_attention_maps, plot_fp_trajectories, plot_mass_trajectories
            t1s = [r.t1 for r in local if r.t1 is not None]
            t2s = [r.t2 for r in rows if r.t2 is not None]
            marks = {"start": 0, "end of Phase I (median T1)": int(np.searchsorted(traj.step, np.median(t1s))) if t1s else None,
                     "end of Phase II (max T2)": int(np.searchsorted(traj.step, max(t2s))) if t2s else None,
                     "end": len(traj.step) - 1}
            plots.append(plot_attention_maps(traj, ctx.plot_dir / _plot_name(ctx, run, "attention"), lemma.tag,
                                             {k: v for k, v in marks.items() if v is not None}))
            plots.append(plot_fp_trajectories(traj, ctx.plot_dir / _plot_name(ctx, run, "fp"), lemma.tag))
            plots.append(plot_mass_trajectories(traj, ctx.plot_dir / _plot_name(ctx, run, "mass"), lemma.tag))
        if self.claim == "collapse":
            # refuted by any logged step where a local target area holds more mass than the global one
            mass = th.along(traj, lambda Phi, Ups: th.conditional_area_mass(Phi, Ups, traj.instance, batch))
            for t, m in enumerate(mass):
                for r in local:
                    a = int(traj.instance.area_of[r.k, r.p])
                    if m[r.p, r.k, a] > m[r.p, r.k, 0]:
                        cex = {"step": int(traj.step[t]), "p": r.p, "k": r.k + 1, "target_mass": float(m[r.p, r.k, a]),
                               "global_mass": float(m[r.p, r.k, 0])}
                        return self.result(lemma, run, Verdict.REFUTED, f"local position p={r.p} (cluster {r.k + 1}) "
                                           f"puts {cex['target_mass']:.3f} on its own area vs {cex['global_mass']:.3f} "
                                           f"on the global one at step {cex['step']}", evidence=evidence,
                                           tolerance=tol, counterexample=cex, plots=plots)
            return self.result(lemma, run, Verdict.VERIFIED, "local positions stay collapsed on the global area",
                               evidence=evidence, tolerance=tol, plots=plots)
        if not local or not glob:
            return self.result(lemma, run, Verdict.INCONCLUSIVE, "the instance lacks local or global positions",
                               evidence={**evidence, "reason": "no position of one type"}, tolerance=tol, plots=plots)
        no_phase1 = [r for r in local if r.t1 is not None and not r.phase1]
        two_phase_global = [r for r in glob if r.t1 != int(traj.step[0])]
        if no_phase1 or two_phase_global:
            bad = (no_phase1 or two_phase_global)[0]
            what = ("local position without Phase I (its global FP correlation never fell before T1)" if no_phase1
                    else "global position whose target area does not dominate from step 0")
            return self.result(lemma, run, Verdict.REFUTED, f"{what}: p={bad.p}, cluster {bad.k + 1}",
                               evidence=evidence, tolerance=tol, counterexample=bad.to_dict(), plots=plots)
        summary = (f"local: Phase I in {evidence['local']['phase1_detected']}/{len(local)}, T1 median "
                   f"{evidence['local']['T1']['median']}, T2 reached {evidence['local']['T2']['reached']}/{len(local)} "
                   f"(median {evidence['local']['T2']['median']}); global: one phase, T2 reached "
                   f"{evidence['global']['T2']['reached']}/{len(glob)} (median {evidence['global']['T2']['median']})")
        pending = [r for r in rows if r.t2 is None or (r.kind == "local" and r.t1 is None)]
        if pending:
            return self.result(lemma, run, Verdict.INCONCLUSIVE, f"not all phases complete within "
                               f"{int(traj.step[-1])} steps; {summary}",
                               evidence={**evidence, "reason": "step budget exhausted"}, tolerance=tol, plots=plots)
        return self.result(lemma, run, Verdict.VERIFIED, summary, evidence=evidence, tolerance=tol, plots=plots)


@dataclass
class Diversity(TrajectoryClaim):
    """The diversity claim (SPEC §1, EXP-1 [V]; the scores are the project's [R]
    metrics, :mod:`proofcheck.setting.diversity`): after training, D (metric
    ``metric``, total variation by default) is within ``within`` x D_ideal of the
    reference, where D_ideal is the exact score of the ideal area-wide pattern
    (the same under every metric) and the collapsed pattern scores 0; the other
    metrics are reported beside it.  ``level``: "keys" scores the attention over
    keys, "areas" its pooling by area (insensitive to how mass spreads inside an
    area); the ideal pattern scores D_ideal at both levels.  ``reference="ideal"`` is the claim; ``reference="collapsed"``
    is the planted wrong one.  Decided on the 95% interval of D: inside the
    band VERIFIED, disjoint from it REFUTED, else INCONCLUSIVE."""

    within: float = 0.10
    reference: str = "ideal"
    level: str = "keys"
    metric: str = "tv"

    def describe(self) -> str:
        return (f"attention diversity ({self.metric}, {self.level} level) after training within {self.within:.0%} "
                f"of the {self.reference} pattern's")

    def evaluate(self, lemma, traj, run, ctx):
        inst = traj.instance
        batch = run.held_out()
        Phi, Ups = coords_at(traj, -1)
        scores = {m: dv.model_diversity(Phi, Ups, inst, batch, self.level, m) for m in dv.DISSIMILARITIES}
        D = scores[self.metric]
        D0 = dv.model_diversity(*coords_at(traj, 0), inst, batch, self.level, self.metric)
        ideal = dv.ideal_diversity(inst)
        collapsed = dv.pairwise_diversity(th.collapsed_attention(inst, batch), th.avoidable(inst, batch), batch,
                                          self.metric).value
        ref = ideal if self.reference == "ideal" else collapsed
        band = (ref - self.within * ideal, ref + self.within * ideal)
        evidence = {"metric": self.metric, "D_trained": D.to_dict(), "D_at_start": D0.to_dict(),
                    "D_ideal_area_wide": ideal, "D_collapsed": collapsed, "ratio_to_ideal": D.value / ideal,
                    "band": list(band), "all_metrics": {m: e.to_dict() for m, e in scores.items()},
                    "definition": f"mean {self.metric} dissimilarity (proofcheck.setting.diversity) between the "
                                  "attention distributions of two distinct avoidable masked queries of the same "
                                  "image (ratio of expectations)"}
        tol = {"atol": self.within * ideal, "rtol": 0.0, "justification": f"the claim's band, {self.within:.0%} of "
               "the ideal score; Monte Carlo error enters through the 95% interval of D"}
        summary = (f"D = {D.value:.4f} [{D.lo:.4f}, {D.hi:.4f}] vs ideal {ideal:.4f} and collapsed {collapsed:.2g} "
                   f"(start {D0.value:.4f})")
        margin = self.within * ideal - abs(D.value - ref)
        if band[0] <= D.lo and D.hi <= band[1]:
            return self.result(lemma, run, Verdict.VERIFIED, summary, evidence=evidence, tolerance=tol, margin=margin)
        if D.hi < band[0] or D.lo > band[1]:
            return self.result(lemma, run, Verdict.REFUTED, f"outside the {self.reference} band: {summary}",
                               evidence=evidence, tolerance=tol, margin=margin,
                               counterexample={"step": int(traj.step[-1]), "D": D.value, "band": list(band)})
        return self.result(lemma, run, Verdict.INCONCLUSIVE, f"interval straddles the band edge: {summary}",
                           evidence={**evidence, "reason": "Monte Carlo interval straddles the band"},
                           tolerance=tol, margin=margin)


@dataclass
class ScalingStudy(TrajectoryClaim):
    """How T*(eps) of THM-MAIN-v1 scales (SPEC 9.1 [R]: T* = O~(poly(P)/eta)).

    T* is measured on every run as in :class:`AreaWide`, then log T* is fitted
    on log P (and log eta when the runs use several step sizes) by least
    squares with 95% t intervals (:func:`proofcheck.setting.measures.fit_scaling_exponent`).
    ``claim="poly-over-eta"``: the fit is consistent with the [R] form, i.e. the
    eta exponent's interval reaches -1 or above (T* grows no faster than 1/eta);
    the P exponent is the empirical constant behind poly(P), reported.
    Planted wrong variant ``claim="flat-in-P"``: T* does not depend on P
    (refuted when the P exponent's interval excludes 0).  One result for all runs."""

    eps: float = 0.05
    fraction: float = 0.95
    claim: str = "poly-over-eta"

    def describe(self) -> str:
        if self.claim == "flat-in-P":
            return "T*(eps) does not depend on P (planted)"
        return "T*(eps) = O~(poly(P)/eta): fitted exponents of P and eta (SPEC THM-MAIN-v1)"

    def check(self, lemma, ctx):
        per_run = super().check(lemma, ctx)
        rows = [{"P": r.evidence["run"]["instance"]["P"], "eta": r.evidence["run"]["config"]["eta"],
                 "T_star": r.evidence.get("T_star"), "verdict": r.verdict.value, "summary": r.summary,
                 "train_s": r.evidence.get("train_s"), "cached": r.evidence.get("cached")}
                for r in per_run if "run" in r.evidence]
        name = f"[{lemma.tag}] {self.describe()}"
        evidence = {"runs": rows, "budget": ctx.budget.name, "eps": self.eps, "fraction": self.fraction}
        timing = sum(r.timing_s for r in per_run)
        missing = [r for r in rows if r["T_star"] is None]
        points = [r for r in rows if r["T_star"] is not None]
        n_P, n_eta = len({r["P"] for r in points}), len({r["eta"] for r in points})
        regress = {"P": [r["P"] for r in points]}
        if n_eta > 1:
            regress["eta"] = [r["eta"] for r in points]
        if missing or n_P < 2 or len(points) <= len(regress) + 1:
            why = (f"{len(missing)} run(s) did not reach T* within their budget" if missing else
                   f"{len(points)} points over {n_P} values of P are too few for a fit with an interval")
            return [CheckResult(self.kind, name, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                                seed=ctx.seed, timing_s=timing)]
        fit = th.fit_scaling_exponent([r["T_star"] for r in points], **regress)
        evidence["fit"] = fit.to_dict()
        a, alo, ahi = fit.term("P")
        text = f"T* ~ P^{a:.2f} [{alo:.2f}, {ahi:.2f}]"
        if "eta" in regress:
            b, blo, bhi = fit.term("eta")
            text += f" eta^{b:.2f} [{blo:.2f}, {bhi:.2f}]"
        text += f" (R^2 {fit.r2:.3f}, {fit.n} runs)"
        tol = {"atol": 0.0, "rtol": 0.0, "justification": "95% t intervals of the least-squares exponents; T* "
               "itself is known to one logging interval, which the residuals absorb"}
        if self.claim == "flat-in-P":
            verdict = Verdict.VERIFIED if alo <= 0 <= ahi else Verdict.REFUTED
            return [CheckResult(self.kind, name, verdict, text, evidence=evidence, tolerance=tol,
                                margin=min(-alo, ahi), seed=ctx.seed, timing_s=timing)]
        if "eta" in regress and bhi < -1:
            return [CheckResult(self.kind, name, Verdict.REFUTED, f"T* grows faster than 1/eta: {text}",
                                evidence=evidence, tolerance=tol, margin=bhi + 1, seed=ctx.seed, timing_s=timing)]
        return [CheckResult(self.kind, name, Verdict.VERIFIED, text, evidence=evidence, tolerance=tol,
                            margin=(bhi + 1) if "eta" in regress else None, seed=ctx.seed, timing_s=timing)]

    def evaluate(self, lemma, traj, run, ctx):
        return AreaWide(self.runs, self.eps, self.fraction).evaluate(lemma, traj, run, replace(ctx, plot_dir=None))
