"""LEM-G5 along real training: the target FP correlation never decreases."""
import sympy as sp

from proofcheck.api import A, Lemma, Provenance, TargetFPMonotone, a, area_wide_runs, r2_p, z

t = sp.Symbol("t", integer=True, nonnegative=True)
Phi_target = sp.Function("Phi_target")

LEMMA = Lemma(
    id="LEM-G5-TRAJ",
    title="Along GD the target FP correlation Phi_{p->v_{k,a_k(p)}} never decreases",
    provenance=Provenance(item="SPEC §8 LEM-G5", tag="D", paper="v1 §5 (gradient dynamics)"),
    # Phi(t+1) - Phi(t) = eta E[1_k 1{p in M} z_a A_{p,a} ||r_p||^2] >= 0
    statement=[sp.GreaterThan(Phi_target(t + 1) - Phi_target(t), 0), sp.GreaterThan(z[a] * A[a] * r2_p, 0)],
    claims=[TargetFPMonotone(area_wide_runs())],
    notes="Checked at every logged step of the THM-MAIN-v1 runs (the same cached trajectories). "
          "The identity holds for every batch, so Monte Carlo GD must satisfy it exactly too.",
)
