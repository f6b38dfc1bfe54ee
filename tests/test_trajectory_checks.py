"""Trajectory claims: each true claim is not refuted on a real (tiny) GD run and
its planted wrong variant is REFUTED; a diverged run is INCONCLUSIVE; the cache
never retrains and survives a corrupt file."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from proofcheck.setting import trainer, trajcache
from proofcheck.engine import trajclaim
from proofcheck.setting.symmetry import feature_permutation
from proofcheck.checks.theorem import AreaWide, Diversity
from proofcheck.checks.trajectory import (DecouplingAlongTraining, FullModelAgreement, SpanAlongTraining,
                                          SymmetryAlongTraining, TargetFPMonotone)
from proofcheck.setting.runs import Run
from proofcheck.checks.probe import TrainCase, TrajectoryProbe
from proofcheck.errors import TrainingDiverged
from proofcheck.setting.instance import balanced, fixture_6
from proofcheck.context import CheckContext, FULL, QUICK
from proofcheck.lang.lemma import Lemma, Provenance
from proofcheck.engine.session import run_lemma
from proofcheck.setting.trainer import TrainConfig, Trajectory
from proofcheck.verdict import Verdict


def lemma_of(*claims, tag="D"):
    return Lemma("LEM-TEST-TRAJ", "test lemma", Provenance("SPEC test", tag), sp.Integer(0), list(claims))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return CheckContext(budget=QUICK, cache_dir=tmp_path_factory.mktemp("cache"), device="cpu")


def only(claim, ctx):
    [r] = claim.check(lemma_of(claim), ctx)
    return r


B4 = {QUICK: [Run(balanced(4, N=2), TrainConfig(steps=40, eta=200.0, log_every=2), eval_samples=512)]}


def test_lem_g5_monotone_and_planted_decrease(ctx):
    claim = TargetFPMonotone(B4)
    good = only(claim, ctx)
    assert good.verdict is Verdict.VERIFIED and good.tolerance["justification"]
    bad = only(claim.mutated(direction="nonincreasing"), ctx)
    assert bad.verdict is Verdict.REFUTED
    assert bad.counterexample["phi_to"] > bad.counterexample["phi_from"]


def test_lem_g2_span_from_zero_and_planted_random_start(ctx):
    def runs(init):
        return {QUICK: [Run(fixture_6(basis="rotated"),
                                 TrainConfig(steps=12, eta=5.0, log_every=3, parametrisation="full", init=init))]}
    assert only(SpanAlongTraining(runs("zero")), ctx).verdict is Verdict.VERIFIED
    assert only(SpanAlongTraining(runs("random")), ctx).verdict is Verdict.REFUTED   # planted
    conserved = only(SpanAlongTraining(runs("random"), measure="conserved"), ctx)
    assert conserved.verdict is Verdict.VERIFIED
    assert conserved.evidence["off_span_end"] < conserved.evidence["off_span_start"]     # in-span part grew
    coords = {QUICK: [Run(fixture_6(), TrainConfig(steps=3, eta=5.0))]}
    assert only(SpanAlongTraining(coords), ctx).verdict is Verdict.INCONCLUSIVE


def test_lem_g3_row_decoupling_and_planted_own_row(ctx):
    claim = DecouplingAlongTraining(B4)
    assert only(claim, ctx).verdict is Verdict.VERIFIED
    assert only(claim.mutated(perturb="own"), ctx).verdict is Verdict.REFUTED


def test_feature_permutations_of_balanced():
    inst = balanced(4, N=2)           # cluster 1 {0,1},{2,3}; cluster 2 {0,2},{1,3}
    assert feature_permutation(inst, [1, 0, 3, 2]) is not None      # swaps within both partitions
    assert feature_permutation(inst, [0, 1, 3, 2]) is None          # breaks cluster 2's areas
    assert feature_permutation(inst, [0, 2, 1, 3]) is None          # maps cluster 1's area {0,1} to {0,2}


def test_lem_g9_symmetry_and_planted_false_symmetry(ctx):
    claim = SymmetryAlongTraining(B4)
    good = only(claim, ctx)
    assert good.verdict is Verdict.VERIFIED and good.evidence["symmetries_checked"] >= 1
    # positions 0 and 1 share an area in cluster 1 but not in cluster 2: swapping them alone is no symmetry
    bad = only(claim.mutated(forced=[([1, 0, 2, 3], [0, 1, 2, 3])]), ctx)
    assert bad.verdict is Verdict.REFUTED
    mc = {QUICK: [Run(balanced(16), TrainConfig(steps=2, eta=5.0, eval_samples=64))]}
    assert only(claim.mutated(runs=mc), ctx).verdict is Verdict.INCONCLUSIVE


def _flip_nontarget_fp(Phi, Ups, inst, batch):
    """LEM-G6's sign flipped: the non-target FP gradient entries change sign, the target ones (LEM-G5) do
    not, so TargetFPMonotone alone cannot see it."""
    loss, gPhi, gUps = _closed_form(Phi, Ups, inst, batch)
    target = torch.zeros_like(gPhi, dtype=torch.bool)
    for k in range(inst.K):
        target[torch.arange(inst.P), inst.feature_of[k]] = True
    return loss, torch.where(target, gPhi, -gPhi), gUps


def _drop_last_cluster_fp(Phi, Ups, inst, batch):
    """The FP gradient without the last cluster's events (a dropped term of LEM-G4's sum over k)."""
    loss, gPhi, gUps = _closed_form(Phi, Ups, inst, batch)
    gPhi = gPhi.clone()
    gPhi[:, inst.feature_offset[-1]:] = 0
    return loss, gPhi, gUps


_closed_form = trainer.grad_coords_closed_form


@pytest.mark.parametrize("freeze_pp", [False, True])
@pytest.mark.parametrize("wrong", [_flip_nontarget_fp, _drop_last_cluster_fp])
def test_full_model_agreement_catches_a_wrong_closed_form(wrong, freeze_pp, monkeypatch):
    """The coordinate trainer agrees with autograd of the d x d model to rounding, and a wrong closed form
    planted in the trainer is REFUTED from the first logged step it acts on (no cache: a cached coordinate
    run would come from the correct code)."""
    ctx = CheckContext(budget=QUICK, cache_dir=None, device="cpu")
    runs = {QUICK: [Run(balanced(4, N=2), TrainConfig(steps=20, eta=20.0, log_every=2, freeze_pp=freeze_pp))]}
    claim = FullModelAgreement(runs)
    good = only(claim, ctx)
    assert good.verdict is Verdict.VERIFIED and good.evidence["max_relative_deviation"] < 1e-13
    assert good.evidence["parametrisation"] == "coords"
    assert good.evidence["full_model_run"]["parametrisation"] == "full"
    assert good.tolerance["justification"]
    assert only(claim.mutated(lag=1), ctx).verdict is Verdict.REFUTED             # planted
    monkeypatch.setattr(trainer, "grad_coords_closed_form", wrong)
    bad = only(claim, ctx)
    assert bad.verdict is Verdict.REFUTED and bad.counterexample["step"] == 2
    assert bad.evidence["full_model_run"]["parametrisation"] == "full"


def test_full_model_agreement_needs_coordinate_runs_from_zero():
    from proofcheck.errors import LemmaFileError
    with pytest.raises(LemmaFileError, match="coordinate GD from Q"):
        FullModelAgreement({QUICK: [Run(balanced(4, N=2), TrainConfig(steps=2, parametrisation="full"))]})


FLOW8 = {QUICK: [Run(balanced(8), TrainConfig(steps=10**6, eta=1.0, gradient="population", solver="BDF",
                                              log_points=40), eval_samples=512)]}


def test_thm_main_area_wide_reached_and_planted_never(ctx):
    claim = AreaWide(FLOW8)
    good = only(claim, ctx)
    assert good.verdict is Verdict.VERIFIED and good.evidence["T_star"] is not None
    assert good.evidence["final_fraction"]["value"] >= 0.95
    assert good.evidence["solver"]["method"] == "BDF" and good.evidence["time_T_star"] == good.evidence["T_star"]
    lo, hi = good.evidence["time_T_star_bracket"]
    assert lo < good.evidence["time_T_star"] == hi
    bad = only(claim.mutated(quantifier="never"), ctx)
    assert bad.verdict is Verdict.REFUTED and bad.counterexample["step"] <= good.evidence["T_star"]


def test_thm_main_outside_the_small_step_regime_is_inconclusive(ctx):
    """eta = 200 moves the logits by ~10 per step (max_logit_step > 0.1): SPEC DEF-GD's regime is left, so
    the theorem check says why instead of judging, and the regime fields are in the evidence."""
    r = only(AreaWide(B4), ctx)
    assert r.verdict is Verdict.INCONCLUSIVE and "small-step regime" in r.summary
    assert r.evidence["max_logit_step"] > 0.1 and r.evidence["eta"] == 200.0 and not r.evidence["small_step"]
    assert {"parametrisation", "exactness", "key_set"} <= set(r.evidence)


def test_thm_main_not_reached_is_inconclusive_not_verified(ctx):
    short = {QUICK: [Run(balanced(4, N=2), TrainConfig(steps=4, eta=1.0, log_every=2))]}
    r = only(AreaWide(short), ctx)
    assert r.verdict is Verdict.INCONCLUSIVE and "not reached" in r.summary


def test_diversity_ideal_vs_planted_collapse(ctx):
    claim = Diversity(B4, level="areas")
    good = only(claim, ctx)
    assert good.evidence["D_collapsed"] == pytest.approx(0.0, abs=1e-12)
    assert good.evidence["D_at_start"]["value"] == pytest.approx(0.0, abs=1e-12)    # Q = 0: every query alike
    assert good.verdict is Verdict.VERIFIED
    assert only(claim.mutated(reference="collapsed"), ctx).verdict is Verdict.REFUTED


def test_diverged_training_is_inconclusive_naming_the_step(ctx, monkeypatch):
    def boom(inst, cfg, cache_dir, progress=None):
        raise TrainingDiverged(7, "loss is nan (eta = 1e9)")
    monkeypatch.setattr(trajclaim, "cached_train", boom)
    r = only(TargetFPMonotone(B4), ctx)
    assert r.verdict is Verdict.INCONCLUSIVE and "step 7" in r.summary and r.evidence["diverged_at_step"] == 7


def test_budget_without_runs_is_inconclusive(ctx):
    r = only(TargetFPMonotone({FULL: B4[QUICK]}), ctx)
    assert r.verdict is Verdict.INCONCLUSIVE


def test_cache_reuses_and_survives_corruption(tmp_path, monkeypatch):
    inst, cfg = balanced(4, N=2), TrainConfig(steps=5, eta=10.0, log_every=1)
    first = trajcache.cached_train(inst, cfg, tmp_path)
    assert not first.cached and first.path.exists()
    assert trajcache.cache_key(inst, cfg) == trajcache.cache_key(inst, TrainConfig(steps=5, eta=10.0, log_every=1,
                                                                                     device="cuda"))
    assert trajcache.cache_key(inst, cfg) != trajcache.cache_key(inst, TrainConfig(steps=5, eta=11.0, log_every=1))

    def no_training(*a, **k):
        raise AssertionError("retrained although the trajectory is cached")
    monkeypatch.setattr(trajcache, "trajectory", no_training)
    again = trajcache.cached_train(inst, cfg, tmp_path)
    assert again.cached and np.array_equal(again.trajectory.phi, first.trajectory.phi)
    monkeypatch.undo()
    first.path.write_bytes(first.path.read_bytes()[:100])          # truncated file
    with pytest.warns(RuntimeWarning, match="retraining"):
        healed = trajcache.cached_train(inst, cfg, tmp_path)
    assert not healed.cached and np.array_equal(healed.trajectory.phi, first.trajectory.phi)
    assert Trajectory.load(first.path).step.size == first.trajectory.step.size


def test_same_seed_same_result(tmp_path):
    claim = AreaWide(B4)
    results = [run_lemma(lemma_of(claim, tag="R"), CheckContext(budget=QUICK, cache_dir=None,
                                                                 device="cpu")).checks[0] for _ in range(2)]
    a, b = (r.to_dict() for r in results)
    for d in (a, b):
        d.pop("timing_s")
        for k in ("train_s", "cached"):
            d["evidence"].pop(k)
    assert a == b


def _probe_lemma(probe):
    """balanced P = 4 at eta = 200 inside; its violated copy has z touching 0."""
    from hypothesis import strategies as st

    from proofcheck.lang.lemma import Assumption
    from proofcheck.setting.instance import Cluster, ZLaw

    def inside():
        return st.sampled_from([TrainCase(balanced(4, N=2), 200.0)])

    def zero(c):
        z = ZLaw(values=(0.0, 1.5))
        cl = tuple(Cluster(k.weight, k.areas, (z,) * len(k.areas)) for k in c.instance.clusters)
        return TrainCase(c.instance.with_options(clusters=cl), c.eta)

    return Lemma("THM-TEST-PROBE", "probe test", Provenance("SPEC test", "R"), sp.Integer(0), [probe],
                 [Assumption("z-positive", "z >= 0.25", lambda c: c.instance.z_lower >= 0.25, inside, zero)])


def test_trajectory_probe_attributes_failures_to_the_violation(ctx):
    """z touching 0 must break area-wide attention on a case where it is otherwise reached."""
    lemma = _probe_lemma(TrajectoryProbe(t_star=8000.0, t_star_source="test"))
    inside_r, outside_r = lemma.claims[0].check(lemma, ctx)
    assert inside_r.verdict is Verdict.VERIFIED and inside_r.affects_verdict
    assert outside_r.verdict is Verdict.REFUTED and not outside_r.affects_verdict
    assert "area_wide_reached" in outside_r.evidence["failing_conclusions"]


def test_trajectory_probe_budget_follows_from_t_star(ctx):
    """Inside: factor x the estimate, in steps at the case's eta, the run stopping where the pattern is reached
    (past min_steps); the violated copy: factor x the T* measured on its inside case, trained to the end when it
    never reaches the pattern.  Doubling the estimate doubles the inside budget."""
    probe = TrajectoryProbe(t_star=8000.0, t_star_source="a stated estimate", factor=10.0, min_steps=10)
    inside_r, outside_r = probe.check(_probe_lemma(probe), ctx)
    assert inside_r.evidence["step_budget"]["t_star_estimate"] == 8000.0
    assert inside_r.evidence["step_budget"]["t_star_source"] == "a stated estimate"
    [own] = inside_r.evidence["runs"]
    assert own["budget"]["steps"] == 400 and own["budget"]["time"] == 80000.0          # ceil(10 * 8000 / 200)
    assert own["time_T_star"] is not None and own["steps_trained"] < 400              # stopped once reached
    assert own["steps_trained"] >= 10 and own["time_T_star"] <= 200.0 * own["steps_trained"]
    violated = next(r for r in outside_r.evidence["runs"] if r is not own and r["budget"] != own["budget"])
    assert violated["budget"]["steps"] == math.ceil(10 * own["time_T_star"] / 200.0)
    assert "measured on the same case" in violated["budget"]["source"]
    assert violated["steps_trained"] == violated["budget"]["steps"] and violated["time_T_star"] is None
    assert inside_r.evidence["slower_than_estimate"] == []
    # the pattern forms after one step (time 200): an estimate of half a step is stale, and says so
    tight = TrajectoryProbe(t_star=100.0, t_star_source="too small", factor=400.0, min_steps=10)
    assert tight.check(_probe_lemma(tight), ctx)[0].evidence["slower_than_estimate"] == [own["case"]]
    doubled = probe.budget(TrainCase(balanced(4, N=2), 200.0), 16000.0, "x")
    assert doubled["steps"] == 2 * own["budget"]["steps"]


def test_trajectory_probe_over_its_cap_says_so_instead_of_truncating(ctx):
    probe = TrajectoryProbe(t_star=1e9, t_star_source="a far too large estimate", max_steps=1000)
    inside_r, outside_r = probe.check(_probe_lemma(probe), ctx)
    for r in (inside_r, outside_r):
        assert r.verdict is Verdict.INCONCLUSIVE and "over the cap of 1000" in r.summary
        assert r.counterexample["step_budget"]["steps"] == 50_000_000 and r.evidence["runs"] == []


# -- THM-MAIN-v1 in its regime (proofcheck.checks.theorem_regime) ------------------------------------

def _flow8(ks, horizon, points=60):
    return Run(balanced(8, key_set=ks), TrainConfig(steps=int(horizon), eta=1.0, gradient="population",
                                                    solver="BDF", log_points=points), eval_samples=512)


def _gd8(ks, eta, horizon, every):
    return Run(balanced(8, key_set=ks), TrainConfig(steps=int(horizon / eta), eta=eta, gradient="population",
                                                    log_every=every), eval_samples=512)


def test_step_agreement_flow_and_small_gd_agree_and_planted_factor_refuted(ctx):
    """GD at eta = 0.5 is the Euler scheme of the flow (max_logit_step < 0.1): its time to T*(0.2) is the
    flow's; a claimed factor 2 between them must miss; GD at eta = 8 leaves the small-step regime."""
    from proofcheck.checks.theorem_regime import StepAgreement
    runs = {QUICK: [_flow8("A", 700, 120), _gd8("A", 0.5, 700, 8)]}
    good = only(StepAgreement(runs), ctx)
    assert good.verdict is Verdict.VERIFIED, good.summary
    flow, gd = good.evidence["runs"]
    assert flow["flow"] and gd["max_logit_step"] <= 0.1
    assert abs(gd["time_T_star"] / flow["time_T_star"] - 1) <= 0.1
    assert only(StepAgreement(runs, scale=2.0), ctx).verdict is Verdict.REFUTED
    big = only(StepAgreement({QUICK: [_flow8("A", 700, 120), _gd8("A", 8.0, 700, 1)]}), ctx)
    assert big.verdict is Verdict.INCONCLUSIVE and "small-step" in big.summary


def test_target_log_growth_and_planted_bounded(ctx):
    """T*(eps) comes later for smaller eps and the target correlation is then larger (A_{p,a} >= 1 - eps
    needs a logit gap of at least log((1 - eps) / eps) over the other areas): the slope on log(1/eps) is
    positive, and the planted 'does not grow' is refuted."""
    from proofcheck.checks.theorem_regime import TargetLogGrowth
    runs = {QUICK: [_flow8("A", 2e5)]}
    claim = TargetLogGrowth(runs, eps_values=(0.3, 0.2, 0.1, 0.05))
    r = only(claim, ctx)
    assert r.verdict is Verdict.VERIFIED, r.summary
    pts = sorted(r.evidence["points"], key=lambda p: -p["eps"])
    assert all(a["target_phi"] < b["target_phi"] and a["time_T_star"] < b["time_T_star"]
               for a, b in zip(pts, pts[1:]))
    assert r.evidence["fit"]["slope_lo"] > 0
    assert only(claim.mutated(claim="bounded"), ctx).verdict is Verdict.REFUTED


def test_correlation_drift_after_t_star(ctx):
    """Key set A, two areas per cluster, Q(0) = 0: the softmax over one row's features sees only the gap
    between the target and non-target correlations, so the non-target one falls as the target one grows
    (like log t): drift over [T*, 100 T*] exceeds 1 and keeps its pace (REFUTED), while the non-target
    masses stay below eps (the statement that holds); a planted mass bound of 1e-6 is refuted, a generous
    correlation bound is met, and a run that stops before 100 T* is INCONCLUSIVE (budget)."""
    from proofcheck.checks.theorem_regime import CorrelationDrift
    runs = {QUICK: [_flow8("A", 2e7)]}
    fp = only(CorrelationDrift(runs, which="fp"), ctx)
    assert fp.verdict is Verdict.REFUTED and fp.evidence["drift"] > 1 and fp.evidence["second_half"] >= \
        fp.evidence["first_half"] / 2
    assert only(CorrelationDrift(runs, which="fp", bound=50.0), ctx).verdict is Verdict.VERIFIED
    mass = only(CorrelationDrift(runs, which="mass", bound=0.05), ctx)
    assert mass.verdict is Verdict.VERIFIED and mass.evidence["max_nontarget_mass"] <= 0.05
    assert only(CorrelationDrift(runs, which="mass", bound=1e-6), ctx).verdict is Verdict.REFUTED
    short = only(CorrelationDrift({QUICK: [_flow8("A", 1e5)]}, which="fp"), ctx)
    assert short.verdict is Verdict.INCONCLUSIVE and "budget ran out" in short.summary
