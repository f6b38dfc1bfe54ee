"""The GPU path: the same trajectory checks on CUDA give the CPU's verdicts and
numbers (float64 on both).  Skipped cleanly without CUDA."""
import numpy as np
import pytest
import sympy as sp
import torch

from proofcheck.checks.theorem import AreaWide
from proofcheck.setting.runs import Run
from proofcheck.verdict import Verdict
from proofcheck.setting.instance import balanced
from proofcheck.context import CheckContext, QUICK
from proofcheck.lang.lemma import Lemma, Provenance
from proofcheck.setting.trainer import TrainConfig, train

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_cuda_trajectory_matches_cpu():
    inst, cfg = balanced(8), TrainConfig(steps=30, eta=200.0, log_every=5)
    cpu = train(inst, TrainConfig(**{**cfg.__dict__, "device": "cpu"}))
    gpu = train(inst, TrainConfig(**{**cfg.__dict__, "device": "cuda"}))
    assert gpu.meta["device"].startswith("cuda")
    np.testing.assert_allclose(gpu.phi, cpu.phi, rtol=1e-9, atol=1e-9)


def test_area_wide_on_cuda_with_larger_P(tmp_path):
    runs = {QUICK: [Run(balanced(64), TrainConfig(steps=60, eta=200.0, log_every=5, eval_samples=2048),
                             eval_samples=4096)]}
    claim = AreaWide(runs)
    lemma = Lemma("THM-CUDA-TEST", "cuda", Provenance("SPEC §9.1", "R"), sp.Integer(0), [claim])
    [r] = claim.check(lemma, CheckContext(budget=QUICK, cache_dir=tmp_path, device="cuda"))
    assert r.evidence["device"].startswith("cuda")
    assert r.verdict in (Verdict.VERIFIED, Verdict.INCONCLUSIVE)
    if r.verdict is Verdict.VERIFIED:
        [never] = claim.mutated(quantifier="never").check(lemma, CheckContext(budget=QUICK,
                                                                             cache_dir=tmp_path, device="cuda"))
        assert never.verdict is Verdict.REFUTED
