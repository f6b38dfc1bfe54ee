"""PNG pictures: written, readable as PNG, and the attention maps they show are
conditional mean attention (rows are distributions; uniform 1/P at Q = 0, LEM-G10)."""
import numpy as np
import pytest

from proofcheck.engine import plots
from proofcheck.setting.instance import balanced, global_local
from proofcheck.setting.trainer import TrainConfig, train

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def traj():
    return train(global_local(6), TrainConfig(steps=10, eta=20.0, log_every=2, device="cpu"))


def test_attention_maps_are_distributions_and_uniform_at_start(traj):
    start = plots.mean_attention_maps(traj, 0)
    assert start.shape == (traj.instance.K, traj.instance.P, traj.instance.P)
    np.testing.assert_allclose(start, 1.0 / traj.instance.P, atol=1e-12)     # variant B at Q = 0
    end = plots.mean_attention_maps(traj, -1)
    np.testing.assert_allclose(end.sum(-1), 1.0, atol=1e-12)
    assert np.abs(end - start).max() > 1e-3                                   # training moved the pattern


def test_pngs_are_written_with_tagged_titles(traj, tmp_path):
    paths = [plots.plot_attention_maps(traj, tmp_path / "attn.png", "R", {"start": 0, "end": len(traj.step) - 1}),
             plots.plot_fp_trajectories(traj, tmp_path / "fp.png", "R"),
             plots.plot_mass_trajectories(traj, tmp_path / "mass.png", "R")]
    for p in paths:
        data = open(p, "rb").read()
        assert data.startswith(PNG) and len(data) > 5000
    assert not list(tmp_path.glob(".*.tmp"))                                  # atomic writes leave no temp files


def test_lemma_checks_record_their_plots(tmp_path):
    from proofcheck.context import CheckContext, QUICK
    from proofcheck.checks.theorem import AreaWide
    from proofcheck.setting.runs import Run
    import sympy as sp
    from proofcheck.lang.lemma import Lemma, Provenance

    runs = {QUICK: [Run(balanced(4, N=2), TrainConfig(steps=20, eta=200.0, log_every=4), eval_samples=256)]}
    claim = AreaWide(runs)
    lemma = Lemma("THM-PLOT-TEST", "plot test", Provenance("SPEC test", "R"), sp.Integer(0), [claim])
    ctx = CheckContext(budget=QUICK, plot_dir=tmp_path, device="cpu", lemma_id=lemma.id)
    [r] = claim.check(lemma, ctx)
    assert len(r.plots) == 2 and all(open(p, "rb").read().startswith(PNG) for p in r.plots)
    [r] = claim.check(lemma, CheckContext(budget=QUICK, plot_dir=None, device="cpu"))
    assert r.plots == []
