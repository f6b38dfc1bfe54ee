"""Theorem claims along training (check kind "trajectory"): THM-MAIN-v1's area-wide attention,
THM-MAE-v3's phases, attention diversity and the scaling of T*, on runs from the trainer."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence
import numpy as np
from proofcheck.setting import diversity as dv, measures as th
from proofcheck.setting.runs import SMALL_STEP, regime
from proofcheck.setting.trainer import coords_at
from proofcheck.verdict import CheckResult, Verdict, combine
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


#: Phase I's fall and rise are compared beyond TIE_RTOL x the flow's rtol (relative): BDF's error control
#: keeps each logged correlation within about rtol of the flow, and ten times leaves room for its
#: accumulation over the phase; GD in exact arithmetic has only rounding (EPS)
TIE_RTOL = 10.0


@dataclass
class Phases(TrajectoryClaim):
    """THM-MAE-v3 [R] (SPEC 9.2) on `global-local` instances, in the theorem's regime (the population flow,
    or GD with max_logit_step <= 0.1; INCONCLUSIVE otherwise).  Times are flow times, per (p, k) from
    :func:`proofcheck.setting.measures.phases`.  With the information gap Delta [R]
    (:func:`proofcheck.setting.measures.log_information_gap`):

    - Delta > 0, local (p, k): Phase I (A_{p,1} above every local mass) ends at T1 > 0, Phase II at T2
      (A_{p,a} >= 1 - eps), T1 < T2 with disjoint logging brackets, and Phase I is a stage of its own:
      over [0, T1] the global FP correlation falls by more than the target one rises;
    - Delta <= 0, local (p, k): a single phase, T1 = 0 (A_{p,1} never above the local masses);
    - global (p, k): a single phase that reaches T2.

    A phase boundary must be resolved: its logging bracket at most ``resolution`` of the phase's length
    (T1 for Phase I, T2 - T1 for Phase II), else INCONCLUSIVE; a phase not completed is INCONCLUSIVE.
    ``claim="ordered"``, the part that holds where the distinctness fails (a known finding of THM-MAE-v3):
    the same without the comparison over [0, T1], and with one phase required at Delta < 0 only (at
    Delta = 0 the global area ties with the other local areas at Q = 0, and either side may lead briefly).
    Planted wrong variants: ``claim="reversed"`` (T2 < T1: Phase II before Phase I), ``"two-phase-any-gap"``
    (a Phase I, T1 > 0, whatever the sign of Delta) and ``"collapse"`` (THM-CL-v3's conclusion for MAE:
    every local position keeps at least as much mass on the global area as on its own).  Besides one result
    per run, a sweep result puts T1, T2 against Delta (plot and table)."""

    eps: float = 0.05
    resolution: float = 0.25
    claim: str = "two-phase"

    def describe(self) -> str:
        return {"collapse": "attention of local positions stays collapsed on the global area (THM-CL-v3 form, "
                            "planted for MAE)",
                "reversed": "Phase II ends before Phase I (T2 < T1, planted)",
                "two-phase-any-gap": "local positions go through Phase I whatever the sign of Delta (planted)",
                "ordered": "local positions: the global area's lead ends at T1 < T2 when Delta > 0 (Phase I need not "
                           "be a stage of its own), one phase when Delta < 0"}.get(
            self.claim, "Phase I then Phase II for local positions when Delta > 0, one phase otherwise and for "
                        "global positions (SPEC THM-MAE-v3)")

    def evaluate(self, lemma, traj, run, ctx):
        mass, evaluation = th.phase_masses(traj, run.held_out)
        rows = th.phases(traj, mass, self.eps)
        delta = th.log_information_gap(traj.instance)
        local = [r for r in rows if r.kind == "local"]
        glob = [r for r in rows if r.kind == "global"]
        evidence = {"delta": delta, "rows": [r.to_dict() for r in rows], "eps": self.eps, "evaluation": evaluation,
                    "local": {"T1": _spread([r.t1 for r in local]), "T2": _spread([r.t2 for r in local])},
                    "global": {"T2": _spread([r.t2 for r in glob])}}
        tol = {"atol": 0.0, "rtol": self.resolution, "justification": "a phase boundary counts when its logging "
               f"bracket is at most {self.resolution:g} of the phase's length, so that T1 < T2 and the changes over "
               "[0, T1] are read at the boundary and not a logging interval away; masses are exact (population) "
               f"and compared without tolerance; Phase I's fall and rise within {TIE_RTOL:g} x the solver's rtol "
               "(relative) of each other are too close to call (INCONCLUSIVE)"}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.plots import plot_phase_correlations
            plots.append(plot_phase_correlations(traj, rows, ctx.plot_dir / _plot_name(ctx, run, "phases"), lemma.tag))
        out = dict(evidence=evidence, tolerance=tol, plots=plots)

        def undecided(why):
            return self.result(lemma, run, Verdict.INCONCLUSIVE, why, **{**out, "evidence": {**evidence, "reason": why}})

        reg = regime(traj)
        if not reg["small_step"]:
            return undecided(f"outside the small-step regime: max_logit_step = {reg['max_logit_step']:.3g} > "
                             f"{SMALL_STEP:g}; THM-MAE-v3 speaks of small steps (run the flow)")
        if not local or not glob:
            return undecided("the instance lacks local or global positions")
        if self.claim == "collapse":
            return self._collapse(lemma, run, traj, mass, local, out)
        pending = [r for r in rows if r.t1 is None or r.t2 is None]
        if pending:
            return undecided(f"phases not complete by time {traj.config.eta * traj.step[-1]:.4g}: "
                             f"p={pending[0].p}, cluster {pending[0].k + 1}")
        coarse = [r for r in local if r.t1 > 0 and (r.t1_bracket[1] - r.t1_bracket[0] > self.resolution * r.t1 or
                                                    r.t2_bracket[1] - r.t2_bracket[0] > self.resolution * (r.t2 - r.t1))]
        if coarse:
            return undecided(f"a phase boundary is not resolved by the logging: p={coarse[0].p}, cluster "
                             f"{coarse[0].k + 1}")
        summary = (f"Delta = {delta:+.3f}: local T1 median {evidence['local']['T1']['median']:.4g}, T2 median "
                   f"{evidence['local']['T2']['median']:.4g}; global T2 median {evidence['global']['T2']['median']:.4g}")
        tie = TIE_RTOL * (traj.meta.get("solver") or {}).get("rtol", EPS)
        evidence["tie_rtol"] = tie
        bad, what = self._violation(delta, local, tie)
        close = [r for r in local if self.claim == "two-phase" and delta > 0 and r.t1 > 0 and
                 abs(r.global_fall - r.target_rise) <= tie * max(r.global_fall, r.target_rise)]
        if bad is None and close:
            return undecided(f"over [0, T1] the global fall {close[0].global_fall:.6f} and the target rise "
                             f"{close[0].target_rise:.6f} are within the solver's error of each other: p={close[0].p}")
        if bad is not None:
            return self.result(lemma, run, Verdict.REFUTED, f"{what}: p={bad.p}, cluster {bad.k + 1}; {summary}",
                               counterexample=bad.to_dict(), **out)
        return self.result(lemma, run, Verdict.VERIFIED, summary, **out)

    def _violation(self, delta, local, tie):
        """The first local row against the claim, and what it shows (None when there is none); a fall and a
        rise within ``tie`` (relative) of each other are too close to call, not a violation."""
        for r in local:
            if self.claim == "reversed":
                if r.t1_bracket[1] < r.t2_bracket[0]:
                    return r, "T1 < T2 (Phase I ends first)"
            elif self.claim == "two-phase-any-gap":
                if r.t1 == 0:
                    return r, f"no Phase I at Delta = {delta:+.3f} (A_(p,1) never above the local masses)"
            elif delta > 0:
                if r.t1 == 0:
                    return r, "no Phase I although Delta > 0"
                if not r.t1_bracket[1] < r.t2_bracket[0]:
                    return r, "T2 <= T1 (the phases in the wrong order)"
                if self.claim == "two-phase" and r.global_fall - r.target_rise <= -tie * max(r.global_fall,
                                                                                              r.target_rise):
                    return r, (f"Phase I is not a stage of its own: over [0, T1] the target FP correlation rises by "
                               f"{r.target_rise:.4f} >= the global one's fall {r.global_fall:.4f}")
            elif r.t1 > 0 and (self.claim == "two-phase" or delta < 0):
                return r, f"a Phase I at Delta = {delta:+.3f} <= 0"
        return None, ""

    def _collapse(self, lemma, run, traj, mass, local, out):
        # refuted by any logged point where a local target area holds more mass than the global one
        for t in range(len(traj.step)):
            for r in local:
                a = int(traj.instance.area_of[r.k, r.p])
                if mass[t, r.p, r.k, a] > mass[t, r.p, r.k, 0]:
                    cex = {"time": float(traj.config.eta * traj.step[t]), "p": r.p, "k": r.k + 1,
                           "target_mass": float(mass[t, r.p, r.k, a]), "global_mass": float(mass[t, r.p, r.k, 0])}
                    return self.result(lemma, run, Verdict.REFUTED, f"local position p={r.p} (cluster {r.k + 1}) "
                                       f"puts {cex['target_mass']:.3f} on its own area vs {cex['global_mass']:.3f} "
                                       f"on the global one at time {cex['time']:.4g}", counterexample=cex, **out)
        return self.result(lemma, run, Verdict.VERIFIED, "local positions stay collapsed on the global area", **out)

    def check(self, lemma, ctx):
        per_run = super().check(lemma, ctx)
        points = [{"instance": r.evidence["run"]["instance"]["name"], "P": r.evidence["run"]["instance"]["P"],
                   "delta": r.evidence["delta"], "T1": r.evidence["local"]["T1"]["median"],
                   "T2": r.evidence["local"]["T2"]["median"], "T2_global": r.evidence["global"]["T2"]["median"],
                   "verdict": r.verdict.value} for r in per_run if "delta" in r.evidence]
        if len(points) < 2:
            return per_run
        deltas = ", ".join(f"{p['delta']:+.2f}" for p in points)
        sizes = ", ".join(str(P) for P in sorted({p["P"] for p in points}))
        evidence = {"points": points, "budget": ctx.budget.name,
                    "table": {"caption": "median phase times (flow time) over the local / global (p, k)",
                              "columns": ["instance", "P", "Delta", "T1 (local)", "T2 (local)", "T2 (global)",
                                          "verdict"],
                              "rows": [[p["instance"], p["P"], p["delta"], p["T1"], p["T2"], p["T2_global"],
                                        p["verdict"]] for p in points]},
                    "verified_on": f"a sweep of {len(points)} instances: Delta in {{{deltas}}}, P in {{{sizes}}}"}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.plots import plot_phase_times
            plots.append(plot_phase_times(points, ctx.plot_dir / f"{ctx.lemma_id or 'lemma'}-phases-vs-delta.png",
                                          lemma.tag))
        verdict = combine([r.verdict for r in per_run])
        text = "; ".join(f"Delta {p['delta']:+.2f} (P={p['P']}): T1 {p['T1']:.3g}, T2 {p['T2']:.3g}"
                         if p["T1"] is not None and p["T2"] is not None else
                         f"Delta {p['delta']:+.2f} (P={p['P']}): {p['verdict']}" for p in points)
        sweep = CheckResult(self.kind, f"[{lemma.tag}] {self.describe()} -- sweep over Delta", verdict, text,
                            evidence=evidence, plots=plots, seed=ctx.seed, timing_s=0.0)
        return per_run + [sweep]


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


def area_family(inst) -> str:
    """The instance family a scaling fit runs over: the instance's name without its "-P<n>" (e.g.
    ``balanced-P16B`` -> ``balancedB``); its area exponent kappa (areas of size ~ P^kappa) is the lemma's."""
    return re.sub(r"-P\d+", "", inst.name)


@dataclass
class ScalingStudy(TrajectoryClaim):
    """How T*(eps) of THM-MAIN-v1 scales (SPEC 9.1 [R]: T* = O~(poly(P)/eta)), in the theorem's regime.

    On every run (the population gradient flow, or GD with max_logit_step <= 0.1; any other run makes the
    study INCONCLUSIVE, not fitted) the flow time eta T*(eps) is measured for each eps of ``eps_values``
    (:func:`proofcheck.setting.measures.measure_t_star`).  Per instance family (:func:`area_family`: one
    area exponent kappa, areas of size ~ P^kappa), log time_T_star is fitted on log P and log(1/eps) by least squares
    with 95% t intervals (:func:`proofcheck.setting.measures.fit_scaling_exponent`): the exponent of P at
    fixed eps and that of 1/eps at fixed P.  Times do not depend on eta in this reading (the 1/eta of
    SPEC's form is StepAgreement's, THM-MAIN-v1).

    ``claim="poly"``: no sign of growth faster than a power of P: with three or more values of P the
    curvature (a log^2 P term) must not be significantly positive (REFUTED when its interval lies above
    0); the exponents are reported.  Planted wrong variants: ``"flat-in-P"`` (T* does not depend on P:
    refuted when the P interval of some family excludes 0) and ``"no-growth"`` (too fast a T*: it grows no
    faster than P^0, refuted when the P interval of some family lies above 0).  One result for all runs."""

    eps_values: Sequence[float] = (0.2, 0.1, 0.05)
    fraction: float = 0.95
    claim: str = "poly"

    def describe(self) -> str:
        return {"flat-in-P": "T*(eps) does not depend on P (planted)",
                "no-growth": "T*(eps) grows no faster than P^0 (planted too-fast T*)"}.get(
            self.claim, "flow time to T*(eps) grows at most polynomially in P: exponents of P and 1/eps (SPEC THM-MAIN-v1)")

    def evaluate(self, lemma, traj, run, ctx):
        points = [th.measure_t_star(traj, run, eps, self.fraction) for eps in self.eps_values]
        reg, evidence = regime(traj), {"points": points, "family": area_family(traj.instance)}
        reached = sum(m["time_T_star"] is not None for m in points)
        if not reg["small_step"]:
            why = f"outside the small-step regime: max_logit_step = {reg['max_logit_step']:.3g} > {SMALL_STEP:g}; not fitted"
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
                 "family": r.evidence.get("family"), "key_set": r.evidence.get("key_set"), "eps": m["eps"],
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
        for fam in sorted({r["family"] for r in rows}):
            pts = [r for r in rows if r["family"] == fam]
            Ps = sorted({r["P"] for r in pts})
            T = [r["time_T_star"] for r in pts]
            regress = {"P": [r["P"] for r in pts], "inv_eps": [1 / r["eps"] for r in pts]}
            if len(Ps) < 2 or len(pts) <= 3:
                why = f"{fam}: {len(pts)} points over {len(Ps)} values of P are too few for a fit"
                return [CheckResult(self.kind, name, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                                    seed=ctx.seed, timing_s=timing)]
            fit = th.fit_scaling_exponent(T, **regress)
            fits[fam] = fit
            a, alo, ahi = fit.term("P")
            b, blo, bhi = fit.term("inv_eps")
            texts.append(f"{fam}: T* ~ P^{a:.2f} [{alo:.2f}, {ahi:.2f}] (1/eps)^{b:.2f} [{blo:.2f}, "
                         f"{bhi:.2f}] over P = {', '.join(map(str, Ps))} (R^2 {fit.r2:.3f})")
            if len(Ps) >= 3 and len(pts) > 4:
                # the log^2 P term: a convex log-log curve is growth faster than every power the range fits
                logP = np.log([r["P"] for r in pts])
                # fit_scaling_exponent takes the log of each regressor: exp(log^2 P) enters as log^2 P
                curvature[fam] = th.fit_scaling_exponent(T, P=regress["P"], inv_eps=regress["inv_eps"],
                                                           P_sq=np.exp(logP ** 2)).to_dict()
        evidence["fits"] = {k: f.to_dict() for k, f in fits.items()}
        evidence["curvature"] = curvature
        evidence["verified_on"] = (f"{len({r['instance'] for r in rows})} flows/small-step runs of "
                                   f"{{{', '.join(fits)}}}, P in "
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
            return [CheckResult(self.kind, name, Verdict.REFUTED, f"faster than polynomial in P on "
                                f"{convex[0]} (log^2 P term > 0): {text}", **out)]
        return [CheckResult(self.kind, name, Verdict.VERIFIED, text, **out)]
