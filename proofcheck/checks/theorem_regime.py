"""THM-MAIN-v1 in its own regime (issue 11, check kind "trajectory"): the time to T* does not depend on the
step size (GD at two small steps and the gradient flow agree), item 3's growth of the target FP
correlation with log(P / eps), and how far the non-target FP and PP correlations drift after T*.

Times are flow times t = eta * steps throughout (SPEC DEF-GD's gradient-flow reading), so GD runs and
flow runs compare directly.  T* and the series are THM-MAIN-v1's
(:func:`proofcheck.setting.measures.measure_t_star`, the population quantities where the run trained on the
population loss), as in :class:`proofcheck.checks.theorem.AreaWide`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from proofcheck.engine.trajclaim import TrajectoryClaim
from proofcheck.setting import measures as th
from proofcheck.setting.runs import regime
from proofcheck.verdict import CheckResult, Verdict


def _status(m: dict) -> str:
    if m["time_T_star"] is None:
        return (f"T*({m['eps']:g}) not reached by time {m['time_end']:.4g} (fraction {m['final_fraction']:.3f}, "
                f"loss gap {m['final_loss_gap']:.3g})")
    return f"time to T*({m['eps']:g}) = {m['time_T_star']:.4g}"


def _grouped(per_run: list[CheckResult], key) -> dict:
    groups: dict = {}
    for r in per_run:
        if "run" in r.evidence:
            groups.setdefault(key(r), []).append(r)
    return groups


@dataclass
class StepAgreement(TrajectoryClaim):
    """The time to T*(eps) is the flow's (issue 11 item 2, SPEC DEF-GD): on one instance, runs at different
    step sizes in the small-step regime (max_logit_step <= 0.1) and the gradient flow reach T* at flow
    times within ``rtol`` of one another.  Each time is known to its logging bracket (t_before, t_T*];
    the brackets, widened by ``rtol``, must overlap.  Planted wrong variant ``scale`` != 1: the GD
    runs' times are claimed to be ``scale`` times the flow's (refuted when the brackets then miss).
    One result per instance."""

    eps: float = 0.2
    fraction: float = 0.95
    rtol: float = 0.1
    scale: float = 1.0

    def describe(self) -> str:
        what = "agrees across step sizes and with the flow" if self.scale == 1 else \
            f"is {self.scale:g} x the flow's for GD (planted)"
        return f"the time to T*({self.eps:g}) {what} (SPEC DEF-GD, THM-MAIN-v1)"

    def evaluate(self, lemma, traj, run, ctx):
        m = th.measure_t_star(traj, run, self.eps, self.fraction)
        reached = m["time_T_star"] is not None
        return self.result(lemma, run, Verdict.VERIFIED if reached else Verdict.INCONCLUSIVE, _status(m),
                           evidence={**m, **({} if reached else {"reason": "T* not reached"})})

    def check(self, lemma, ctx):
        out = []
        for name, results in _grouped(super().check(lemma, ctx), lambda r: r.evidence["run"]["instance"]["name"]).items():
            out.append(self._judge(lemma, ctx, name, results))
        return out or super().check(lemma, ctx)

    def _judge(self, lemma, ctx, name, results) -> CheckResult:
        rows = []
        for r in results:
            ev = r.evidence
            factor = self.scale if "solver" not in ev else 1.0
            bracket = ev.get("time_T_star_bracket")
            rows.append({"run": ev["run"]["label"], "flow": "solver" in ev, "eta": ev.get("eta"),
                         "max_logit_step": ev.get("max_logit_step"), "small_step": ev.get("small_step"),
                         "time_T_star": ev.get("time_T_star"), "bracket": bracket,
                         "claimed_flow_bracket": [b / factor for b in bracket] if bracket else None,
                         "verdict": r.verdict.value})
        label = f"[{lemma.tag}] {self.describe()} -- {name}"
        tol = {"atol": 0.0, "rtol": self.rtol, "justification": "GD at eta is the explicit Euler scheme of the "
               "flow, its state off by O(eta) (tests/test_flow.py: the Euler bound); in the small-step regime "
               "that moves the time a threshold is crossed by a few percent, and 10% leaves room; each time "
               "counts with its logging bracket"}
        evidence = {"runs": rows, "budget": ctx.budget.name, "eps": self.eps, "fraction": self.fraction}
        timing = sum(r.timing_s for r in results)
        bad = [x for x in rows if not x["small_step"] or x["bracket"] is None]
        if bad or len(rows) < 2:
            why = (f"{bad[0]['run']}: " + ("outside the small-step regime" if not bad[0]["small_step"] else
                                           "T* not reached within its time budget")) if bad else \
                "fewer than two runs of this instance"
            return CheckResult(self.kind, label, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                               tolerance=tol, seed=ctx.seed, timing_s=timing)
        lo = max(x["claimed_flow_bracket"][0] for x in rows)
        hi = min(x["claimed_flow_bracket"][1] for x in rows)
        gap = lo / hi - 1                                      # > 0: the brackets miss each other by this much
        evidence["relative_gap"] = gap
        times = ", ".join(f"{x['time_T_star']:.4g} ({'flow' if x['flow'] else 'eta=%g' % x['eta']})" for x in rows)
        verdict = Verdict.VERIFIED if gap <= self.rtol else Verdict.REFUTED
        return CheckResult(self.kind, label, verdict, f"time to T*: {times}; brackets "
                           f"{'overlap' if gap <= 0 else 'miss by %.1f%%' % (100 * gap)} (tolerance "
                           f"{100 * self.rtol:g}%)", evidence=evidence, tolerance=tol, margin=self.rtol - gap,
                           seed=ctx.seed, timing_s=timing)


def linear_fit(x: Sequence[float], y: Sequence[float], groups: Sequence[str]) -> dict:
    """y = a_group + b x by least squares (one intercept per group, a common slope), with the 95% t
    interval of b (needs more points than groups + 1)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    names = sorted(set(groups))
    X = np.column_stack([[g == n for g in groups] for n in names] + [x]).astype(float)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = len(x) - X.shape[1]
    s2 = float(resid @ resid) / dof
    se = math.sqrt(s2 * float(np.linalg.pinv(X.T @ X)[-1, -1]))
    half = th.t_quantile(0.975, dof) * se
    return {"intercepts": dict(zip(names, coef[:-1].tolist())), "slope": float(coef[-1]),
            "slope_lo": float(coef[-1] - half), "slope_hi": float(coef[-1] + half), "n": len(x)}


@dataclass
class TargetLogGrowth(TrajectoryClaim):
    """THM-MAIN-v1 item 3, first half [R]: the target FP correlation at T*(eps) is Theta(log(P / eps)).
    On each run T*(eps) is measured for every eps of ``eps_values``; per key set, the target FP
    correlation there is fitted as a_instance + b log(1 / eps) (an intercept per instance, so the eps
    dependence is judged at fixed P), with a 95% t interval for b.  VERIFIED when the interval lies in
    (0, inf) (it grows like log(1 / eps)), REFUTED when it lies in (-inf, 0].  The P dependence is
    reported, not judged: the intercepts per instance and the ratio Phi / log(P / eps).  Planted wrong
    variant ``claim="bounded"``: it does not grow with log(1 / eps) (refuted when b's interval excludes
    0).  One result per key set."""

    eps_values: Sequence[float] = (0.2, 0.1, 0.05)
    fraction: float = 0.95
    claim: str = "log"

    def describe(self) -> str:
        if self.claim == "bounded":
            return "target FP correlation at T* does not grow with log(1/eps) (planted)"
        return "target FP correlation at T*(eps) grows like log(1/eps) at fixed P (SPEC THM-MAIN-v1 item 3)"

    def evaluate(self, lemma, traj, run, ctx):
        points = []
        for eps in self.eps_values:
            m = th.measure_t_star(traj, run, eps, self.fraction)
            points.append({"eps": eps, "log_P_over_eps": math.log(traj.instance.P / eps),
                           "time_T_star": m["time_T_star"], "target_phi": m["target_phi_at_T_star"]})
        reached = all(p["target_phi"] is not None for p in points)
        return self.result(lemma, run, Verdict.VERIFIED if reached else Verdict.INCONCLUSIVE,
                           f"{sum(p['target_phi'] is not None for p in points)}/{len(points)} T*(eps) reached",
                           evidence={"points": points, **({} if reached else {"reason": "T* not reached"})})

    def check(self, lemma, ctx):
        per_run = super().check(lemma, ctx)
        out = []
        for ks, results in _grouped(per_run, lambda r: r.evidence["key_set"]).items():
            label = f"[{lemma.tag}] {self.describe()} -- key set {ks}"
            pts = [dict(p, instance=r.evidence["run"]["instance"]["name"]) for r in results
                   for p in r.evidence.get("points", [])]
            evidence = {"points": pts, "budget": ctx.budget.name}
            timing = sum(r.timing_s for r in results)
            missing = [r for r in results if r.verdict is not Verdict.VERIFIED or not r.evidence.get("small_step")]
            if missing or len(pts) < len(results) + 2:
                why = missing[0].summary if missing else "too few points for a fit with an interval"
                out.append(CheckResult(self.kind, label, Verdict.INCONCLUSIVE, why, evidence={**evidence,
                                       "reason": why}, seed=ctx.seed, timing_s=timing))
                continue
            fit = linear_fit([math.log(1 / p["eps"]) for p in pts], [p["target_phi"] for p in pts],
                             [p["instance"] for p in pts])
            ratio = [p["target_phi"] / p["log_P_over_eps"] for p in pts]
            evidence.update(fit=fit, ratio_range=[min(ratio), max(ratio)])
            text = (f"Phi_target(T*) = a_instance + {fit['slope']:.2f} [{fit['slope_lo']:.2f}, "
                    f"{fit['slope_hi']:.2f}] log(1/eps) over {fit['n']} points; intercepts "
                    + ", ".join(f"{k} {v:.2f}" for k, v in fit["intercepts"].items())
                    + f"; Phi / log(P/eps) in [{min(ratio):.2f}, {max(ratio):.2f}]")
            tol = {"atol": 0.0, "rtol": 0.0, "justification": "95% t interval of the least-squares slope; the "
                   "target FP correlation at T* is exact (population loss), T* known to its logging bracket, "
                   "which the residuals absorb"}
            grows, flat = fit["slope_lo"] > 0, fit["slope_hi"] <= 0
            if self.claim == "bounded":
                verdict = Verdict.REFUTED if grows else Verdict.VERIFIED
            else:
                verdict = Verdict.VERIFIED if grows else Verdict.REFUTED if flat else Verdict.INCONCLUSIVE
            if verdict is Verdict.INCONCLUSIVE:
                evidence["reason"] = "the slope's interval contains 0"
            out.append(CheckResult(self.kind, label, verdict, text, evidence=evidence, tolerance=tol,
                                   margin=fit["slope_lo"], seed=ctx.seed, timing_s=timing))
        return out or per_run


def _at(times: np.ndarray, values: np.ndarray, t: float) -> float:
    """The logged series at time t, linear in log t between logged times."""
    return float(np.interp(math.log(t), np.log(np.maximum(times, 1e-300)), values))


@dataclass
class CorrelationDrift(TrajectoryClaim):
    """THM-MAIN-v1 item 3, second half [R]: after T*(eps) the non-target FP correlations (``which="fp"``,
    the largest |Phi_{p->v_{k,j}}|, j != a_k(p)) or the PP correlations (``"pp"``, the largest
    |Ups_{p->q}|) stay O(1).  Over the window [T*, ``window`` T*] of the flow (two decades by default)
    the drift D = max |c(t) - c(T*)| is measured, with d1, d2 the changes over its first and second
    halves in log t: VERIFIED if D <= ``bound``; REFUTED if D > bound while d2 >= d1 / 2 (still moving as
    fast in the second decade: no sign of settling); INCONCLUSIVE if it exceeds the bound but slows down.

    ``which="mass"`` (the statement that holds where the correlations drift: bounded attention mass
    rather than bounded correlation): the largest non-target mass E[A_{p,j} | k, p avoidable], j != a_k(p),
    stays <= ``bound`` over the window (exact, by count vectors).  A run that stops before window T* is
    INCONCLUSIVE: its budget ran out."""

    which: str = "fp"
    bound: float = 1.0
    window: float = 100.0
    eps: float = 0.05
    fraction: float = 0.95

    def describe(self) -> str:
        if self.which == "mass":
            return (f"non-target attention masses stay <= {self.bound:g} over [T*, {self.window:g} T*] "
                    "(bounded mass: the statement that holds)")
        what = "non-target FP" if self.which == "fp" else "PP"
        return f"{what} correlations stay within {self.bound:g} of their value at T* over [T*, {self.window:g} T*] " \
               f"(SPEC THM-MAIN-v1 item 3: O(1))"

    def series(self, traj) -> np.ndarray | str:
        inst = traj.instance
        if self.which == "pp":
            return np.abs(traj.ups).max((1, 2))
        if self.which == "fp":
            nontarget = np.ones(traj.phi.shape[1:], dtype=bool)
            nontarget[np.arange(inst.P)[:, None], inst.feature_of.T.numpy()] = False
            return np.abs(traj.phi[:, nontarget]).max(1)
        along = th.population_along(traj, self.eps)
        if isinstance(along, str):
            return along
        own = np.zeros((inst.P, inst.K, inst.N_max), dtype=bool)
        own[np.arange(inst.P)[:, None], np.arange(inst.K)[None, :], inst.area_of.T.numpy()] = True
        return np.asarray([float(np.nanmax(np.where(own, np.nan, m.avoidable_mass.numpy()))) for m in along])

    def evaluate(self, lemma, traj, run, ctx):
        m = th.measure_t_star(traj, run, self.eps, self.fraction)
        times = traj.config.eta * traj.step
        t_star = m["time_T_star"]
        evidence = {"time_T_star": t_star, "window": self.window, "bound": self.bound, "times": times.tolist()}
        reading = ("the non-target masses are probabilities, compared exactly" if self.which == "mass" else
                   f"the project's reading of O(1): a change of {self.bound:g} in a logit multiplies the attention "
                   f"odds by e^{self.bound:g}; over two decades of time past T* a bounded correlation must settle "
                   "within it")
        tol = {"atol": self.bound, "rtol": 0.0, "justification": reading}
        if t_star is None or not regime(traj)["small_step"]:
            why = _status(m) if t_star is None else "outside the small-step regime"
            return self.result(lemma, run, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                               tolerance=tol)
        start = max(t_star, traj.config.eta)
        end = self.window * start
        if times[-1] < end:
            why = f"the run stops at time {times[-1]:.4g} < {self.window:g} T* = {end:.4g}: its budget ran out"
            return self.result(lemma, run, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                               tolerance=tol)
        c = self.series(traj)
        if isinstance(c, str):
            return self.result(lemma, run, Verdict.INCONCLUSIVE, c, evidence={**evidence, "reason": c}, tolerance=tol)
        evidence["series"] = c.tolist()
        inside = (times >= start) & (times <= end)
        if self.which == "mass":
            worst = float(c[inside].max())
            evidence["max_nontarget_mass"] = worst
            text = f"largest non-target mass over [{start:.4g}, {end:.4g}]: {worst:.3g}"
            verdict = Verdict.VERIFIED if worst <= self.bound else Verdict.REFUTED
            return self.result(lemma, run, verdict, text, evidence=evidence, tolerance=tol, margin=self.bound - worst)
        mid = math.sqrt(start * end)
        c0, c1, c2 = (_at(times, c, t) for t in (start, mid, end))
        D = float(np.abs(c[inside] - c0).max()) if inside.any() else abs(c2 - c0)
        d1, d2 = abs(c1 - c0), abs(c2 - c1)
        evidence.update(drift=D, first_half=d1, second_half=d2, value_at_T_star=c0, value_at_end=c2)
        text = (f"max |{self.which}| {c0:.3f} at T* = {t_star:.4g} -> {c2:.3f} at {end:.4g}; drift {D:.3f} "
                f"(first decade {d1:.3f}, second {d2:.3f})")
        if D <= self.bound:
            return self.result(lemma, run, Verdict.VERIFIED, text, evidence=evidence, tolerance=tol,
                               margin=self.bound - D)
        if d2 >= d1 / 2:
            return self.result(lemma, run, Verdict.REFUTED, f"still drifting: {text}", evidence=evidence,
                               tolerance=tol, margin=self.bound - D,
                               counterexample={"time": end, "value": c2, "value_at_T_star": c0})
        why = f"exceeds the bound but slows down: {text}"
        return self.result(lemma, run, Verdict.INCONCLUSIVE, why, evidence={**evidence, "reason": why},
                           tolerance=tol, margin=self.bound - D)
