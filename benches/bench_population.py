"""Exact population gradient by sufficient statistics (issue 11): time, count vectors, method chosen.

Instances (stated in the output): ``balanced(P)`` (K = 2 clusters, two areas of P/2 each, z uniform on
{0.5, 1.5}, gamma = 0.5, Bernoulli masks, key set B), a single-cluster ``balanced(P, K=1)``, and
``global-local(P, kappa_l=0.5)`` (local areas of ~P^(1/2)).  Each point is timed at Q = 0 and after one
population-GD step (eta = 1), wall clock and process CPU time, best of ``--repeats``.  The ratio against
enumeration is the closed-form gradient on the prebuilt exact batch (the trainer's exact path) divided by
the population gradient, both in this process, so it is robust to the machine's load.

Targets: balanced P = 256 and single-cluster P = 1024 each under 1 s on one core.

    .venv/bin/python benches/bench_population.py [--growth 16 32 64 128 256] [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proofcheck.setting.coords import grad_coords_closed_form  # noqa: E402
from proofcheck.setting.instance import DTYPE, balanced, global_local  # noqa: E402
from proofcheck.setting.population import population_gradient  # noqa: E402
from proofcheck.setting.sampling import exact_batch  # noqa: E402


def timed(fn, repeats):
    """(best wall s, best CPU s, result) over ``repeats`` runs."""
    wall = cpu = float("inf")
    out = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def points(inst):
    """Q = 0 and one population-GD step from it (eta = 1)."""
    Phi, Ups = torch.zeros(inst.P, inst.F, dtype=DTYPE), torch.zeros(inst.P, inst.P, dtype=DTYPE)
    g = population_gradient(Phi, Ups, inst)
    return [("Q=0", Phi, Ups), ("1 step", Phi - g.gPhi, Ups - g.gUps)]


def row(name, inst, repeats):
    for label, Phi, Ups in points(inst):
        wall, cpu, res = timed(lambda: population_gradient(Phi, Ups, inst), repeats)
        print(f"{name:<30} {label:<7} {res.method:<22} {res.problems:>4} {res.points:>11} {wall:>8.3f} {cpu:>8.3f} "
              f"{res.error_bound:>9.2g}  {res.reason}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--growth", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--enum", type=int, nargs="+", default=[8, 10, 12])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, float64; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores (shared: compare ratios, not seconds)")
    print(f"{'instance':<30} {'point':<7} {'method':<22} {'prob':>4} {'points':>11} {'wall s':>8} {'cpu s':>8} "
          f"{'err bound':>9}")
    row("balanced P=256 K=2 N=2", balanced(256), args.repeats)
    row("balanced P=1024 K=1 N=2", balanced(1024, K=1), args.repeats)
    row("global-local P=256 kappa_l=0.5", global_local(256, kappa_l=0.5), 1)
    print("\nratio against enumeration (closed-form gradient on the exact batch / population gradient):")
    for P in args.enum:
        inst = balanced(P)
        batch = exact_batch(inst)
        for label, Phi, Ups in points(inst):
            _, c_enum, _ = timed(lambda: grad_coords_closed_form(Phi, Ups, inst, batch), args.repeats)
            _, c_pop, res = timed(lambda: population_gradient(Phi, Ups, inst), args.repeats)
            print(f"balanced P={P:<3} {label:<7} {len(batch):>8} events  {res.points:>7} count vectors  "
                  f"enumeration {c_enum:.4f} s  population {c_pop:.4f} s  ratio {c_enum / c_pop:.1f}x", flush=True)
    print("\ngrowth with P (balanced, K = 2, N = 2, one step from Q = 0):")
    prev = None
    for P in args.growth:
        inst = balanced(P)
        _, Phi, Ups = points(inst)[1]
        _, cpu, res = timed(lambda: population_gradient(Phi, Ups, inst), args.repeats)
        grow = f"  x{cpu / prev:.1f} for x2 in P" if prev else ""
        print(f"P={P:<4} {res.points:>11} count vectors  {cpu:.3f} s CPU{grow}", flush=True)
        prev = cpu


if __name__ == "__main__":
    main()
