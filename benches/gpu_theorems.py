"""Trajectory checks with larger P on CUDA (SPEC §9): THM-MAIN-v1, THM-MAE-v3
phases, diversity and the T* scaling fit, printed as one table.

    python benches/gpu_theorems.py            # CUDA if present, else a smaller CPU run
    python benches/gpu_theorems.py --small    # the CPU-sized run (what the tests can afford)

Training runs on the device; the held-out evaluation of the trained
coordinates runs on the CPU.  First, the exact population gradient at the largest P it covers
(balanced P = 256), with its throughput.  Trajectories are cached under --cache.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import sympy as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proofcheck.checks.theorem import AreaWide, Diversity, Phases, ScalingStudy  # noqa: E402
from proofcheck.lang.runs import ETA_AREA_WIDE  # noqa: E402
from proofcheck.setting.runs import Run  # noqa: E402
from proofcheck.setting.instance import balanced, global_local  # noqa: E402
from proofcheck.context import CheckContext, QUICK
from proofcheck.lang.lemma import Lemma, Provenance  # noqa: E402
from proofcheck.setting.trainer import TrainConfig  # noqa: E402
from proofcheck.setting.instance import DTYPE  # noqa: E402
from proofcheck.setting.population import population_gradient  # noqa: E402


def runs_for(small: bool) -> dict:
    Ps = (8, 16) if small else (32, 64, 128)
    Pg = (10,) if small else (32, 64)
    steps = 60 if small else 400
    main = [Run(balanced(P), TrainConfig(steps=steps, eta=ETA_AREA_WIDE, log_every=5,
                                             eval_samples=512 if small else 4096), eval_samples=2048)
            for P in Ps]
    phases = [Run(global_local(P), TrainConfig(steps=3 * steps, eta=20.0, log_every=4,
                                                  eval_samples=512 if small else 4096), eval_samples=2048)
              for P in Pg]
    scaling = [Run(balanced(P, N=P // 2), TrainConfig(steps=500 if small else 1000, eta=eta, log_every=10,
                                                         eval_samples=1024 if small else 4096), eval_samples=2048)
               for P in ((4, 6, 8) if small else (8, 16, 32, 64, 128)) for eta in (10.0, 20.0)]
    return {"main": main, "phases": phases, "scaling": scaling}


def population_throughput(device: str, P: int) -> None:
    """The exact population gradient (SPEC LEM-G9 sufficient statistics) of balanced(P) one GD step
    from Q = 0, on ``device``: seconds and count vectors per second."""
    inst = balanced(P)
    Phi = torch.zeros(P, inst.F, dtype=DTYPE, device=device)
    Ups = torch.zeros(P, P, dtype=DTYPE, device=device)
    g = population_gradient(Phi, Ups, inst)
    Phi, Ups = Phi - g.gPhi, Ups - g.gUps
    t0 = time.perf_counter()
    res = population_gradient(Phi, Ups, inst)
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(f"population gradient balanced P={P} on {device}: {res.method}, {res.points} count vectors in "
          f"{dt:.3f} s ({res.points / dt:.3g} per s), error bound {res.error_bound:.2g}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="CPU-sized run")
    ap.add_argument("--cache", type=Path, default=Path(".proofcheck-cache/bench"))
    args = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    small = args.small or not cuda
    device = "cuda" if cuda and not args.small else "cpu"
    print(f"device {device}{' (' + torch.cuda.get_device_name() + ')' if device == 'cuda' else ''}; "
          f"{'small' if small else 'large'} run", flush=True)
    # the largest balanced P whose count vectors stay under population.MAX_POINTS
    population_throughput(device, 256)
    r = runs_for(small)
    claims = [("THM-MAIN-v1", AreaWide({QUICK: r["main"]})),
              ("THM-DIVERSITY", Diversity({QUICK: r["main"]}, level="areas")),
              ("THM-DIVERSITY", Diversity({QUICK: r["main"]}, level="keys")),
              ("THM-MAE-v3", Phases({QUICK: r["phases"]})),
              ("THM-MAIN-v1-SCALING", ScalingStudy({QUICK: r["scaling"]}, eps_values=(0.2,), fraction=0.9))]
    ctx = CheckContext(budget=QUICK, cache_dir=args.cache, device=device)
    for lemma_id, claim in claims:
        lemma = Lemma(lemma_id, lemma_id, Provenance("SPEC §9", "R"), sp.Integer(0), [claim])
        t0 = time.perf_counter()
        for res in claim.check(lemma, ctx):
            print(f"{res.verdict.value:12s} {res.timing_s:7.1f}s  {res.name}\n{'':21s}{res.summary}", flush=True)
        print(f"{'':21s}({lemma_id}: {time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
