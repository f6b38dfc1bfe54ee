"""The real-image check of EXP-1 on scikit-learn's bundled digits: the loader on the real data, the patches,
the model at Q = 0, and the check with its planted reverse."""
import numpy as np
import pytest
import sympy as sp
import torch

from proofcheck.checks.contrast import DigitsDiversity
from proofcheck.context import FULL, QUICK, CheckContext
from proofcheck.errors import UsageError
from proofcheck.lang.lemma import Lemma, Provenance
from proofcheck.setting.contrastive import CLConfig
from proofcheck.setting.digits import (DigitsAttention, DigitsConfig, load_digits, mae_loss, neighbourhood_attention,
                                       split, to_patches, train)
from proofcheck.verdict import Verdict


def test_loader_reads_the_real_bundled_digits():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert images.min() == 0.0 and images.max() == 1.0          # counts 0..16 scaled by 1/16
    assert set(np.unique(labels)) == set(range(10))
    assert 170 <= np.bincount(labels).min() and np.bincount(labels).max() <= 190   # about 180 per digit
    # the UCI digits have blank left and right borders: column 0 is almost always 0
    assert (images[:, :, 0] == 0).mean() > 0.9


def test_patches_are_row_major_squares():
    img = np.arange(64, dtype=float).reshape(1, 8, 8)
    p = to_patches(img, 2)
    assert p.shape == (1, 16, 4)
    assert p[0, 0].tolist() == [0, 1, 8, 9] and p[0, 1].tolist() == [2, 3, 10, 11] and p[0, 4].tolist() == [16, 17, 24, 25]
    assert to_patches(img, 4).shape == (1, 4, 16)
    with pytest.raises(UsageError, match="patch size"):
        to_patches(img, 3)


def test_model_at_q_zero_attends_uniformly_and_mae_loss_by_hand():
    model = DigitsAttention(4, 1, 3, [torch.Generator().manual_seed(0)])
    x = torch.tensor([[[1.0], [2.0], [3.0], [4.0]]], dtype=torch.float64)
    mask = torch.tensor([[True, False, False, True]])
    assert torch.allclose(model.attention(x, mask), torch.full((1, 1, 4, 4), 0.25, dtype=torch.float64))
    # F_p = (0 + 2 + 3 + 0) / 4 = 1.25 for every p; loss = 1/2 ((1.25 - 1)^2 + (1.25 - 4)^2)
    assert float(mae_loss(model, x, mask).detach()[0]) == pytest.approx(0.5 * (0.25**2 + 2.75**2), rel=1e-14)


@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_models_trained_side_by_side_equal_models_trained_alone(objective):
    # the batched models must not interact: seed 5 trained with seeds 3 and 4 equals seed 5 trained alone
    cfg = DigitsConfig(steps=15, batch=32, test=50, cl=CLConfig(negatives=7, groups=4))
    together, alone = train(objective, cfg, [3, 4, 5]), train(objective, cfg, [5])
    for name in ("W", "pos", "Q"):
        assert torch.allclose(getattr(together, name)[2], getattr(alone, name)[0], rtol=1e-12, atol=1e-14), name
    assert not torch.allclose(together.W[0], together.W[2])            # and the seeds do differ


def test_split_is_fixed_and_disjoint():
    tr, te = split(1797, 400)
    assert len(te) == 400 and len(set(tr) | set(te)) == 1797
    assert (split(1797, 400)[1] == te).all()


def test_neighbourhood_reference_is_a_distribution():
    ref = neighbourhood_attention(torch.zeros(2, 16, dtype=torch.bool))
    assert torch.allclose(ref.sum(-1), torch.ones(2, 16, dtype=torch.float64))
    assert float(ref[0, 0, 0]) == pytest.approx(1 / 4) and float(ref[0, 5, 0]) == pytest.approx(1 / 9)


def test_config_errors():
    with pytest.raises(UsageError, match="multiple"):
        DigitsConfig(batch=100, cl=CLConfig(negatives=15))
    with pytest.raises(UsageError, match="gamma"):
        DigitsConfig(gamma=1.0)


def run(claim, budget=QUICK):
    lemma = Lemma(id="EXP-X-DIGITS", title="t", provenance=Provenance("SPEC §10", "R"), statement=sp.S(0),
                  claims=[claim])
    return claim.check(lemma, CheckContext(budget=budget))[0]


def test_the_check_and_its_planted_reverse_on_real_digits():
    plans = {QUICK: DigitsConfig(seeds=(0, 1, 2), steps=120, batch=128, test=200,
                                 cl=CLConfig(negatives=7, groups=16))}
    good = run(DigitsDiversity(plans))
    assert good.verdict == Verdict.VERIFIED, good.summary
    assert run(DigitsDiversity(plans, direction="cl")).verdict == Verdict.REFUTED
    assert run(DigitsDiversity(plans), FULL).verdict == Verdict.INCONCLUSIVE     # no plan for that budget
