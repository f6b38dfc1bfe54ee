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


def area_exponent(inst) -> float:
    """kappa of SPEC ASM-DIM's "areas of polynomial size": log(largest area) / log P, rounded to 0.01."""
    return round(math.log(max(len(a) for c in inst.clusters for a in c.areas)) / math.log(inst.P), 2)


@dataclass
class ScalingStudy(TrajectoryClaim):
    """How T*(eps) of THM-MAIN-v1 scales (SPEC 9.1 [R]: T* = O~(poly(P)/eta)), in the theorem's regime.

    On every run (the population gradient flow, or GD with max_logit_step <= 0.1; any other run makes the
    study INCONCLUSIVE, not fitted) the flow time eta T*(eps) is measured for each eps of ``eps_values``
    (:func:`proofcheck.setting.measures.measure_t_star`).  Per area exponent kappa (area sizes
    P^kappa, :func:`area_exponent`), log time_T_star is fitted on log P and log(1/eps) by least squares
    with 95% t intervals (:func:`proofcheck.setting.measures.fit_scaling_exponent`): the exponent of P at
    fixed eps and that of 1/eps at fixed P.  Times do not depend on eta in this reading (the 1/eta of
    SPEC's form is StepAgreement's, THM-MAIN-v1).

    ``claim="poly"``: no sign of growth faster than a power of P: with three or more values of P the
    curvature (a log^2 P term) must not be significantly positive (REFUTED when its interval lies above
    0); the exponents are reported.  Planted wrong variants: ``"flat-in-P"`` (T* does not depend on P:
    refuted when the P interval of some kappa excludes 0) and ``"no-growth"`` (too fast a T*: it grows no
    faster than P^0, refuted when the P interval of some kappa lies above 0).  One result for all runs."""

    eps_values: Sequence[float] = (0.2, 0.1, 0.05)
    fraction: float = 0.95
    claim: str = "poly"

    def describe(self) -> str:
        if self.claim == "flat-in-P":
            return "T*(eps) does not depend on P (planted)"
        if self.claim == "no-growth":
            return "T*(eps) grows no faster than P^0 (planted too-fast T*)"
        return "flow time to T*(eps) grows at most polynomially in P: exponents of P and 1/eps (SPEC THM-MAIN-v1)"

    def evaluate(self, lemma, traj, run, ctx):
        points = [th.measure_t_star(traj, run, eps, self.fraction) for eps in self.eps_values]
        reg = regime(traj)
        evidence = {"points": points, "kappa": area_exponent(traj.instance)}
        reached = sum(m["time_T_star"] is not None for m in points)
        if not reg["small_step"]:
            why = (f"outside the small-step regime: max_logit_step = {reg['max_logit_step']:.3g} > {SMALL_STEP:g}; "
                   "not fitted")
            return self.result(lemma, run, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why})
        verdict = Verdict.VERIFIED if reached == len(points) else Verdict.INCONCLUSIVE
        text = ", ".join(f"T*({m['eps']:g}) at t = {m['time_T_star']:.4g}" if m["time_T_star"] else
                         f"T*({m['eps']:g}) not reached by {m['time_end']:.4g}" for m in points)
        return self.result(lemma, run, verdict, text, evidence=evidence if verdict is Verdict.VERIFIED else
                           {**evidence, "reason": "T* not reached within the run's time"})

    def check(self, lemma, ctx):
        per_run = super().check(lemma, ctx)
        name = f"[{lemma.tag}] {self.describe()}"
        timing = sum(r.timing_s for r in per_run)
        rows = [{"instance": r.evidence["run"]["instance"]["name"], "P": r.evidence["run"]["instance"]["P"],
                 "kappa": r.evidence.get("kappa"), "key_set": r.evidence.get("key_set"), "eps": m["eps"],
                 "time_T_star": m["time_T_star"], "bracket": m["time_T_star_bracket"], "run_verdict": r.verdict.value}
                for r in per_run if "run" in r.evidence for m in r.evidence.get("points", [])]
        evidence = {"points": rows, "budget": ctx.budget.name, "fraction": self.fraction,
                    "eps_values": list(self.eps_values)}
        bad = [r for r in per_run if r.verdict is not Verdict.VERIFIED]
        if bad or not per_run:
            why = f"{bad[0].name.split(' -- ')[-1]}: {bad[0].summary}" if bad else "no run"
            return [CheckResult(self.kind, name, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                                seed=ctx.seed, timing_s=timing)]
        fits, texts, curvature = {}, [], {}
        for kappa in sorted({r["kappa"] for r in rows}):
            pts = [r for r in rows if r["kappa"] == kappa]
            Ps = sorted({r["P"] for r in pts})
            T = [r["time_T_star"] for r in pts]
            regress = {"P": [r["P"] for r in pts], "inv_eps": [1 / r["eps"] for r in pts]}
            if len(Ps) < 2 or len(pts) <= 3:
                why = f"kappa = {kappa:g}: {len(pts)} points over {len(Ps)} values of P are too few for a fit"
                return [CheckResult(self.kind, name, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                                    seed=ctx.seed, timing_s=timing)]
            fit = th.fit_scaling_exponent(T, **regress)
            fits[kappa] = fit
            a, alo, ahi = fit.term("P")
            b, blo, bhi = fit.term("inv_eps")
            texts.append(f"kappa {kappa:g}: T* ~ P^{a:.2f} [{alo:.2f}, {ahi:.2f}] (1/eps)^{b:.2f} [{blo:.2f}, "
                         f"{bhi:.2f}] over P = {', '.join(map(str, Ps))} (R^2 {fit.r2:.3f})")
            if len(Ps) >= 3 and len(pts) > 4:
                # the log^2 P term: a convex log-log curve is growth faster than every power the range fits
                logP = np.log([r["P"] for r in pts])
                # fit_scaling_exponent takes the log of each regressor: exp(log^2 P) enters as log^2 P
                curvature[kappa] = th.fit_scaling_exponent(T, P=regress["P"], inv_eps=regress["inv_eps"],
                                                           P_sq=np.exp(logP ** 2)).to_dict()
        evidence["fits"] = {f"{k:g}": f.to_dict() for k, f in fits.items()}
        evidence["curvature"] = {f"{k:g}": c for k, c in curvature.items()}
        evidence["verified_on"] = (f"{len({r['instance'] for r in rows})} flows/small-step runs, kappa in "
                                   f"{{{', '.join(f'{k:g}' for k in fits)}}}, P in "
                                   f"{{{', '.join(map(str, sorted({r['P'] for r in rows})))}}}, eps in "
                                   f"{{{', '.join(f'{e:g}' for e in self.eps_values)}}}")
        text = "; ".join(texts)
        tol = {"atol": 0.0, "rtol": 0.0, "justification": "95% t intervals of the least-squares exponents; each T* "
               "is known to its logging bracket (neighbouring log times 26% apart), which the residuals absorb"}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.plots import plot_scaling
            plots.append(plot_scaling(rows, {k: f.to_dict() for k, f in fits.items()},
                                      ctx.plot_dir / f"{ctx.lemma_id or 'lemma'}-T-star-vs-P.png", lemma.tag))
        out = dict(evidence=evidence, tolerance=tol, seed=ctx.seed, timing_s=timing, plots=plots)
        terms = {k: f.term("P") for k, f in fits.items()}
        if self.claim == "flat-in-P":
            off = [k for k, (_, lo, hi) in terms.items() if not lo <= 0 <= hi]
            margin = min(min(-lo, hi) for _, lo, hi in terms.values())
            return [CheckResult(self.kind, name, Verdict.REFUTED if off else Verdict.VERIFIED, text, margin=margin,
                                **out)]
        if self.claim == "no-growth":
            grows = [k for k, (_, lo, _) in terms.items() if lo > 0]
            return [CheckResult(self.kind, name, Verdict.REFUTED if grows else Verdict.VERIFIED, text,
                                margin=-max(lo for _, lo, _ in terms.values()), **out)]
        convex = [k for k, c in curvature.items() if c["lo"][-1] > 0]
        if convex:
            return [CheckResult(self.kind, name, Verdict.REFUTED, f"faster than polynomial in P at kappa "
                                f"{convex[0]:g} (log^2 P term > 0): {text}", **out)]
        return [CheckResult(self.kind, name, Verdict.VERIFIED, text, **out)]
