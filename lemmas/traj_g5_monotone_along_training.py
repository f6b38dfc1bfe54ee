"""LEM-G5 along real training: the target FP correlation never decreases."""
import sympy as sp

from proofcheck.api import (ETA_AREA_WIDE, FULL, QUICK, A, FullModelAgreement, Lemma, Provenance, Run, TargetFPMonotone,
                            TrainConfig, a, area_wide_runs, balanced, r2_p, z)

t = sp.Symbol("t", integer=True, nonnegative=True)
Phi_target = sp.Function("Phi_target")


def p8_runs(parametrisation: str) -> dict:
    """The first 40 (quick) / 200 (full) steps of the P = 8 area-wide run, the same GD, in coordinates or on
    the d x d model: the full-model run judges LEM-G5 without the closed forms the coordinate runs use."""
    def run(steps):
        return Run(balanced(8), TrainConfig(steps=steps, eta=ETA_AREA_WIDE, log_every=5,
                                            parametrisation=parametrisation), eval_samples=2048)
    return {QUICK: [run(40)], FULL: [run(200)]}


AREA_WIDE = area_wide_runs()

LEMMA = Lemma(
    id="LEM-G5-TRAJ",
    title="Along GD the target FP correlation Phi_{p->v_{k,a_k(p)}} never decreases",
    provenance=Provenance(item="SPEC §8 LEM-G5", tag="D", paper="v1 §5 (gradient dynamics)"),
    # Phi(t+1) - Phi(t) = eta E[1_k 1{p in M} z_a A_{p,a} ||r_p||^2] >= 0
    statement=[sp.GreaterThan(Phi_target(t + 1) - Phi_target(t), 0), sp.GreaterThan(z[a] * A[a] * r2_p, 0)],
    claims=[TargetFPMonotone({b: [*AREA_WIDE[b], *p8_runs("full")[b]] for b in AREA_WIDE}),
            FullModelAgreement(p8_runs("coords"))],
    notes="Checked at every logged step of the THM-MAIN-v1 runs (the same cached trajectories) and of a "
          "d x d model run by autograd (balanced P = 8, eta = 200), which the coordinate run of the same GD "
          "must match step by step (FullModelAgreement).  The identity holds for every batch, so Monte Carlo "
          "GD must satisfy it exactly too.",
)
