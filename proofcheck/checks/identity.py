"""Gradient identities (SPEC §8 LEM-G1, G4, G5, G6, G8): one claim, three legs.

A :class:`GradientIdentity` states a closed form for the ascent direction
``-dL/d(coordinate)`` as a per-event integrand in the vocabulary of
:mod:`proofcheck.lang.symbols`; the indicators 1_k 1{p in M} (and 1{q in S}) of SPEC
§8 are implied by the event loop.  Coordinates:

- ``fp``: Phi_{p -> v_{k,j}} (LEM-G4/G5/G6), integrand in z, A, A0, N, a, j;
- ``pp``: Ups_{p -> q} (LEM-G8), integrand in z, A, A0, N, a, b, attn_q, u_q;
- ``q``: the full gradient of LEM-G1, -dL/dQ = E[sum_{p in M} sum_{q in S} c_q e_p (x~_q + e_q)^T]
  with the per-key coefficient c_q as integrand (same symbols as ``pp``).

Legs (CheckResult kinds):

- ``symbolic``, every number of areas (:mod:`proofcheck.engine.generic_proof`,
  docs/generic-event.md): the closed form equals ``sympy.diff`` of the generic
  event's loss, which covers every area size and mask, for every N by a counting
  argument (or N <= 6 by the bounded fallback, which its scope then says), in
  each key set;
- ``symbolic``, per event (:mod:`proofcheck.engine.symbolic`): the same, derived
  independently on every event of a small symbolic instance (fixture-6 by
  default: N <= 3 only), in each key set;
- ``numeric``: the closed form, lambdified to torch float64 and summed over the
  exact batch (weights and loss normaliser), against (i) autograd of the FULL
  d x d model (:func:`proofcheck.setting.model.forward_loss` at ``q_from_coords``, read
  back with ``fp_correlation`` / ``pp_correlation``) and (ii) central finite
  differences of the *row* losses (SPEC LEM-G3: perturbing a whole column of
  Phi / Ups / Q changes every row's loss only through its own entry, so 4 (F + P)
  evaluations give all P (F + P) entries at steps h and 2h; the Ups columns are
  evaluated together by a rank-one update of the area softmax).  Points: the
  symbolic instance in both key sets at a random span Q, the large instance
  (:data:`LARGE_INSTANCE`: five areas per cluster, unequal sizes) on a seeded
  Monte Carlo batch, Hypothesis cases within the lemma's assumptions (up to six
  areas: :mod:`proofcheck.lang.cases`), and checkpoints of trained transformers
  where attention is sharply peaked.  Every result's ``evidence["scope"]`` says
  what it covers (:func:`proofcheck.verdict.scope_line` words it).

Error model (stated in every numeric CheckResult):

- closed form vs autograd: both evaluate sums of per-event terms in float64;
  |difference| <= kappa eps (R + M) per entry, where M is the closed form with
  every term made positive (a running-error bound), R the same for the model's
  gradient (attn |<x_p - F_p, x~_q - F_p>| summed like the entry), and
  kappa = 4 (P + N_max + ceil(log2 B) + d (1 + s_max)): softmax sums over <= P
  keys, area sums over <= N_max, pairwise summation over B events, and logits
  of size s_max formed by d-term products in the full model;
- finite differences: truncation estimated by Richardson, |D_h - D_2h| (3x the
  estimate of D_h's error), plus rounding kappa eps l_p / h with l_p the row
  loss magnitude;
- a Monte Carlo batch changes none of this: the identity holds event by event,
  and every leg sums the same sampled events with the same weights, so sampling
  adds no error between the legs (only the events compared are random).
"""
from __future__ import annotations

import math
import time
from functools import lru_cache

import sympy as sp
import torch

from proofcheck.engine.caseclaim import CaseClaim, sampled_scope
from proofcheck.engine.search import Outcome
from proofcheck.lang.assumptions import case_q
from proofcheck.lang.cases import Case
from proofcheck.setting.coords import events, unavoidable
from proofcheck.errors import LemmaFileError
from proofcheck.setting.instance import DTYPE, Instance, preset
from proofcheck.context import CheckContext
from proofcheck.lang.lemma import Lemma
from proofcheck.setting.sampling import Batch, exact_batch, sample_batch
from proofcheck.engine.generic_proof import all_areas_result
from proofcheck.engine.symbolic import COORDINATES, prove_identity, vocabulary_problem
from proofcheck.setting.trainer import TrainConfig, coords_at
from proofcheck.setting.trajcache import cached_train
from proofcheck.verdict import CheckResult, Verdict
from proofcheck.engine.legs import InconsistentLegs, Legs, entry_name, three_legs

#: the trained transformers whose checkpoints are checked (name, instance, GD config): step sizes
#: large enough that the last checkpoint's attention is peaked to rounding level (1 - A_{p,a} ~ 1e-16)
CHECKPOINT_RUNS = (
    ("fixture-6, key set B", lambda: preset("fixture-6"), TrainConfig(steps=200, eta=1000.0, log_every=100)),
    ("balanced P=8, key set A", lambda: preset("balanced", P=8, K=2, N=2, key_set="A"),
     TrainConfig(steps=200, eta=300.0, log_every=100)),
)
#: the large instance of the numeric leg (name, instance): five areas per cluster of sizes 4, 2, 2, 2, 2,
#: where a closed form that is right only for N <= 3 (the symbolic instance, the checkpoints) fails
LARGE_INSTANCE = ("global-local P=12 (areas 4, 2, 2, 2, 2)",
                  lambda: preset("global-local", P=12, K=2, kappa_g=0.6, kappa_l=0.3))
#: its Monte Carlo batch: 2^12 masks x 2^5 z values x 2 clusters are too many to enumerate in a quick run,
#: and an identity is compared event by event on whatever events are drawn (module docstring)
LARGE_EVENTS = 512


# -- judging one point -------------------------------------------------------------------------


def judge(legs: Legs, coordinate: str, inst: Instance) -> Outcome:
    """The worst entry of the closed form against both references, as an Outcome
    (margin = 1 - max error / tolerance over the claim's entries).  Raises
    InconsistentLegs when autograd and finite differences disagree."""
    sel = legs.entries
    n = int(sel.sum())
    if n == 0:
        return Outcome(True, math.inf, math.inf, 0)
    inf = torch.full_like(legs.closed, -math.inf)
    err_ad = (legs.closed - legs.autograd).abs()
    ratio = torch.where(sel, err_ad / legs.tol_closed.clamp(min=1e-300), inf)
    if legs.fd is not None:
        ref_ratio = torch.where(sel, (legs.autograd - legs.fd).abs() / legs.tol_ref.clamp(min=1e-300), inf)
        if float(ref_ratio.max()) > 1:
            p, c = divmod(int(ref_ratio.argmax()), legs.closed.shape[1])
            raise InconsistentLegs(
                f"autograd and finite differences disagree at {entry_name(coordinate, inst, p, c)}: "
                f"{float(legs.autograd[p, c]):.6g} vs {float(legs.fd[p, c]):.6g} "
                f"(tolerance {float(legs.tol_ref[p, c]):.3g}); the references cannot judge the closed form")
        ratio = torch.maximum(ratio, torch.where(sel, (legs.closed - legs.fd).abs() / legs.tol_fd.clamp(min=1e-300),
                                                 inf))
    p, c = divmod(int(ratio.argmax()), legs.closed.shape[1])
    worst_ratio = float(ratio[p, c])
    ad = float(legs.autograd[p, c])
    worst = {"entry": entry_name(coordinate, inst, p, c), "index": [p, c], "closed_form": float(legs.closed[p, c]),
             "autograd": ad, "abs_error_vs_autograd": float(err_ad[p, c]),
             "rel_error_vs_autograd": float(err_ad[p, c]) / abs(ad) if ad else math.inf,
             "tolerance_vs_autograd": float(legs.tol_closed[p, c]), "error_over_tolerance": worst_ratio,
             "entries": n, "events": legs.n_events, "kappa": legs.kappa, "finite_differences": legs.fd_note,
             # N of the clusters whose events enter the entry: an FP feature belongs to one cluster
             "cluster_areas": [inst.N[int(inst.feature_cluster[c])]] if coordinate == "fp" else list(inst.N)}
    if legs.fd is not None:
        worst.update({"finite_difference": float(legs.fd[p, c]),
                      "abs_error_vs_fd": abs(float(legs.closed[p, c] - legs.fd[p, c])),
                      "tolerance_vs_fd": float(legs.tol_fd[p, c])})
    margin = 1.0 - worst_ratio
    return Outcome(worst_ratio <= 1.0, margin, margin, n, worst)


# -- the claim --------------------------------------------------------------------------------------

class GradientIdentity(CaseClaim):
    """-dL/d(coordinate) = E[1_k 1{p in M} (1{q in S}) ascent] (SPEC §8), checked
    symbolically and numerically (module docstring).

    ``restriction``: a SymPy relation in a, j (FP) or a, b (PP) selecting the
    event coordinates the identity speaks about, e.g. ``Eq(j, a)`` for LEM-G5."""

    kind = "identity"
    in_coords = False  # the autograd leg runs the full model, so it sees the embeddings

    def __init__(self, label: str, coordinate: str, ascent, restriction=None, symbolic_instance: str = "fixture-6",
                 key_sets=("B", "A"), checkpoints: bool = True, assumes=()):
        if coordinate not in COORDINATES:
            raise LemmaFileError(f"coordinate must be one of {COORDINATES}, got {coordinate!r}")
        problem = vocabulary_problem(ascent, coordinate)
        if problem:
            raise LemmaFileError(problem)
        self.label = label
        self.coordinate = coordinate
        self.ascent = sp.sympify(ascent)
        self.restriction = restriction
        self.symbolic_instance = symbolic_instance
        self.key_sets = tuple(key_sets)
        self.checkpoints = checkpoints
        self.assumes = tuple(assumes)

    @property
    def expression(self):
        return self.ascent

    def mutated(self, expression) -> "GradientIdentity":
        return GradientIdentity(f"{self.label} (mutated)", self.coordinate, expression, self.restriction,
                                self.symbolic_instance, self.key_sets, self.checkpoints, self.assumes)

    def tolerance(self) -> dict:
        return {"atol": None, "rtol": None, "per_entry": True,
                "justification": "per entry: closed form vs autograd within kappa eps (R + M), M the closed form "
                                 "and R the model gradient with all terms positive, kappa = 4 (P + N_max + "
                                 "ceil(log2 B) + d (1 + s_max)) (softmax sums, area sums, pairwise event sums, "
                                 "d-term logits of size s_max), plus kappa eps times the row's gradient magnitude "
                                 "for rotated bases (building Q and reading it back mix a row's entries); "
                                 "finite differences within that plus |D_h - D_2h| "
                                 "(Richardson truncation, 3x the estimate) plus kappa eps l_p / h (rounding of row "
                                 "losses of size l_p, h = 2^-16); on a Monte Carlo batch the same bounds, since every "
                                 "leg sums the same sampled events and the identity holds event by event"}

    # one point
    def legs(self, inst: Instance, Phi, Ups, batch: Batch | None = None, Q=None) -> Legs:
        return three_legs(self.coordinate, self.ascent, self.restriction, inst, Phi, Ups,
                          batch if batch is not None else exact_batch(inst), Q)

    def evaluate_case(self, case: Case) -> Outcome:
        return judge(self.legs(case.instance, case.Phi, case.Ups, Q=case_q(case)), self.coordinate, case.instance)

    # the check
    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        results = [all_areas_result(self.ascent, self.coordinate, ks, self.restriction, cache_dir=ctx.cache("symbolic"),
                                    seed=ctx.seed, name=f"{self.describe()} [symbolic, every number of areas, "
                                                        f"key set {ks}]")
                   for ks in self.key_sets]
        results += [prove_identity(self.ascent, self.coordinate, preset(self.symbolic_instance), ks,
                                   restriction=self.restriction, cache_dir=ctx.cache("symbolic"), seed=ctx.seed,
                                   name=f"{self.describe()} [symbolic, {self.symbolic_instance}, key set {ks}]")
                    for ks in self.key_sets]
        for ks in self.key_sets:
            inst = preset(self.symbolic_instance, key_set=ks)
            results.append(timed(self.point_result, lemma, ctx, [(random_span_case(inst, ctx.seed), "random span Q")],
                                 f"{self.symbolic_instance} at a random span Q, key set {ks}"))
        results.append(timed(self.large_result, lemma, ctx))
        results.append(timed(self.hypothesis_result, lemma, ctx))
        if self.checkpoints:
            results.append(timed(lambda: self.point_result(lemma, ctx, checkpoint_cases(ctx),
                                                           "checkpoints of trained transformers")))
        return results

    def large_result(self, lemma: Lemma, ctx: CheckContext) -> CheckResult:
        """The large instance (:data:`LARGE_INSTANCE`) at a random span Q in each key set,
        on a Monte Carlo batch of :data:`LARGE_EVENTS` events seeded by ctx.seed."""
        label, make = LARGE_INSTANCE
        cases = [(random_span_case(make().with_options(key_set=ks), ctx.seed), f"random span Q, key set {ks}")
                 for ks in self.key_sets]
        return self.point_result(lemma, ctx, cases, f"{label}, {LARGE_EVENTS} Monte Carlo events",
                                 batch=lambda inst: sample_batch(inst, LARGE_EVENTS,
                                                                 torch.Generator().manual_seed(ctx.seed)))

    def hypothesis_result(self, lemma: Lemma, ctx: CheckContext) -> CheckResult:
        """Cases drawn by Hypothesis within the lemma's assumptions (seeded by ctx.seed)."""
        return self.searched_result(lemma, ctx, "Hypothesis cases, exact expectation", kind="numeric",
                                    name=f"{self.describe()} [numeric, Hypothesis cases]")

    def point_result(self, lemma: Lemma, ctx: CheckContext, cases: list[tuple[Case, str]], where: str,
                     batch=None) -> CheckResult:
        """One numeric CheckResult over fixed points: the worst entry over all of them
        (``batch``: instance -> Batch; the exact batch without it)."""
        from proofcheck.engine.counterexamples import save_counterexample

        name = f"{self.describe()} [numeric, {where}]"
        worst, worst_case, entries = None, None, 0
        for case, label in cases:
            if batch is None:
                out = self.evaluate_case(case)
            else:
                out = judge(self.legs(case.instance, case.Phi, case.Ups, batch(case.instance), Q=case_q(case)),
                            self.coordinate, case.instance)
            entries += out.points
            out.worst["point"] = label
            if worst is None or out.margin < worst.margin:
                worst, worst_case = out, case
        how = "exact expectation" if batch is None else f"{LARGE_EVENTS} Monte Carlo events per point"
        evidence = {"points": len(cases), "entries_compared": entries, "worst": worst.worst,
                    "points_checked": [label for _, label in cases],
                    "scope": sampled_scope([c.instance for c, _ in cases], f"fixed points, {how}")}
        if not worst.holds:
            cx = save_counterexample(lemma, self, worst_case, worst, ctx, where)
            return CheckResult("numeric", name, Verdict.REFUTED,
                               f"{self.label} fails at {worst.worst['entry']} ({where}, {worst.worst['point']}): "
                               f"closed form {worst.worst['closed_form']:.6g} vs autograd "
                               f"{worst.worst['autograd']:.6g}, error {worst.worst['error_over_tolerance']:.3g}x "
                               "the tolerance", evidence=evidence, tolerance=self.tolerance(), counterexample=cx,
                               margin=worst.margin, seed=ctx.seed)
        return CheckResult("numeric", name, Verdict.VERIFIED,
                           f"agrees with autograd and finite differences on {entries} entries at {len(cases)} "
                           f"point(s) ({where}); worst {worst.worst['entry']}: abs error "
                           f"{worst.worst['abs_error_vs_autograd']:.3g}, {worst.worst['error_over_tolerance']:.3g}x "
                           "the tolerance", evidence=evidence, tolerance=self.tolerance(), margin=worst.margin,
                           seed=ctx.seed)


def random_span_case(inst: Instance, seed: int) -> Case:
    """A seeded point (Phi, Ups) with entries in [-2, 2]: a random Q in the LEM-G2 span."""
    g = torch.Generator().manual_seed(seed)
    Phi = 2 * (2 * torch.rand(inst.P, inst.F, dtype=DTYPE, generator=g) - 1)
    Ups = 2 * (2 * torch.rand(inst.P, inst.P, dtype=DTYPE, generator=g) - 1)
    return Case(inst, Phi, Ups)


def timed(fn, *args) -> CheckResult:
    t0 = time.perf_counter()
    result = fn(*args)
    result.timing_s = time.perf_counter() - t0
    return result


@lru_cache(maxsize=8)
def _trained(cache_dir: str | None):
    return [(label, cached_train(make(), cfg, cache_dir).trajectory)
            for label, make, cfg in CHECKPOINT_RUNS]


def checkpoint_cases(ctx: CheckContext) -> list[tuple[Case, str]]:
    """Logged checkpoints (middle and last) of GD at a large step size, where the
    attention is sharply peaked (SPEC THM-MAIN-v1's limit): rounding is hardest here.
    Each label gives 1 - A_{p,a} (median, max) over the avoidable events (LEM-G11)."""
    out = []
    for label, traj in _trained(ctx.cache("trajectories")):
        batch = exact_batch(traj.instance)
        avoidable = batch.mask & ~unavoidable(traj.instance, batch)
        for index in sorted({len(traj.step) // 2, len(traj.step) - 1}):
            Phi, Ups = coords_at(traj, index)
            ev = events(Phi, Ups, traj.instance, batch)
            gap = (1 - ev.A.gather(2, ev.a.unsqueeze(-1)).squeeze(-1))[avoidable]
            out.append((Case(traj.instance, Phi, Ups),
                        f"{label}, step {int(traj.step[index])}, 1 - A_(p,a) median {float(gap.median()):.2g} "
                        f"max {float(gap.max()):.2g}"))
    return out
