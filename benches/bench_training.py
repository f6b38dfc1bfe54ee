"""GD steps per second, full d x d model vs correlation coordinates (issue 2).

One GD step = the trainer's ``loss_and_gradient`` on a fresh Monte Carlo batch
of 512 events plus the parameter update (the step of ``train`` with
``gradient="sampled"``, without logging).  balanced preset (K=2, N=2, z in
{0.5, 1.5}, gamma=0.5), float64, CPU.  Both parametrisations run in this one
process on the same batches, so the printed ratio compares like with like.

Target: coordinates >= 10x faster than the full model at P = 256.

    .venv/bin/python benches/bench_training.py [--P 16 64 256] [--batch 512] [--seconds 3] [--threads N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proofcheck.setting.instance import DTYPE, balanced  # noqa: E402
from proofcheck.setting.sampling import sample_batch  # noqa: E402
from proofcheck.setting.trainer import loss_and_gradient  # noqa: E402


def steps_per_second(inst, parametrisation: str, batch_size: int, seconds: float, eta: float = 1.0) -> float:
    """Best of three timed runs of at least ``seconds`` / 3 each (noisy shared machines)."""
    gen = torch.Generator().manual_seed(0)
    if parametrisation == "full":
        params = [torch.zeros(inst.d, inst.d, dtype=DTYPE)]
    else:
        params = [torch.zeros(inst.P, inst.F, dtype=DTYPE), torch.zeros(inst.P, inst.P, dtype=DTYPE)]
    batches = [sample_batch(inst, batch_size, gen) for _ in range(4)]

    def step(i):
        _, grads = loss_and_gradient(params, inst, batches[i % 4], parametrisation)
        for p, g in zip(params, grads):
            p -= eta * g

    step(0)  # warm-up
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while True:
            step(n)
            n += 1
            dt = time.perf_counter() - t0
            if dt >= seconds / 3:
                break
        best = max(best, n / dt)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--P", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=3.0, help="time budget per measurement")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads, 1 like TrainConfig.threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, float64, batch {args.batch}, "
          f"balanced preset (K=2, N=2, z in {{0.5, 1.5}}, gamma=0.5)")
    print(f"{'P':>5} {'d':>5} {'full steps/s':>13} {'coords steps/s':>15} {'ratio':>8}")
    ratios = {}
    for P in args.P:
        inst = balanced(P)
        full = steps_per_second(inst, "full", args.batch, args.seconds)
        crd = steps_per_second(inst, "coords", args.batch, args.seconds)
        ratios[P] = crd / full
        print(f"{P:>5} {inst.d:>5} {full:>13.2f} {crd:>15.2f} {ratios[P]:>7.1f}x", flush=True)
    if 256 in ratios:
        verdict = "met" if ratios[256] >= 10 else "NOT met"
        print(f"target (coords >= 10x full at P = 256): {verdict} ({ratios[256]:.1f}x)")


if __name__ == "__main__":
    main()
