"""Trajectory claims: each true claim is not refuted on a real (tiny) GD run and
its planted wrong variant is REFUTED; a diverged run is INCONCLUSIVE; the cache
never retrains and survives a corrupt file."""

import numpy as np
import pytest
import sympy as sp

from proofcheck.setting import trajcache
from proofcheck.engine import trajclaim
from proofcheck.setting.symmetry import feature_permutation
from proofcheck.checks.theorem import AreaWide, Diversity, Phases, ScalingStudy
from proofcheck.checks.trajectory import DecouplingAlongTraining, SpanAlongTraining, SymmetryAlongTraining, TargetFPMonotone
from proofcheck.setting.runs import Run
from proofcheck.checks.probe import TrainCase, TrajectoryProbe
from proofcheck.errors import TrainingDiverged
from proofcheck.setting.instance import balanced, fixture_6, global_local
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


def test_thm_main_area_wide_reached_and_planted_never(ctx):
    claim = AreaWide(B4)
    good = only(claim, ctx)
    assert good.verdict is Verdict.VERIFIED and good.evidence["T_star"] is not None
    assert good.evidence["final_fraction"]["value"] >= 0.95
    bad = only(claim.mutated(quantifier="never"), ctx)
    assert bad.verdict is Verdict.REFUTED and bad.counterexample["step"] <= good.evidence["T_star"]


def test_thm_main_not_reached_is_inconclusive_not_verified(ctx):
    short = {QUICK: [Run(balanced(4, N=2), TrainConfig(steps=4, eta=1.0, log_every=2))]}
    r = only(AreaWide(short), ctx)
    assert r.verdict is Verdict.INCONCLUSIVE and "not reached" in r.summary


GL = {QUICK: [Run(global_local(6), TrainConfig(steps=60, eta=20.0, log_every=4), eval_samples=512)]}


def test_thm_mae_phases_and_planted_collapse(ctx):
    claim = Phases(GL)
    good = only(claim, ctx)
    assert good.verdict is not Verdict.REFUTED
    rows = good.evidence["rows"]
    local = [r for r in rows if r["kind"] == "local"]
    assert local and all(r["phase1"] for r in local)                    # Phase I seen at every local (p, k)
    assert all(r["t1"] == 0 for r in rows if r["kind"] == "global")     # one phase for global positions
    bad = only(claim.mutated(claim="collapse"), ctx)
    assert bad.verdict is Verdict.REFUTED
    assert bad.counterexample["target_mass"] > bad.counterexample["global_mass"]


def test_diversity_ideal_vs_planted_collapse(ctx):
    claim = Diversity(B4, level="areas")
    good = only(claim, ctx)
    assert good.evidence["D_collapsed"] == pytest.approx(0.0, abs=1e-12)
    assert good.evidence["D_at_start"]["value"] == pytest.approx(0.0, abs=1e-12)    # Q = 0: every query alike
    assert good.verdict is Verdict.VERIFIED
    assert only(claim.mutated(reference="collapsed"), ctx).verdict is Verdict.REFUTED


def test_scaling_study_fits_and_planted_flat(ctx, monkeypatch):
    """The fit logic on T* values planted through evaluate (T* = 10 P^2 / eta exactly)."""
    runs = {QUICK: [Run(balanced(P, N=P // 2), TrainConfig(steps=1, eta=eta)) for P in (2, 4, 6, 8)
                      for eta in (1.0, 2.0)]}

    def planted(self, lemma, traj, run, ctx):
        T = 10 * run.instance.P**2 / run.config.eta * (1 + 0.01 * (run.instance.P % 3))
        return self.result(lemma, run, Verdict.VERIFIED, "planted", evidence={"T_star": T})

    monkeypatch.setattr(ScalingStudy, "evaluate", planted)
    r = only(ScalingStudy(runs), ctx)
    a, alo, ahi = r.evidence["fit"]["coef"][0], r.evidence["fit"]["lo"][0], r.evidence["fit"]["hi"][0]
    assert r.verdict is Verdict.VERIFIED and alo < 2 < ahi and abs(a - 2) < 0.05
    assert only(ScalingStudy(runs, claim="flat-in-P"), ctx).verdict is Verdict.REFUTED


def test_scaling_study_on_real_runs_is_decided(ctx):
    runs = {QUICK: [Run(balanced(P, N=P // 2), TrainConfig(steps=40, eta=200.0, log_every=4)) for P in (4, 6)]
            + [Run(balanced(4, N=2), TrainConfig(steps=40, eta=300.0, log_every=4))]}
    r = only(ScalingStudy(runs, eps=0.2, fraction=0.9), ctx)
    assert r.verdict in (Verdict.VERIFIED, Verdict.REFUTED, Verdict.INCONCLUSIVE)
    assert len(r.evidence["runs"]) == 3 and all(row["T_star"] for row in r.evidence["runs"])


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
    monkeypatch.setattr(trajcache, "train", no_training)
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


def test_trajectory_probe_attributes_failures_to_the_violation(ctx):
    """z touching 0 must break area-wide attention on a case where it is otherwise reached."""
    from hypothesis import strategies as st

    from proofcheck.lang.lemma import Assumption
    from proofcheck.setting.instance import Cluster, ZLaw

    def inside():
        return st.sampled_from([TrainCase(balanced(4, N=2), 200.0)])

    def zero(c):
        z = ZLaw(values=(0.0, 1.5))
        cl = tuple(Cluster(k.weight, k.areas, (z,) * len(k.areas)) for k in c.instance.clusters)
        return TrainCase(c.instance.with_options(clusters=cl), c.eta)

    lemma = Lemma("THM-TEST-PROBE", "probe test", Provenance("SPEC test", "R"), sp.Integer(0),
                  [TrajectoryProbe(steps=40)],
                  [Assumption("z-positive", "z >= 0.25", lambda c: c.instance.z_lower >= 0.25, inside, zero)])
    inside_r, outside_r = lemma.claims[0].check(lemma, ctx)
    assert inside_r.verdict is Verdict.VERIFIED and inside_r.affects_verdict
    assert outside_r.verdict is Verdict.REFUTED and not outside_r.affects_verdict
    assert "area_wide_reached" in outside_r.evidence["failing_conclusions"]
