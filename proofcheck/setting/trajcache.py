"""The trajectory cache: a trained trajectory is stored under a hash of what
determines it (the instance and the GD settings), so re-running a check never
retrains.  A cache file that cannot be read is a warning and a retrain, never
a crash; writes are atomic (``Trajectory.save`` goes through proofcheck.io)."""
from __future__ import annotations

import functools
import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from proofcheck.errors import ProofcheckError, TrajectoryFileError
from proofcheck.setting.instance import Instance
from proofcheck.setting.flow import trajectory
from proofcheck.setting.trainer import FORMAT_VERSION, TrainConfig, Trajectory


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 of the modules that compute a trajectory: a change to the model,
    the coordinates or the trainer (even one that only changes rounding) must
    not let an old trajectory answer for the new code."""
    from proofcheck.setting import coords, flow, instance, model, population, population_laws, sampling, symmetry
    from proofcheck.setting import trainer
    h = hashlib.sha256()
    # the flow and the population gradient (with its orbit reduction) compute trajectories too
    for module in (instance, sampling, model, coords, trainer, population, population_laws, symmetry, flow):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


def cache_key(inst: Instance, cfg: TrainConfig) -> str:
    """sha256 of (instance, config, trajectory format version, code version).
    ``device`` is left out: float64 GD gives the same trajectory on CPU and CUDA
    up to rounding, so a trajectory trained on one is reused on the other."""
    config = {k: v for k, v in asdict(cfg).items() if k != "device"}
    blob = json.dumps({"instance": inst.to_dict(), "config": config, "format": FORMAT_VERSION,
                       "code": code_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_path(cache_dir: Path, inst: Instance, cfg: TrainConfig) -> Path:
    return Path(cache_dir) / f"{inst.name}-{cache_key(inst, cfg)[:20]}.npz"


@dataclass
class Trained:
    """A trajectory and how it was obtained (``cached``: loaded, not trained;
    ``seconds``: wall time of training or loading)."""

    trajectory: Trajectory
    cached: bool
    seconds: float
    path: Path | None


def cached_train(inst: Instance, cfg: TrainConfig, cache_dir: Path | None,
                 progress: Callable[[int, int], None] | None = None) -> Trained:
    """Load the trajectory of (inst, cfg) from ``cache_dir`` or train and store it.

    ``cache_dir=None`` trains without caching.  A stored file that is corrupt,
    truncated, of another format version or of another (instance, config) is
    reported with a warning and replaced.  :class:`TrainingDiverged` propagates
    (nothing is cached for a diverged run)."""
    t0 = time.perf_counter()
    path = cache_path(cache_dir, inst, cfg) if cache_dir is not None else None
    if path is not None and path.exists():
        try:
            traj = Trajectory.load(path)
            if cache_key(traj.instance, traj.config) != cache_key(inst, cfg):
                raise TrajectoryFileError(f"cached trajectory {path} belongs to another instance or config")
            return Trained(traj, True, time.perf_counter() - t0, path)
        except ProofcheckError as exc:  # TrajectoryFileError, or an InstanceError in its meta record
            warnings.warn(f"{exc}; retraining", RuntimeWarning, stacklevel=2)
    traj = trajectory(inst, cfg, progress)
    if path is not None:
        traj.save(path)
    return Trained(traj, False, time.perf_counter() - t0, path)
