"""Trajectory claims: statements about what gradient descent actually does
(check kind "trajectory"), evaluated on trajectories from the trainer.

Each claim names its runs per budget (:class:`Run`: an instance, GD settings
and a held-out evaluation batch), trains them or loads them from the cache
(:mod:`proofcheck.trajcache`), and gives one :class:`CheckResult` per run.
A run that diverges is INCONCLUSIVE naming the step, never VERIFIED.  Every
claim has a planted wrong variant through :meth:`TrajectoryClaim.mutated`
(reversed direction, a collapse claim, a false symmetry, ...) that the tests
require to be REFUTED.

Claims that say "eventually" (THM-MAIN-v1, Phase II) cannot be refuted by a
finite run: not reaching the goal within the budget is INCONCLUSIVE, with the
distance left.  Claims that say "at every step" (LEM-G5, LEM-G2, LEM-G3/G9, a
collapse) are refuted by the first logged step that breaks them.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Mapping, Sequence

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from . import theorems as th
from .assumptions import feature_permutation
from .coords import grad_coords
from .errors import TrainingDiverged
from .instance import DTYPE, Instance
from .lemma import Assumption, CheckContext, Claim, Lemma
from .sampling import Batch
from .trainer import TrainConfig, Trajectory, coords_at, evaluation_batch
from .trajcache import cached_train
from .verdict import CheckResult, Verdict

#: float64 unit roundoff
EPS64 = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Run:
    """One trajectory a claim is evaluated on.  ``eval_samples``: size of the
    held-out Monte Carlo evaluation batch when the exact expectation is too big
    (drawn with seed ``config.seed + 1``, so it is independent of the batch GD
    trained on when that one is Monte Carlo too)."""

    instance: Instance
    config: TrainConfig
    eval_samples: int = 4096

    def label(self) -> str:
        c = self.config
        grad = "exact E" if self.training_exact else (
            f"fixed MC batch of {c.eval_samples}" if c.gradient == "exact" else f"fresh MC batches of {c.samples}")
        return (f"{self.instance.name} (eta={c.eta:g}, {c.steps} steps, {c.parametrisation}, init {c.init}, "
                f"gradient on {grad})")

    @property
    def training_exact(self) -> bool:
        return self.config.gradient == "exact" and evaluation_batch(self.instance, self.config.eval_samples).exact

    def held_out(self, device: torch.device | str = "cpu") -> Batch:
        return evaluation_batch(self.instance, self.eval_samples, self.config.seed + 1).to(device)

    def describe(self) -> dict:
        return {"instance": self.instance.to_dict(), "config": asdict(self.config), "eval_samples": self.eval_samples,
                "label": self.label()}


@dataclass
class TrajectoryClaim(Claim):
    """Base of the trajectory check kinds: trains or loads each run of the
    budget and calls :meth:`evaluate`.  ``runs`` maps a budget name (quick,
    full) to its runs; a budget without runs is INCONCLUSIVE with a reason."""

    runs: Mapping[str, Sequence[Run]]
    kind = "trajectory"

    def mutated(self, expression=None, **changes) -> "TrajectoryClaim":
        """A copy with fields changed: the planted wrong variants (e.g.
        ``direction="nonincreasing"``)."""
        if expression is not None:
            return super().mutated(expression)
        return replace(self, **changes)

    def evaluate(self, lemma: Lemma, traj: Trajectory, run: Run, ctx: CheckContext) -> CheckResult:
        raise NotImplementedError  # pragma: no cover - abstract

    def result(self, lemma: Lemma, run: Run, verdict: Verdict, summary: str, **fields) -> CheckResult:
        return CheckResult(self.kind, f"[{lemma.tag}] {self.describe()} -- {run.instance.name}", verdict, summary,
                           seed=run.config.seed, **fields)

    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        runs = self.runs.get(ctx.budget.name, ())
        if not runs:
            return [CheckResult(self.kind, f"[{lemma.tag}] {self.describe()}", Verdict.INCONCLUSIVE,
                                f"no trajectory is planned for the {ctx.budget.name} budget",
                                evidence={"reason": "no run for this budget", "budget": ctx.budget.name},
                                seed=ctx.seed)]
        out = []
        for run in runs:
            run = replace(run, config=replace(run.config, device=ctx.device))
            t0 = time.perf_counter()
            try:
                trained = cached_train(run.instance, run.config, ctx.cache_dir)
            except TrainingDiverged as exc:
                out.append(self.result(lemma, run, Verdict.INCONCLUSIVE, f"{exc}; a diverged run gives no verdict",
                                       evidence={"reason": "training diverged", "diverged_at_step": exc.step,
                                                 "budget": ctx.budget.name, "run": run.describe()},
                                       timing_s=time.perf_counter() - t0))
                continue
            r = self.evaluate(lemma, trained.trajectory, run, ctx)
            r.evidence.update(budget=ctx.budget.name, run=run.describe(), cached=trained.cached,
                              train_s=trained.seconds, device=trained.trajectory.meta.get("device"))
            r.timing_s = time.perf_counter() - t0
            out.append(r)
        return out


def _plot_name(ctx: CheckContext, run: Run, what: str) -> str:
    return f"{ctx.lemma_id or 'lemma'}-{run.instance.name}-{what}.png"


# -- LEM-G5 along training -------------------------------------------------------------------

@dataclass
class TargetFPMonotone(TrajectoryClaim):
    """LEM-G5 along training: the target FP correlation Phi_{p -> v_{k,a_k(p)}}
    never decreases, at every logged step, for every (p, k).  Planted wrong
    variant: ``direction="nonincreasing"``."""

    direction: str = "nondecreasing"

    def describe(self) -> str:
        return f"target FP correlation {self.direction} along GD (SPEC LEM-G5)"

    def evaluate(self, lemma, traj, run, ctx):
        tphi = traj.target_phi()                                    # (T, P, K)
        sign = 1.0 if self.direction == "nondecreasing" else -1.0
        inc = sign * np.diff(tphi, axis=0)
        # one update Phi + eta g rounds at eps|Phi|; autograd's g for a target entry is a
        # sum of non-negative terms up to cancellation of a few eps times the entries
        atol = 64 * EPS64 * max(1.0, float(np.abs(tphi).max()))
        tol = {"atol": atol, "rtol": 0.0, "justification": "64 float64 roundoffs of the largest |Phi|: rounding of "
               "Phi + eta g and cancellation in autograd's gradient; no statistical error (the claim holds for "
               "every batch, exact or Monte Carlo)"}
        worst = np.unravel_index(np.argmin(inc), inc.shape) if inc.size else None
        evidence = {"logged_steps": int(len(traj.step)), "min_increment": float(inc.min()) if inc.size else None,
                    "target_phi_start": [float(tphi[0].min()), float(tphi[0].max())],
                    "target_phi_end": [float(tphi[-1].min()), float(tphi[-1].max())]}
        plots = []
        if ctx.plot_dir is not None:
            from .plots import plot_fp_trajectories
            plots.append(plot_fp_trajectories(traj, ctx.plot_dir / _plot_name(ctx, run, "fp"), lemma.tag))
        if worst is None or inc[worst] >= -atol:
            return self.result(lemma, run, Verdict.VERIFIED,
                               f"{self.direction} at all {len(traj.step)} logged steps for all {tphi.shape[1]} "
                               f"positions x {tphi.shape[2]} clusters (worst step change {sign * evidence['min_increment']:.3g})",
                               evidence=evidence, tolerance=tol, margin=float(inc.min()) + atol if inc.size else None,
                               plots=plots)
        t, p, k = (int(x) for x in worst)
        cex = {"step_from": int(traj.step[t]), "step_to": int(traj.step[t + 1]), "p": p, "k": k + 1,
               "phi_from": float(tphi[t, p, k]), "phi_to": float(tphi[t + 1, p, k])}
        return self.result(lemma, run, Verdict.REFUTED,
                           f"not {self.direction}: Phi_{{p={p}->v_{{{k + 1},a}}}} went {cex['phi_from']:.6g} -> "
                           f"{cex['phi_to']:.6g} between steps {cex['step_from']} and {cex['step_to']}",
                           evidence=evidence, tolerance=tol, counterexample=cex, margin=float(inc[worst]) + atol,
                           plots=plots)


# -- LEM-G2 along training -------------------------------------------------------------------

@dataclass
class SpanAlongTraining(TrajectoryClaim):
    """LEM-G2 along training on the full d x d model.

    ``measure="fraction"``: the off-span fraction ||Q - proj Q||_F / ||Q||_F
    stays <= ``bound`` at every logged step (true from Q(0) = 0; the planted
    wrong variant applies it to a random start).  ``measure="conserved"``: from
    any start the off-span part itself never changes (the gradient has no
    off-span component), so its norm is constant; the fraction then shrinks
    only because the in-span part grows, and that deviation is reported."""

    measure: str = "fraction"
    bound: float = 1e-10

    def describe(self) -> str:
        if self.measure == "fraction":
            return f"Q stays in the span of the FP and PP directions, off-span fraction <= {self.bound:g} (SPEC LEM-G2)"
        return "the off-span part of Q is conserved along GD (SPEC LEM-G2)"

    def evaluate(self, lemma, traj, run, ctx):
        f = traj.off_span
        if np.isnan(f).any():
            return self.result(lemma, run, Verdict.INCONCLUSIVE, "the run trained correlation coordinates, which "
                               "are in the span by construction: LEM-G2 needs parametrisation='full'",
                               evidence={"reason": "coords parametrisation"})
        evidence = {"off_span_start": float(f[0]), "off_span_end": float(f[-1]), "off_span_max": float(f.max())}
        if self.measure == "fraction":
            tol = {"atol": self.bound, "rtol": 0.0, "justification": "the claim's own bound (SPEC LEM-G2 holds "
                   "exactly; float64 rounding of the projection is ~1e-16 relative)"}
            bad = np.nonzero(f > self.bound)[0]
            if bad.size == 0:
                return self.result(lemma, run, Verdict.VERIFIED, f"off-span fraction <= {f.max():.3g} at all "
                                   f"{len(f)} logged steps", evidence=evidence, tolerance=tol,
                                   margin=self.bound - float(f.max()))
            t = int(bad[0])
            return self.result(lemma, run, Verdict.REFUTED, f"off-span fraction {f[t]:.3g} > {self.bound:g} at step "
                               f"{int(traj.step[t])}", evidence=evidence, tolerance=tol,
                               counterexample={"step": int(traj.step[t]), "off_span_fraction": float(f[t])},
                               margin=self.bound - float(f[t]))
        # ||Q||^2 = ||Phi||^2 + ||Ups||^2 + ||off||^2 for orthonormal embeddings, so
        # ||off|| = f ||Q|| = f sqrt((||Phi||^2 + ||Ups||^2) / (1 - f^2))
        span2 = (traj.phi**2).sum((1, 2)) + (traj.ups**2).sum((1, 2))
        off = f * np.sqrt(span2 / np.maximum(1 - f**2, 1e-300))
        rel = np.abs(off - off[0]) / max(off[0], 1e-300)
        rtol = 1e-9
        tol = {"atol": 0.0, "rtol": rtol, "justification": "the off-span part is not updated at all; its norm is "
               "recovered from the logged fraction and coordinates, each carrying ~1e-15 relative rounding, "
               "amplified by at most 1/(1 - f^2) for the fractions seen"}
        evidence.update(off_span_norm_start=float(off[0]), off_span_norm_end=float(off[-1]),
                        max_relative_change=float(rel.max()), deviation_fraction_end=float(f[-1]))
        if not np.isfinite(off[0]) or off[0] == 0:
            return self.result(lemma, run, Verdict.INCONCLUSIVE, "Q(0) has no off-span part: nothing to conserve",
                               evidence={**evidence, "reason": "zero off-span part"})
        t = int(rel.argmax())
        verdict = Verdict.VERIFIED if rel[t] <= rtol else Verdict.REFUTED
        return self.result(lemma, run, verdict, f"off-span norm {off[0]:.6g} -> {off[-1]:.6g} (max relative change "
                           f"{rel[t]:.2g}); off-span fraction {f[0]:.3g} -> {f[-1]:.3g}", evidence=evidence,
                           tolerance=tol, margin=rtol - float(rel[t]),
                           counterexample=None if verdict is Verdict.VERIFIED else
                           {"step": int(traj.step[t]), "relative_change": float(rel[t])})


# -- LEM-G3 / LEM-G9 along training ----------------------------------------------------------

def _checkpoints(traj: Trajectory, n: int = 6) -> list[int]:
    return sorted(set(np.linspace(0, len(traj.step) - 1, n).round().astype(int).tolist()))


@dataclass
class RowDecoupling(TrajectoryClaim):
    """LEM-G3 along training: at logged checkpoints, the gradient of row p of
    (Phi, Ups) does not change when the *other* rows are replaced by random
    values, so the rows evolve independently.  Planted wrong variant
    ``perturb="own"``: claims row p's gradient ignores row p itself."""

    perturb: str = "others"
    scale: float = 3.0

    def describe(self) -> str:
        what = "other rows" if self.perturb == "others" else "its own row"
        return f"row p's gradient is independent of {what} (SPEC LEM-G3)"

    def evaluate(self, lemma, traj, run, ctx):
        inst = traj.instance
        batch = evaluation_batch(inst, run.config.eval_samples, run.config.seed)
        gen = torch.Generator().manual_seed(run.config.seed)
        worst = (0.0, None)
        gmax = 0.0
        for t in _checkpoints(traj):
            Phi, Ups = coords_at(traj, t)
            _, gPhi, gUps = grad_coords(Phi, Ups, inst, batch)
            g = torch.cat([gPhi, gUps], 1)
            gmax = max(gmax, float(g.abs().max()))
            for s in (0, 1):  # two complementary random halves: every row is perturbed once, kept once
                half = (torch.arange(inst.P) % 2 == s)[torch.randperm(inst.P, generator=gen)]
                moved = half if self.perturb == "own" else ~half
                Phi2 = torch.where(moved.unsqueeze(1), self.scale * torch.randn(Phi.shape, dtype=DTYPE, generator=gen), Phi)
                Ups2 = torch.where(moved.unsqueeze(1), self.scale * torch.randn(Ups.shape, dtype=DTYPE, generator=gen), Ups)
                _, gPhi2, gUps2 = grad_coords(Phi2, Ups2, inst, batch)
                # the rows of ``half`` are the ones whose gradient the claim says is unchanged
                d = (torch.cat([gPhi2, gUps2], 1) - g).abs().amax(1)[half]
                if d.numel() and float(d.max()) > worst[0]:
                    p = int(half.nonzero()[int(d.argmax())])
                    worst = (float(d.max()), {"step": int(traj.step[t]), "row_p": p})
        atol = 1e-12 * max(gmax, 1e-300)
        tol = {"atol": atol, "rtol": 0.0, "justification": "1e-12 of the largest gradient entry: the kept rows go "
               "through the same float64 operations, so only reduction-order rounding (~1e-16 relative) can differ"}
        evidence = {"checkpoints": len(_checkpoints(traj)), "max_row_gradient_change": worst[0], "max_gradient": gmax}
        if worst[0] <= atol:
            return self.result(lemma, run, Verdict.VERIFIED, f"kept rows' gradients unchanged within {worst[0]:.2g} "
                               f"(largest gradient {gmax:.3g}) at {evidence['checkpoints']} checkpoints",
                               evidence=evidence, tolerance=tol, margin=atol - worst[0])
        return self.result(lemma, run, Verdict.REFUTED, f"row {worst[1]['row_p']}'s gradient changed by "
                           f"{worst[0]:.3g} at step {worst[1]['step']}", evidence=evidence, tolerance=tol,
                           counterexample=worst[1], margin=atol - worst[0])


def candidate_symmetries(P: int) -> list[list[int]]:
    """Candidate symmetries of the positions: cyclic shifts, reflections and
    transpositions (a transposition of two positions that share an area in
    every cluster is LEM-G9's "two keys play the same role")."""
    shifts = [[(p + s) % P for p in range(P)] for s in range(1, P)]
    reflections = [[(s - p) % P for p in range(P)] for s in range(P)]
    swaps = [[b if p == a else a if p == b else p for p in range(P)] for a in range(P) for b in range(a + 1, P)]
    return shifts + reflections + swaps


@dataclass
class SymmetryAlongTraining(TrajectoryClaim):
    """LEM-G9 along training: for every symmetry (sigma, tau) of the instance
    among :func:`candidate_symmetries` (filtered by :func:`feature_permutation`), Phi[sigma p, tau f] = Phi[p, f] and
    Ups[sigma p, sigma q] = Ups[p, q] at every logged step.  ``forced``: pairs
    (sigma, tau) checked whether or not they are symmetries (the planted wrong
    variant: a transposition of two positions with different roles).  Needs
    GD on the exact expectation: a Monte Carlo batch breaks the symmetry."""

    forced: Sequence[tuple[Sequence[int], Sequence[int]]] = ()

    def describe(self) -> str:
        return "correlations related by a symmetry of the instance stay equal (SPEC LEM-G9)"

    def evaluate(self, lemma, traj, run, ctx):
        inst = traj.instance
        if not run.training_exact:
            return self.result(lemma, run, Verdict.INCONCLUSIVE, "GD ran on a Monte Carlo batch, which is not "
                               "symmetric: LEM-G9 needs the exact expectation", evidence={"reason": "Monte Carlo GD"})
        pairs = list(self.forced) or [(s, t) for s in candidate_symmetries(inst.P)
                                      if (t := feature_permutation(inst, s)) is not None]
        if not pairs:
            return self.result(lemma, run, Verdict.INCONCLUSIVE, "no symmetry of the instance among the candidates",
                               evidence={"reason": "no symmetry found"})
        scale = max(1.0, float(np.abs(traj.phi).max()), float(np.abs(traj.ups).max()))
        atol = 1e-10 * scale
        tol = {"atol": atol, "rtol": 0.0, "justification": "symmetric entries follow the same arithmetic up to "
               "summation order; ~1e-16 relative rounding per step, accumulated over the steps (< 1e4), "
               "leaves 1e-10 of the largest correlation as a safe bound"}
        worst, where = 0.0, None
        for sigma, tau in pairs:
            s, tf = np.asarray(sigma), np.asarray(tau)
            dphi = np.abs(traj.phi[:, s][:, :, tf] - traj.phi).max((1, 2))
            dups = np.abs(traj.ups[:, s][:, :, s] - traj.ups).max((1, 2))
            d = np.maximum(dphi, dups)
            if d.max() > worst or where is None:
                t = int(d.argmax())
                worst, where = float(d.max()), {"sigma": list(map(int, sigma)), "tau": list(map(int, tau)),
                                                 "step": int(traj.step[t])}
        evidence = {"symmetries_checked": len(pairs), "max_deviation": worst, "scale": scale}
        if worst <= atol:
            return self.result(lemma, run, Verdict.VERIFIED, f"{len(pairs)} symmetries hold within {worst:.2g} at all "
                               f"{len(traj.step)} logged steps", evidence=evidence, tolerance=tol, margin=atol - worst)
        return self.result(lemma, run, Verdict.REFUTED, f"symmetry sigma={where['sigma']} breaks by {worst:.3g} at "
                           f"step {where['step']}", evidence=evidence, tolerance=tol, counterexample=where,
                           margin=atol - worst)


# -- THM-MAIN-v1 ------------------------------------------------------------------------------

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
        batch = run.held_out()
        s = th.area_wide_series(traj, batch, self.eps, self.fraction)
        f, g = s.fraction[-1], s.gap[-1]
        tphi, phi = traj.target_phi()[-1], traj.phi[-1]
        nontarget = np.ones_like(phi, dtype=bool)
        nontarget[np.arange(inst.P)[:, None], inst.feature_of.T.numpy()] = False
        evidence = {
            "T_star": s.t_star, "T_star_resolution": int(np.diff(traj.step).max()) if len(traj.step) > 1 else 0,
            "eps": self.eps, "fraction_target": self.fraction, "evaluation": "exact" if batch.exact else
            f"held-out Monte Carlo batch of {len(batch)} images, 95% delta-method interval",
            "final_fraction": f.to_dict(), "final_loss_gap": g.to_dict(),
            "fraction_series": [x.value for x in s.fraction], "gap_series": [x.value for x in s.gap],
            "steps": traj.step.tolist(),
            "fraction_per_log_step": _log_slope(traj.step, [x.value for x in s.fraction]),
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
            from .plots import plot_attention_maps, plot_mass_trajectories
            marks = {"start": 0, "T*": int(np.searchsorted(traj.step, s.t_star)) if s.t_star is not None else None,
                     "end": len(traj.step) - 1}
            plots.append(plot_attention_maps(traj, ctx.plot_dir / _plot_name(ctx, run, "attention"), lemma.tag,
                                             {k: v for k, v in marks.items() if v is not None}))
            plots.append(plot_mass_trajectories(traj, ctx.plot_dir / _plot_name(ctx, run, "mass"), lemma.tag))
        reached = [int(traj.step[i]) for i, ok in enumerate(s.holds()) if ok]
        if self.quantifier == "never":
            if reached:
                return self.result(lemma, run, Verdict.REFUTED, f"the area-wide pattern holds at step {reached[0]}",
                                   evidence=evidence, tolerance=tol, counterexample={"step": reached[0]},
                                   plots=plots)
            return self.result(lemma, run, Verdict.VERIFIED, "the area-wide pattern is not reached within the budget",
                               evidence=evidence, tolerance=tol, plots=plots)
        status = (f"fraction {f.value:.3f} [{f.lo:.3f}, {f.hi:.3f}], loss gap {g.value:.3g} at step "
                  f"{int(traj.step[-1])}")
        if s.t_star is not None:
            return self.result(lemma, run, Verdict.VERIFIED, f"T*({self.eps:g}) = {s.t_star}; {status}",
                               evidence=evidence, tolerance=tol, margin=f.lo - self.fraction, plots=plots)
        return self.result(lemma, run, Verdict.INCONCLUSIVE, f"not reached within {int(traj.step[-1])} steps: "
                           f"{status}", evidence={**evidence, "reason": "step budget exhausted"}, tolerance=tol,
                           margin=f.lo - self.fraction, plots=plots)


# -- THM-MAE-v3 phases -----------------------------------------------------------------------

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
    events (:func:`proofcheck.theorems.phases`).

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
        tol_phi = 64 * EPS64 * max(1.0, float(np.abs(traj.phi).max()))
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
            from .plots import plot_attention_maps, plot_fp_trajectories, plot_mass_trajectories
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


# -- diversity --------------------------------------------------------------------------------

@dataclass
class Diversity(TrajectoryClaim):
    """The diversity claim (SPEC §1, EXP-1 [V]; the score is the project's [R]
    definition, :func:`proofcheck.theorems.attention_diversity`): after
    training, D is within ``within`` x D_ideal of the reference, where D_ideal
    is the exact score of the ideal area-wide pattern and the collapsed pattern
    scores 0.  ``level``: "keys" scores the attention over keys, "areas" its
    pooling by area (insensitive to how mass spreads inside an area); the ideal
    pattern scores D_ideal at both levels.  ``reference="ideal"`` is the claim; ``reference="collapsed"``
    is the planted wrong one.  Decided on the 95% interval of D: inside the
    band VERIFIED, disjoint from it REFUTED, else INCONCLUSIVE."""

    within: float = 0.10
    reference: str = "ideal"
    level: str = "keys"

    def describe(self) -> str:
        return (f"attention diversity ({self.level} level) after training within {self.within:.0%} of the "
                f"{self.reference} pattern's")

    def evaluate(self, lemma, traj, run, ctx):
        inst = traj.instance
        batch = run.held_out()
        Phi, Ups = coords_at(traj, -1)
        D = th.diversity(Phi, Ups, inst, batch, self.level)
        D0 = th.diversity(*coords_at(traj, 0), inst, batch, self.level)
        ideal = th.ideal_diversity(inst)
        collapsed = th.attention_diversity(th.collapsed_attention(inst, batch), th.avoidable(inst, batch), batch).value
        ref = ideal if self.reference == "ideal" else collapsed
        band = (ref - self.within * ideal, ref + self.within * ideal)
        evidence = {"D_trained": D.to_dict(), "D_at_start": D0.to_dict(), "D_ideal_area_wide": ideal,
                    "D_collapsed": collapsed, "ratio_to_ideal": D.value / ideal, "band": list(band),
                    "definition": "mean total-variation distance between the attention distributions of two "
                                  "distinct avoidable masked queries of the same image (ratio of expectations)"}
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


# -- scaling study ----------------------------------------------------------------------------

@dataclass
class ScalingStudy(TrajectoryClaim):
    """How T*(eps) of THM-MAIN-v1 scales (SPEC 9.1 [R]: T* = O~(poly(P)/eta)).

    T* is measured on every run as in :class:`AreaWide`, then log T* is fitted
    on log P (and log eta when the runs use several step sizes) by least
    squares with 95% t intervals (:func:`proofcheck.theorems.fit_scaling_exponent`).
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


# -- assumption probing -----------------------------------------------------------------------

@dataclass(frozen=True)
class TrainCase:
    """What a trajectory lemma's assumptions are about: an instance and the GD
    step size (the [R] forms assume eta small, SPEC DEF-GD)."""

    instance: Instance
    eta: float

    def to_dict(self) -> dict:
        return {"instance": self.instance.to_dict(), "eta": self.eta}


#: the conclusions a probe looks at; "eventually" ones are budgeted: reached within the probe's steps
UNIVERSAL = ("no_divergence", "target_phi_monotone", "loss_descends")
BUDGETED = ("area_wide_reached",)


def probe_conclusions(case: TrainCase, steps: int, eps: float, fraction: float, seed: int = 0,
                      cache_dir=None) -> dict[str, bool]:
    """Train ``case`` (the full d x d model when the embeddings are not
    orthonormal, since correlation coordinates assume them) and say which
    conclusions of LEM-G5 / THM-MAIN-v1 hold on the run."""
    inst = case.instance
    cfg = TrainConfig(steps=steps, eta=case.eta, log_every=max(1, steps // 20), seed=seed, device="cpu",
                      parametrisation="coords" if inst.orthonormal else "full")
    try:
        traj = cached_train(inst, cfg, cache_dir).trajectory
    except TrainingDiverged:
        return {"no_divergence": False, "target_phi_monotone": False, "loss_descends": False,
                "area_wide_reached": False}
    tphi = traj.target_phi()
    atol = 64 * EPS64 * max(1.0, float(np.abs(tphi).max()))
    batch = evaluation_batch(inst, 2048, seed + 1)
    f = th.target_mass_fraction(*coords_at(traj, -1), inst, batch, eps)
    gap = th.loss_gap(*coords_at(traj, -1), inst, batch)
    reached = (math.isnan(f.value) or f.lo >= fraction) and gap.hi <= eps
    return {"no_divergence": True, "target_phi_monotone": bool((np.diff(tphi, axis=0) >= -atol).all()),
            "loss_descends": bool((np.diff(traj.loss) <= 1e-12 * np.abs(traj.loss[:-1])).all()),
            "area_wide_reached": bool(reached)}


@dataclass
class TrajectoryProbe(Claim):
    """Assumption probing on trajectories: Hypothesis draws small cases inside
    all of the lemma's assumptions (where the conclusions must hold within the
    probe's step budget) and, for each assumption with a ``violate`` map,
    cases that break just that one; it records which conclusion fails and the
    smallest failing case Hypothesis finds (shrinking at the full budget only,
    since every example trains a model).

    Inside the assumptions a failing universal conclusion (divergence, LEM-G5,
    descent) is REFUTED, an unreached area-wide pattern INCONCLUSIVE.  Outside,
    results are informative (``affects_verdict=False``): REFUTED means the
    conclusion does fail there, i.e. the assumption is doing work."""

    steps: int = 150
    eps: float = 0.05
    fraction: float = 0.95
    #: cap on drawn cases per probe at the quick / full budget (each case trains one or two models)
    quick_examples: int = 2
    full_examples: int = 12
    kind = "probe"

    def describe(self) -> str:
        return "assumption probes on trained models"

    def examples(self, ctx: CheckContext) -> int:
        cap = self.full_examples if ctx.budget.name == "full" else self.quick_examples
        return min(ctx.budget.examples, cap)

    def _search(self, strategy, ctx: CheckContext, memo: dict, violate=None):
        """A case whose conclusions fail (``violate=None``), or whose violated copy
        fails conclusions that the case itself meets (so the failure is due to
        the violation, not to the drawn instance).  Returns (case, failures)."""
        def failed(case) -> list[str]:
            key = json.dumps(case.to_dict(), sort_keys=True)
            if key not in memo:
                memo[key] = probe_conclusions(case, self.steps, self.eps, self.fraction, ctx.seed, ctx.cache_dir)
            return [c for c, ok in memo[key].items() if not ok]

        def new_failures(case) -> list[str]:
            if violate is None:
                return failed(case)
            return [c for c in failed(violate(case)) if c not in failed(case)]

        phases = [Phase.generate] + ([Phase.shrink] if ctx.budget.name == "full" else [])
        cfg = settings(max_examples=self.examples(ctx), derandomize=True, database=None, phases=phases,
                       deadline=None, suppress_health_check=list(HealthCheck))
        try:
            case = find(strategy, lambda c: bool(new_failures(c)), settings=cfg)
        except NoSuchExample:
            return None, []
        return case, new_failures(case)

    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        if not lemma.assumptions:
            return [CheckResult(self.kind, f"[{lemma.tag}] {self.describe()}", Verdict.INCONCLUSIVE,
                                "the lemma declares no assumptions to probe", evidence={"reason": "no assumptions"},
                                seed=ctx.seed)]
        memo: dict = {}
        out = []
        shrunk = ctx.budget.name == "full"
        which = "smallest" if shrunk else "first"
        strategy = lemma.assumptions[0].strategy()
        probes: list[tuple[str, Assumption | None]] = [("inside all assumptions", None)] + \
            [(f"violating {a.name}", a) for a in lemma.assumptions if a.violate is not None]
        for label, a in probes:
            t0 = time.perf_counter()
            case, fails = self._search(strategy, ctx, memo, a.violate if a is not None else None)
            evidence = {"examples": self.examples(ctx), "steps": self.steps, "eps": self.eps,
                        "cases_trained": len(memo), "shrunk": shrunk, "failing_conclusions": fails,
                        "budget": ctx.budget.name}
            cex = None
            if case is not None:
                shown = case if a is None else a.violate(case)
                cex = {**shown.to_dict(), "describe": shown.instance.describe(), "failing_conclusions": fails}
                if a is not None:
                    evidence["assumption"] = a.to_dict()
                    cex["inside_case"] = case.to_dict()
            if case is None:
                verdict = Verdict.VERIFIED
                summary = (f"no conclusion failed on {self.examples(ctx)} drawn cases ({self.steps} GD steps each)"
                           if a is None else f"violating it broke no conclusion that held, on "
                           f"{self.examples(ctx)} drawn cases ({self.steps} GD steps each)")
            elif a is None and not set(fails) & set(UNIVERSAL):
                verdict = Verdict.INCONCLUSIVE
                summary = f"{', '.join(fails)} not within {self.steps} steps on {which} case {cex['describe']}"
            else:
                verdict = Verdict.REFUTED
                summary = (f"{', '.join(fails)} fail(s) on {which} case {cex['describe']} (eta={shown.eta:g})"
                           + ("" if a is None else ", while the same case inside the assumption meets them"))
            out.append(CheckResult(self.kind, f"[{lemma.tag}] probe {label}", verdict, summary, evidence=evidence,
                                   counterexample=cex, seed=ctx.seed, timing_s=time.perf_counter() - t0,
                                   affects_verdict=a is None))
        return out


# -- the runs the built-in trajectory lemmas share (one cache entry each) ----------------------

#: THM-MAIN-v1 step size.  Measured on balanced P=8 (exact GD): eta = 10 / 20 / 100 reach an
#: event fraction of 0.74 / 0.80 / 0.94 after 1500 / 1500 / 800 steps (logarithmic growth),
#: eta = 120 reaches T*(0.05) = 575 and eta = 200 reaches it by step 80; the loss decreases at
#: every step for every eta up to 3000, so GD is still a descent method there.
ETA_AREA_WIDE = 200.0


def area_wide_runs() -> dict[str, list[Run]]:
    """Balanced runs for THM-MAIN-v1, LEM-G5 along training and the diversity
    claim: quick P in {8, 16}, full P in {8, 16, 32}.  P = 8 is exact GD; larger
    P train on a fixed Monte Carlo batch (GD on an empirical loss) and are
    evaluated on an independent held-out batch."""
    from .instance import balanced

    def run(P: int, steps: int) -> Run:
        cfg = TrainConfig(steps=steps, eta=ETA_AREA_WIDE, log_every=5, eval_samples=512 if P > 8 else 8192)
        return Run(balanced(P), cfg, eval_samples=2048)

    return {"quick": [run(8, 100), run(16, 60)], "full": [run(8, 400), run(16, 400), run(32, 400)]}
