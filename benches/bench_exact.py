"""Exact expectation: enumeration time and exact loss + gradient time (issue 2).

Instances (stated in the output): balanced preset with K = 2 clusters and N
areas per cluster, z i.i.d. uniform on {0.5, 1.5}, gamma = 0.5, Bernoulli
masks, so 2^P masks x K x 2^N z tuples events.  Two layouts per P:
``N=2`` (the trainer's default preset) and ``N=P/2`` (areas of two patches,
the most z tuples: the hard case).  Times: ``exact_batch`` (enumeration),
then the exact loss and gradient in correlation coordinates (closed form,
the trainer's path) and by autograd of the full d x d model.

Target: enumeration for P = 10 under 5 s on 2 cores.

    .venv/bin/python benches/bench_exact.py [--P 6 8 10 12] [--threads N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proofcheck.setting.coords import grad_coords_closed_form  # noqa: E402
from proofcheck.setting.instance import DTYPE, balanced  # noqa: E402
from proofcheck.setting.sampling import exact_batch  # noqa: E402
from proofcheck.setting.trainer import loss_and_gradient  # noqa: E402


def best_time(fn, repeats=3):
    """Best of ``repeats`` wall-clock times (shared machines are noisy); returns (seconds, result)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--P", type=int, nargs="+", default=[6, 8, 10, 12])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--full-limit", type=int, default=300_000,
                    help="skip the full-model gradient above this many events (memory/time)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, float64")
    print(f"{'instance':<28} {'events':>9} {'enumerate s':>12} {'coords L+grad s':>16} {'full L+grad s':>14}")
    for P in args.P:
        for N in sorted({2, P // 2}):
            inst = balanced(P, K=2, N=N, gamma=0.5)
            t_enum, batch = best_time(lambda: exact_batch(inst))
            Phi = 0.3 * torch.randn(P, inst.F, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
            Ups = 0.3 * torch.randn(P, P, dtype=DTYPE, generator=torch.Generator().manual_seed(1))
            t_crd, _ = best_time(lambda: grad_coords_closed_form(Phi, Ups, inst, batch))
            if len(batch) <= args.full_limit:
                Q = torch.zeros(inst.d, inst.d, dtype=DTYPE)
                t_full, _ = best_time(lambda: loss_and_gradient([Q], inst, batch, "full"), repeats=1)
                full = f"{t_full:>14.3f}"
            else:
                full = f"{'skipped':>14}"
            name = f"balanced P={P} K=2 N={N}"
            print(f"{name:<28} {len(batch):>9} {t_enum:>12.3f} {t_crd:>16.3f} {full}", flush=True)


if __name__ == "__main__":
    main()
