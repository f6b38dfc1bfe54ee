"""GD trainer (SPEC DEF-GD, LEM-G2): full d x d GD and GD in correlation
coordinates give the same trajectory; seeds, files, divergence and devices."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from proofcheck.setting import trainer
from proofcheck.setting.coords import fp_correlation, grad_coords, pp_correlation
from proofcheck.errors import TrainingDiverged, TrajectoryFileError, UsageError
from proofcheck.setting.instance import DTYPE, ZLaw, balanced, fixture_6
from proofcheck.setting.model import forward_loss
from proofcheck.setting.sampling import exact_batch
from proofcheck.setting.trainer import TrainConfig, Trajectory, train

# 50 steps of GD with eta = 2 on O(0.1) gradients: per-step rounding ~1e-16 grows at
# most by the Lipschitz constant of the step map, far below 1e-12 over 50 steps.
ATOL = 1e-12


@pytest.mark.parametrize("key_set", ["B", "A"])
def test_full_and_coordinate_gd_agree_along_50_steps(key_set):
    inst = fixture_6(key_set=key_set, basis="rotated", rotation_seed=2)
    common = dict(steps=50, eta=2.0, log_every=1, device="cpu")
    full = train(inst, TrainConfig(parametrisation="full", **common))
    crd = train(inst, TrainConfig(parametrisation="coords", **common))
    assert full.step.tolist() == list(range(51))
    assert np.abs(full.loss - crd.loss).max() < ATOL
    assert np.abs(full.phi - crd.phi).max() < ATOL
    assert np.abs(full.ups - crd.ups).max() < ATOL
    assert np.abs(full.mass - crd.mass).max() < ATOL
    assert full.loss[-1] < full.loss[0] - 1e-3, "GD made progress, so the comparison is not at a fixed point"
    assert np.abs(full.phi[-1]).max() > 0.1
    # LEM-G2: GD from Q(0) = 0 never leaves the span
    assert np.nanmax(full.off_span) < 1e-13
    assert np.isnan(crd.off_span).all()
    assert np.abs(full.final_q - trainer.q_at(crd).numpy()).max() < ATOL
    # the coordinate step is the full step read out (gradients compared at the last point)
    Phi, Ups = trainer.coords_at(crd)
    batch = exact_batch(inst)
    Q = torch.from_numpy(full.final_q).requires_grad_(True)
    (gQ,) = torch.autograd.grad(forward_loss(Q, inst, batch), Q)
    _, (gPhi, gUps) = trainer.loss_and_gradient([Phi, Ups], inst, batch, "coords")
    assert torch.allclose(gPhi, fp_correlation(gQ, inst), atol=ATOL)
    assert torch.allclose(gUps, pp_correlation(gQ, inst), atol=ATOL)


def test_one_step_is_q_minus_eta_grad():
    """DEF-GD from Q(0) = 0, computed here by autograd of the full model."""
    inst = fixture_6()
    eta = 0.7
    Q = torch.zeros(inst.d, inst.d, dtype=DTYPE, requires_grad=True)
    (g,) = torch.autograd.grad(forward_loss(Q, inst, exact_batch(inst)), Q)
    traj = train(inst, TrainConfig(steps=1, eta=eta, log_every=1, device="cpu"))
    assert np.abs(traj.phi[1] - fp_correlation(-eta * g, inst).numpy()).max() < 1e-15
    assert np.abs(traj.ups[1] - pp_correlation(-eta * g, inst).numpy()).max() < 1e-15
    assert traj.phi[0].tolist() == np.zeros((6, 5)).tolist()


def test_freeze_pp_trains_fp_correlations_only():
    inst = fixture_6()
    traj = train(inst, TrainConfig(steps=5, eta=1.0, log_every=1, freeze_pp=True, device="cpu"))
    assert np.all(traj.ups == 0)
    Phi = torch.zeros(6, 5, dtype=DTYPE)
    _, gPhi, _ = grad_coords(Phi, torch.zeros(6, 6, dtype=DTYPE), inst, exact_batch(inst))
    assert np.abs(traj.phi[1] + gPhi.numpy()).max() < 1e-15


def test_freeze_pp_on_the_full_model_is_the_coordinate_run():
    """Ups frozen on the d x d model (the gradient projected on the e_p v^T block) is the coordinate run with
    Ups left out, on a rotated basis where that block is not a coordinate block of Q."""
    inst = fixture_6(basis="rotated", rotation_seed=3)
    common = dict(steps=10, eta=2.0, log_every=1, freeze_pp=True, device="cpu")
    full = train(inst, TrainConfig(parametrisation="full", **common))
    crd = train(inst, TrainConfig(**common))
    assert np.abs(full.ups).max() < 1e-15 and np.abs(full.phi - crd.phi).max() < ATOL
    assert np.abs(full.phi[-1]).max() > 0.1


def test_stop_ends_the_run_at_a_logged_step():
    inst = fixture_6()
    cfg = TrainConfig(steps=30, eta=2.0, log_every=5, device="cpu")
    whole = train(inst, cfg)
    asked = []
    cut = train(inst, cfg, stop=lambda t, Phi, Ups: asked.append(t) or t >= 10)
    assert asked == [0, 5, 10] and cut.step.tolist() == [0, 5, 10] and cut.meta["stopped_at"] == 10
    assert np.array_equal(cut.phi, whole.phi[:3]) and "stopped_at" not in whole.meta


def test_same_seed_bit_identical_and_different_seed_different_in_sampled_mode():
    inst = balanced(8)
    cfg = TrainConfig(steps=20, eta=1.0, gradient="sampled", samples=64, log_every=5, seed=3, device="cpu",
                      eval_samples=256)
    a, b = train(inst, cfg), train(inst, cfg)
    c = train(inst, dataclasses.replace(cfg, seed=4))
    for f in ("step", "loss", "phi", "ups", "mass"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert not np.array_equal(a.phi, c.phi)
    r1 = train(inst, dataclasses.replace(cfg, init="random", parametrisation="full", steps=3))
    r2 = train(inst, dataclasses.replace(cfg, init="random", parametrisation="full", steps=3))
    assert np.array_equal(r1.final_q, r2.final_q)
    assert r1.off_span[0] > 0.1, "a random full Q(0) has mass off the span"


def test_save_load_round_trip_is_bit_exact(tmp_path):
    inst = fixture_6(key_set="A", basis="rotated")
    traj = train(inst, TrainConfig(steps=6, eta=1.5, log_every=2, parametrisation="full", device="cpu"))
    path = traj.save(tmp_path / "t.npz")
    back = Trajectory.load(path)
    assert back.instance == inst and back.config == traj.config
    for f in ("step", "loss", "phi", "ups", "mass", "off_span", "final_q"):
        x, y = getattr(traj, f), getattr(back, f)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), f
    assert back.meta["device"] == "cpu"
    assert np.array_equal(back.target_phi(), traj.target_phi())
    assert back.target_phi().shape == (4, 6, 2)
    # target_phi is Phi_{p -> v_{k, a_k(p)}}
    assert back.target_phi()[-1, 4, 1] == traj.phi[-1, 4, inst.feature_of[1, 4]]
    crd = train(inst, TrainConfig(steps=2, device="cpu"))
    assert Trajectory.load(crd.save(tmp_path / "c.npz")).final_q is None


def _rewrite_meta(src, dst, **changes):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("traj") / "ok.npz"
    train(fixture_6(), TrainConfig(steps=2, device="cpu")).save(path)
    return path


def _load_error(path):
    with pytest.raises(TrajectoryFileError) as info:
        Trajectory.load(path)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_truncated_file_is_a_clear_error(saved, tmp_path):
    bad = tmp_path / "cut.npz"
    bad.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    assert _load_error(bad).startswith(f"trajectory file {bad} is truncated or corrupt")


def test_wrong_version_is_a_clear_error(saved, tmp_path):
    bad = tmp_path / "v9.npz"
    _rewrite_meta(saved, bad, version=9)
    assert _load_error(bad) == (f"trajectory file {bad} has format version 9; this proofcheck reads version "
                                f"{trainer.FORMAT_VERSION}")


def test_not_a_trajectory_is_a_clear_error(saved, tmp_path):
    other = tmp_path / "other.npz"
    _rewrite_meta(saved, other, format="something-else")
    assert _load_error(other) == f"{other} is not a proofcheck trajectory (format 'something-else')"
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(3))
    assert _load_error(plain) == f"trajectory file {plain} has no readable 'meta' record"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "is truncated or corrupt" in _load_error(text)
    assert _load_error(tmp_path / "absent.npz") == f"trajectory file {tmp_path / 'absent.npz'} does not exist"
    lacking = tmp_path / "lacking.npz"
    with np.load(saved, allow_pickle=False) as data:
        np.savez(lacking, **{k: data[k] for k in data.files if k != "mass"})
    assert _load_error(lacking) == f"trajectory file {lacking} lacks arrays ['mass']"


@pytest.mark.parametrize("parametrisation", ["coords", "full"])
def test_huge_eta_diverges_with_the_step_named(parametrisation):
    """Softmax saturates, so on the fixture even eta = 1e308 stays finite (the
    gradient vanishes after one step); with z ~ 100 the gradient is ~z^3 and
    eta * g overflows in the first update."""
    inst = fixture_6().with_options(clusters=tuple(
        dataclasses.replace(c, z=(ZLaw(values=(50.0, 150.0)),) * len(c.areas)) for c in fixture_6().clusters))
    with pytest.raises(TrainingDiverged) as info:
        train(inst, TrainConfig(steps=20, eta=1e307, log_every=1, parametrisation=parametrisation, device="cpu"))
    assert info.value.step == 0
    assert str(info.value) == ("training diverged at step 0: parameters overflowed to non-finite values in the "
                               "update (eta = 1e+307)")


def test_non_finite_loss_names_the_step(monkeypatch):
    """A loss that turns NaN at step 3 (forced here) stops training at step 3."""
    calls = {"n": 0}
    real = trainer.loss_and_gradient

    def flaky(*args, **kwargs):
        loss, grads = real(*args, **kwargs)
        calls["n"] += 1
        return (loss * np.nan if calls["n"] == 4 else loss), grads

    monkeypatch.setattr(trainer, "loss_and_gradient", flaky)
    with pytest.raises(TrainingDiverged, match=r"^training diverged at step 3: loss is nan \(eta = 1\.0\)$"):
        train(fixture_6(), TrainConfig(steps=10, eta=1.0, log_every=5, device="cpu"))


def test_bad_configs_are_usage_errors():
    with pytest.raises(UsageError, match="eta must be a finite number > 0, got -1"):
        TrainConfig(eta=-1)
    with pytest.raises(UsageError, match="orthonormal embeddings"):
        train(fixture_6().with_options(skew=0.5), TrainConfig(steps=1, freeze_pp=True, parametrisation="full"))
    with pytest.raises(UsageError, match="device must be auto, cpu or cuda, got 'tpu'"):
        TrainConfig(device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is absent")
def test_device_cuda_without_cuda_is_a_usage_error():
    with pytest.raises(UsageError, match="--device cuda was asked for but CUDA is not available on this machine"):
        trainer.resolve_device("cuda")
    with pytest.raises(UsageError, match="CUDA is not available"):
        train(fixture_6(), TrainConfig(steps=1, device="cuda"))
    assert trainer.resolve_device("auto") == torch.device("cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("parametrisation", ["coords", "full"])
def test_gpu_trajectory_matches_cpu(parametrisation):
    inst = balanced(8, basis="rotated")
    cfg = TrainConfig(steps=30, eta=2.0, log_every=5, parametrisation=parametrisation)
    cpu = train(inst, dataclasses.replace(cfg, device="cpu"))
    gpu = train(inst, dataclasses.replace(cfg, device="cuda"))
    assert gpu.meta["device"].startswith("cuda")
    for f in ("loss", "phi", "ups", "mass"):
        assert np.abs(getattr(cpu, f) - getattr(gpu, f)).max() < 1e-10, f


def test_training_restores_the_torch_thread_setting():
    before = torch.get_num_threads()
    train(fixture_6(), TrainConfig(steps=1, threads=1, device="cpu"))
    assert torch.get_num_threads() == before
    with pytest.raises(UsageError, match=r"threads must be an integer >= 0 \(0 keeps torch's setting\), got -1"):
        TrainConfig(threads=-1)
