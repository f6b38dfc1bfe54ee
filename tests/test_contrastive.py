"""The CL objective (SPEC §9.3 [R]): InfoNCE by hand, its gradient three ways (closed form, autograd of the
coordinates and of the d x d model, central finite differences), the span of LEM-G2, CL training."""
import math
from dataclasses import replace

import pytest
import torch

from proofcheck.errors import UsageError
from proofcheck.setting.contrastive import (CLConfig, cached_train_cl, gap_instance, grad_autograd, grad_closed_form,
                                            info_nce, information_gap, loss_coords, loss_full, train_cl, views)
from proofcheck.setting.coords import fp_correlation, off_span_fraction, pp_correlation, q_from_coords
from proofcheck.setting.instance import fixture_6
from proofcheck.setting.trainer import TrainConfig, Trajectory
from proofcheck.tolerance import EPS, Tolerance

CONFIGS = [CLConfig(negatives=3, groups=3, similarity=s, pooling=p, symmetric=sym, view_gamma=vg)
           for s, p, sym, vg in [("dot", "all", True, (None, None)), ("cosine", "all", True, (None, None)),
                                 ("dot", "masked", False, (0.3, 0.6)), ("cosine", "masked", True, (None, 0.5))]]


def point(inst, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(inst.P, inst.F, dtype=torch.float64, generator=g),
            torch.randn(inst.P, inst.P, dtype=torch.float64, generator=g))


def test_info_nce_by_hand():
    # two images with orthonormal representations equal in both views: per anchor
    # -log(e^{1/tau} / (e^{1/tau} + e^0)), for each direction
    tau = 0.5
    h = torch.eye(2, dtype=torch.float64)
    cl = CLConfig(negatives=1, groups=1, temperature=tau)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 1))
    assert float(info_nce(h, h, cl)) == pytest.approx(expected, rel=1e-14)
    # cosine similarity ignores the scale of h; the dot product does not
    assert float(info_nce(3 * h, h, replace(cl, similarity="cosine"))) == pytest.approx(expected, rel=1e-14)
    assert float(info_nce(3 * h, h, cl)) < expected


@pytest.mark.parametrize("cl", CONFIGS, ids=lambda c: f"{c.similarity}-{c.pooling}-{c.view_gamma}")
def test_gradient_three_ways(cl):
    inst = fixture_6()
    v1, v2 = views(inst, cl, cl.images, torch.Generator().manual_seed(0))
    Phi, Ups = point(inst)
    loss, gPhi, gUps = grad_closed_form(Phi, Ups, inst, v1, v2, cl)
    loss_a, aPhi, aUps = grad_autograd(Phi, Ups, inst, v1, v2, cl)
    Q = q_from_coords(Phi, Ups, inst).requires_grad_(True)
    (gQ,) = torch.autograd.grad(loss_full(Q, inst, v1, v2, cl), Q)
    scale = max(float(gPhi.abs().max()), float(gUps.abs().max()))
    # closed form, coordinate autograd and d x d autograd sum the same terms in different orders
    tol = Tolerance(1e4 * EPS * scale, "float64 rounding of sums over <= 10^2 images x P^2 terms, "
                    "relative to the largest gradient entry")
    assert float(loss) == pytest.approx(float(loss_a), rel=1e-14)
    for ref_phi, ref_ups in ((aPhi, aUps), (fp_correlation(gQ, inst), pp_correlation(gQ, inst))):
        assert float((gPhi - ref_phi).abs().max()) <= tol.atol
        assert float((gUps - ref_ups).abs().max()) <= tol.atol
    # central differences: error h^2/6 |L'''| + eps |L| / h; with h = 1e-5 and |L'''| = O(1/tau^3) that
    # is <= 1e-8 here
    h = 1e-5
    fd_tol = Tolerance(1e-7 * max(1.0, scale), "central differences, h = 1e-5: truncation h^2 |L'''|/6 "
                       "with |L'''| <= 1e2/tau^3, plus rounding eps |L|/h")
    for grad, which in ((gPhi, 0), (gUps, 1)):
        for idx in [(0, 0), (2, 3), (5, 4), (3, 1)]:
            params = [Phi.clone(), Ups.clone()]
            params[which][idx] += h
            up = loss_coords(*params, inst, v1, v2, cl)
            params[which][idx] -= 2 * h
            down = loss_coords(*params, inst, v1, v2, cl)
            assert abs(float((up - down) / (2 * h)) - float(grad[idx])) <= fd_tol.atol


def test_gradient_lies_in_the_span_of_lem_g2():
    inst = fixture_6(basis="rotated", d=13)
    cl = CONFIGS[1]
    v1, v2 = views(inst, cl, cl.images, torch.Generator().manual_seed(0))
    Q = q_from_coords(*point(inst), inst).requires_grad_(True)
    (gQ,) = torch.autograd.grad(loss_full(Q, inst, v1, v2, cl), Q)
    assert off_span_fraction(gQ, inst) <= 1e3 * EPS


def test_training_keeps_every_query_row_equal_under_all_position_pooling():
    # [D] with w_p = 1/P the gradient of row p does not depend on p at equal rows, so from Q = 0
    # every query attends the same way at every step; masked pooling breaks that symmetry
    inst = gap_instance(8, 6, 2)
    cfg = TrainConfig(steps=30, eta=2.0, log_every=10)
    traj = train_cl(inst, cfg, CLConfig(groups=4))
    assert abs(traj.phi[-1] - traj.phi[-1][:1]).max() <= 1e3 * EPS * abs(traj.phi[-1]).max()
    assert abs(traj.phi[-1]).max() > 1e-3
    masked = train_cl(inst, cfg, CLConfig(groups=4, pooling="masked"))
    assert abs(masked.phi[-1] - masked.phi[-1][:1]).max() > 1e-6
    assert traj.meta["objective"] == "contrastive" and traj.meta["max_logit_step"] > 0


def test_cached_training_round_trips(tmp_path):
    inst = gap_instance(8, 6, 2)
    cfg, cl = TrainConfig(steps=5, eta=1.0, log_every=5), CLConfig(groups=2)
    first = cached_train_cl(inst, cfg, cl, tmp_path)
    again = cached_train_cl(inst, cfg, cl, tmp_path)
    assert not first.cached and again.cached
    assert (again.trajectory.phi == first.trajectory.phi).all()
    assert isinstance(Trajectory.load(first.path), Trajectory)
    assert not cached_train_cl(inst, cfg, replace(cl, temperature=0.5), tmp_path).cached


def test_information_gap_and_config_errors():
    assert information_gap(gap_instance(8, 6, 2)) == pytest.approx(0.5)
    assert information_gap(gap_instance(8, 2, 2)) == 0.0
    assert information_gap(gap_instance(8, 2, 3)) == pytest.approx(-1 / 8)
    with pytest.raises(UsageError, match="gap instance"):
        gap_instance(8, 3, 2)
    for bad in ({"temperature": 0}, {"negatives": 0}, {"similarity": "l2"}, {"pooling": "cls"},
                {"view_gamma": (0.5, 1.0)}):
        with pytest.raises(UsageError):
            CLConfig(**bad)
    with pytest.raises(UsageError, match="coordinates"):
        train_cl(gap_instance(8, 6, 2), TrainConfig(parametrisation="full"), CLConfig())


# -- the check kinds of THM-CL-v3 (proofcheck.checks.contrast) on short runs -------------------------------

from proofcheck.checks.contrast import Collapse, Contrast  # noqa: E402
from proofcheck.context import QUICK, CheckContext  # noqa: E402
from proofcheck.lang.lemma import Lemma, Provenance  # noqa: E402
from proofcheck.setting.runs import Run  # noqa: E402
from proofcheck.verdict import Verdict  # noqa: E402
import sympy as sp  # noqa: E402


def verdicts(claim, tmp_path):
    lemma = Lemma(id="THM-X-CL", title="test", provenance=Provenance("SPEC §9.3", "R"), statement=sp.S(0),
                  claims=[claim])
    return [r.verdict for r in claim.check(lemma, CheckContext(budget=QUICK, cache_dir=tmp_path))]


def short(steps=60, eta=4.0, g=6, loc=2):
    return {QUICK: [Run(gap_instance(8, g, loc), TrainConfig(steps=steps, eta=eta, log_every=20))]}


def test_cl_collapse_holds_in_its_checked_form_and_planted_local_collapse_is_refuted(tmp_path):
    cl = CLConfig(groups=8)
    assert verdicts(Collapse(short(), cl=cl), tmp_path) == [Verdict.VERIFIED]
    # planted: collapse onto a local area (area 2) instead of the global one
    assert verdicts(Collapse(short(), cl=cl, area=2), tmp_path) == [Verdict.REFUTED]


def test_collapse_claimed_for_mae_is_refuted(tmp_path):
    # MAE (eta = 20, as THM-MAE-v3's quick run): local queries turn to their own area and queries differ
    assert verdicts(Collapse(short(steps=100, eta=20.0), objective="mae"), tmp_path) == [Verdict.REFUTED]


def test_near_one_form_never_passes_on_a_moving_run(tmp_path):
    cl = CLConfig(groups=8)
    assert verdicts(Collapse(short(), cl=cl, form="near-one"), tmp_path) == [Verdict.INCONCLUSIVE]
    # the same run counted as stationary (any gradient) refutes the form: the mass is far below 1 - eps
    assert verdicts(Collapse(short(), cl=cl, form="near-one", stationary=1.0), tmp_path) == [Verdict.REFUTED]
    # a planted easy form (eps = 0.9, no condition on local correlations) holds
    assert verdicts(Collapse(short(), cl=cl, form="near-one", eps=0.9, local_ratio=1e9), tmp_path) == [Verdict.VERIFIED]


def test_contrast_and_its_planted_reverse(tmp_path):
    runs = short(steps=40)
    kw = dict(negatives={QUICK: (3,)}, cl=CLConfig(groups=8), mae_eta=0.8)
    assert verdicts(Contrast(runs, **kw), tmp_path) == [Verdict.VERIFIED]
    assert verdicts(Contrast(runs, direction="cl", **kw), tmp_path) == [Verdict.REFUTED]
    # only Delta <= 0 points: nothing is judged
    assert verdicts(Contrast(short(steps=40, g=2, loc=3), **kw), tmp_path) == [Verdict.INCONCLUSIVE]


def test_shared_pattern_alone_holds_for_cl_and_not_for_mae(tmp_path):
    assert verdicts(Collapse(short(), cl=CLConfig(groups=8), area=None), tmp_path) == [Verdict.VERIFIED]
    assert verdicts(Collapse(short(steps=100, eta=20.0), objective="mae", area=None), tmp_path) == [Verdict.REFUTED]
