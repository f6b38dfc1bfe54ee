"""Trajectory claims: statements about what gradient descent actually does
(check kind "trajectory"), evaluated on trajectories from the trainer.

Each claim names its runs per budget (:class:`Run`: an instance, GD settings
and a held-out evaluation batch), trains them or loads them from the cache
(:mod:`proofcheck.setting.trajcache`), and gives one :class:`CheckResult` per run.
A run that diverges is INCONCLUSIVE naming the step, never VERIFIED.  Every
claim has a planted wrong variant through :meth:`TrajectoryClaim.mutated`
(reversed direction, a collapse claim, a false symmetry, ...) that the tests
require to be REFUTED.

:class:`FullModelAgreement` keeps the claims that train in correlation coordinates (with the closed forms
LEM-G4/G8) from re-checking only the algebra their runs were made with: it retrains a run on the d x d
model by autograd and compares the two step by step.

Claims that say "eventually" (THM-MAIN-v1, Phase II) cannot be refuted by a
finite run: not reaching the goal within the budget is INCONCLUSIVE, with the
distance left.  Claims that say "at every step" (LEM-G5, LEM-G2, LEM-G3/G9, a
collapse) are refuted by the first logged step that breaks them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from proofcheck.setting.symmetry import feature_permutation
from proofcheck.setting.coords import grad_coords
from proofcheck.setting.instance import DTYPE
from proofcheck.errors import LemmaFileError, TrainingDiverged
from proofcheck.setting.runs import regime
from proofcheck.setting.trainer import Trajectory, coords_at, evaluation_batch
from proofcheck.setting.trajcache import cached_train
from proofcheck.verdict import Verdict
from proofcheck.engine.trajclaim import TrajectoryClaim, _plot_name
from proofcheck.tolerance import EPS


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
        atol = 64 * EPS * max(1.0, float(np.abs(tphi).max()))
        tol = {"atol": atol, "rtol": 0.0, "justification": "64 float64 roundoffs of the largest |Phi|: rounding of "
               "Phi + eta g and cancellation in autograd's gradient; no statistical error (the claim holds for "
               "every batch, exact or Monte Carlo)"}
        worst = np.unravel_index(np.argmin(inc), inc.shape) if inc.size else None
        evidence = {"logged_steps": int(len(traj.step)), "min_increment": float(inc.min()) if inc.size else None,
                    "target_phi_start": [float(tphi[0].min()), float(tphi[0].max())],
                    "target_phi_end": [float(tphi[-1].min()), float(tphi[-1].max())]}
        plots = []
        if ctx.plot_dir is not None:
            from proofcheck.engine.plots import plot_fp_trajectories
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
class DecouplingAlongTraining(TrajectoryClaim):
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


# -- the coordinate trainer against the d x d model ------------------------------------------

#: relative agreement of a coordinate run and its full-model run (justified in FullModelAgreement.evaluate)
AGREEMENT_RTOL = 1e-9


@dataclass
class FullModelAgreement(TrajectoryClaim):
    """GD in correlation coordinates (the trainer's closed forms LEM-G4/G8, ``parametrisation="coords"``)
    and GD on the d x d matrix Q by autograd of the model (SPEC DEF-MODEL, ``"full"``) from the same
    Q(0) = 0 give the same Phi, Ups and loss at every logged step, the full run's coordinates read off Q
    by the correlation maps (DEF-CORR).  By LEM-G2 the two are the same GD exactly, so any gap beyond
    rounding is a wrong closed form (or a wrong model).  ``runs`` are the coordinate runs; each is
    retrained with ``parametrisation="full"`` (cached like any run).  Planted wrong variant ``lag=1``:
    the full run compared one logged step behind."""

    lag: int = 0

    def __post_init__(self):
        super().__post_init__()
        bad = [r.instance.name for rs in self.runs.values() for r in rs
               if r.config.parametrisation != "coords" or r.config.solver or r.config.init != "zero"
               or r.config.gradient == "population"]
        if bad:
            raise LemmaFileError(f"FullModelAgreement compares coordinate GD from Q(0) = 0 on a batch the full "
                                 f"model can take (gradient 'exact' or 'sampled'); not so for {bad}")

    def describe(self) -> str:
        return "GD in correlation coordinates equals GD on the d x d model by autograd (SPEC LEM-G2, LEM-G4/G8)"

    def evaluate(self, lemma, traj, run, ctx):
        full_cfg = replace(run.config, parametrisation="full")
        try:
            full = cached_train(run.instance, full_cfg, ctx.cache("trajectories"))
        except TrainingDiverged as exc:
            return self.result(lemma, run, Verdict.INCONCLUSIVE, f"the full-model run: {exc}",
                               evidence={"reason": "full-model training diverged", "diverged_at_step": exc.step})
        f = full.trajectory
        n = len(traj.step) - self.lag
        c_phi, c_ups, c_loss = traj.phi[:n], traj.ups[:n], traj.loss[:n]
        f_phi, f_ups, f_loss = f.phi[self.lag:], f.ups[self.lag:], f.loss[self.lag:]
        scale = max(1.0, float(np.abs(traj.phi).max()), float(np.abs(traj.ups).max()))
        dev = np.maximum(np.abs(c_phi - f_phi).max((1, 2)), np.abs(c_ups - f_ups).max((1, 2)))
        loss_scale = max(1e-300, float(np.abs(traj.loss).max()))
        loss_dev = np.abs(c_loss - f_loss)
        rel = np.maximum(dev / scale, loss_dev / loss_scale)
        tol = {"atol": AGREEMENT_RTOL * scale, "rtol": AGREEMENT_RTOL,
               "justification": "both runs are the same float64 GD (LEM-G2), summed in different orders: they "
                                "differ by a few eps of the largest |Phi|, |Ups| per step (measured 1e-15 relative "
                                "after 100 steps at eta = 200, growing about linearly), so 1e-9 of the largest "
                                "correlation (of the largest loss for the loss) leaves five orders of magnitude "
                                "for amplification by the GD map; a wrong closed-form term moves the "
                                "coordinates by a fixed fraction of its own size per step, >= 1e-4 relative in "
                                "the planted tests"}
        t = int(rel.argmax())
        evidence = {"logged_steps": int(n), "max_deviation": float(dev.max()),
                    "max_loss_deviation": float(loss_dev.max()),
                    "max_relative_deviation": float(rel.max()), "scale": scale, "lag": self.lag,
                    "full_model_run": {**regime(f), "cached": full.cached, "train_s": full.seconds},
                    "coordinate_run": regime(traj)}
        if rel[t] <= AGREEMENT_RTOL:
            return self.result(lemma, run, Verdict.VERIFIED, f"coordinate and full-model GD agree at all {n} logged "
                               f"steps within {rel[t]:.2g} relative (largest |correlation| {scale:.3g})",
                               evidence=evidence, tolerance=tol, margin=AGREEMENT_RTOL - float(rel[t]))
        first = int(np.argmax(rel > AGREEMENT_RTOL))
        cex = {"step": int(traj.step[first]), "relative_deviation": float(rel[first]),
               "max_relative_deviation": float(rel[t]), "at_step": int(traj.step[t])}
        return self.result(lemma, run, Verdict.REFUTED, f"coordinate GD leaves full-model GD at step {cex['step']} "
                           f"(relative deviation {rel[first]:.3g}, {rel[t]:.3g} by step {cex['at_step']})",
                           evidence=evidence, tolerance=tol, counterexample=cex, margin=AGREEMENT_RTOL - float(rel[t]))
