"""Cost of proofcheck's three-way numeric check of every FP and PP entry at P = 64
against torch.autograd.gradcheck (slow mode) on the same loss, in one process.

Setting: balanced preset, P = 64, K = 2, N = 2 (F = 4, d = 68), float64, CPU, one
Monte Carlo batch of 256 events shared by both.  The three-way check is LEM-G4 (all
P x F FP entries) and LEM-G8 (all P x P PP entries): the closed form lambdified to
torch, autograd of the full d x d model, and central finite differences of the row
losses at steps h and 2h (4 (F + P) evaluations of the coordinate loss).
gradcheck runs on the coordinate loss L(Phi, Ups) (``proofcheck.setting.coords.loss_coords``,
the loss the finite-difference leg uses), with fast_mode=False: two evaluations per
input element, P (F + P) = 4352 elements.

gradcheck's slow mode is linear in the number of inputs; by default it is timed on a
fixed subset (all of Phi and the first ``--ups-columns`` columns of Ups) and
extrapolated linearly to all 4352 inputs, and the output says so.  ``--full`` runs it
on every input instead.  gradcheck's fast mode (one random projection of the Jacobian on
all inputs) is timed too: the aim is slow mode's coverage at fast mode's cost.

Usage: .venv/bin/python benches/bench_numeric_check.py [--full] [--ups-columns 8] [--threads 1] [--repeat 5]

Times are minima of repeated runs (the machine may be shared).
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from proofcheck.setting.coords import loss_coords
from proofcheck.checks.identity import judge
from proofcheck.setting.instance import DTYPE, balanced
from proofcheck.engine.discovery import load_lemma_file
from proofcheck.setting.sampling import sample_batch

LEMMAS = Path(__file__).resolve().parent.parent / "lemmas"


def three_way(claims, inst, Phi, Ups, batch):
    outs = []
    for claim in claims:
        legs = claim.legs(inst, Phi, Ups, batch)
        outs.append((claim, legs, judge(legs, claim.coordinate, inst)))
    return outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="run gradcheck on every input (slow)")
    ap.add_argument("--ups-columns", type=int, default=8, help="Ups columns in gradcheck's timed subset")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads for both (default 1)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of the three-way check (minimum is used)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    inst = balanced(P=64, K=2, N=2)
    batch = sample_batch(inst, 256, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    Phi = 2 * torch.rand(inst.P, inst.F, dtype=DTYPE, generator=g) - 1
    Ups = 2 * torch.rand(inst.P, inst.P, dtype=DTYPE, generator=g) - 1
    claims = [load_lemma_file(LEMMAS / f).claims[0] for f in ("lem_g4_fp_gradient.py", "lem_g8_pp_gradient.py")]
    n_entries = inst.P * (inst.F + inst.P)
    print(f"instance {inst.describe()}\nbatch: 256 Monte Carlo events (seed 0), float64, CPU, {args.threads} thread(s)")

    t0 = time.perf_counter()
    three_way(claims, inst, Phi, Ups, batch)
    cold = time.perf_counter() - t0
    # the minimum of repeated runs (timeit's convention): the machine may be shared
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        outs = three_way(claims, inst, Phi, Ups, batch)
        times.append(time.perf_counter() - t0)
    ours = min(times)
    for claim, legs, out in outs:
        print(f"  {claim.coordinate}: {out.points} entries, holds={out.holds}, worst {out.worst['entry']}: "
              f"|closed - autograd| = {out.worst['abs_error_vs_autograd']:.2e}, "
              f"|closed - FD| = {out.worst.get('abs_error_vs_fd', float('nan')):.2e}, margin {out.margin:.4f}")
    print(f"three-way check of all {n_entries} FP+PP entries: {ours:.3f} s warm (min of {args.repeat}; "
          f"{cold:.3f} s cold, including lambdify compilation)")

    cols = inst.P if args.full else min(args.ups_columns, inst.P)
    Phi_in = Phi.clone().requires_grad_(True)
    Ups_in = Ups[:, :cols].clone().requires_grad_(True)
    Ups_rest = Ups[:, cols:]

    def loss(phi, ups_part):
        return loss_coords(phi, torch.cat([ups_part, Ups_rest], 1), inst, batch)

    n_inputs = Phi_in.numel() + Ups_in.numel()
    measured = math.inf
    for _ in range(1 if args.full else 2):
        t0 = time.perf_counter()
        ok = torch.autograd.gradcheck(loss, (Phi_in, Ups_in), fast_mode=False)
        measured = min(measured, time.perf_counter() - t0)
    gradcheck_all = measured * n_entries / n_inputs
    if args.full:
        print(f"gradcheck (slow mode) on all {n_inputs} inputs: {measured:.2f} s, passed={ok}")
    else:
        print(f"gradcheck (slow mode) on a subset of {n_inputs} of {n_entries} inputs (Phi and {cols} Ups columns): "
              f"{measured:.2f} s (min of 2), passed={ok};\n  EXTRAPOLATED linearly to all {n_entries} inputs: "
              f"{gradcheck_all:.1f} s (run with --full to measure instead)")
    print(f"ratio gradcheck slow mode / three-way check: {gradcheck_all / ours:.0f}x (target >= 100x)")

    # fast mode checks one random projection of the Jacobian: slow mode's cost is what the three-way check
    # avoids, fast mode's cost is what it should approach while still comparing every entry
    Phi_all, Ups_all = Phi.clone().requires_grad_(True), Ups.clone().requires_grad_(True)
    fast = math.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ok = torch.autograd.gradcheck(lambda a, b: loss_coords(a, b, inst, batch), (Phi_all, Ups_all), fast_mode=True)
        fast = min(fast, time.perf_counter() - t0)
    print(f"gradcheck (fast mode: one random projection, no entry compared) on all {n_entries} inputs: "
          f"{fast:.3f} s (min of {args.repeat}), passed={ok}")
    print(f"ratio three-way check / gradcheck fast mode: {ours / fast:.2f}x (the cost of comparing every entry)")


if __name__ == "__main__":
    main()
