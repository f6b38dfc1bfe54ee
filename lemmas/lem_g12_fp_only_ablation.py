"""LEM-G12 (SPEC §8) [D]: FP-only ablation (a derived reduction, not from the paper).

Freeze Ups = 0 and train only the e_p v^T block.  In the balanced case (equal area sizes,
identically distributed z) every row of cluster k has one target value phi_t and one
non-target value psi_t, and the dynamics reduce to a 2-D recursion driven by LEM-G5
and LEM-G6: phi_{t+1} = phi_t + eta pi_k gamma E[z_a A_a ||r||^2],
psi_{t+1} = psi_t + eta pi_k gamma E[LEM-G6 integrand].
"""
import sympy as sp

from proofcheck.api import (FULL, QUICK, AssumptionProbe, FPOnlyAblation, FullModelAgreement, G5_ASCENT, G6_ASCENT,
                            Lemma, Provenance, Run, TrainConfig, balanced, by_name)

t = sp.Symbol("t", integer=True, nonnegative=True)
eta, pi_k, gamma = sp.symbols("eta pi_k gamma", positive=True)
phi, psi, Ex = sp.Function("phi"), sp.Function("psi"), sp.Function("E")

ABLATION = FPOnlyAblation(G6_ASCENT, G5_ASCENT)


def fp_only_runs() -> dict:
    """FP-only GD at the ablation's step size, to be matched by the d x d model with its gradient projected on
    the e_p v^T block (autograd, no closed form): quick balanced P = 8 for 20 steps, full also N = 3 areas."""
    def run(P, N, steps):
        return Run(balanced(P, N=N), TrainConfig(steps=steps, eta=ABLATION.eta, log_every=1, freeze_pp=True))
    return {QUICK: [run(8, 2, 20)], FULL: [run(8, 2, 100), run(9, 3, 100)]}

LEMMA = Lemma(
    id="LEM-G12",
    title="FP-only ablation: a 2-D (phi, psi) recursion on balanced instances",
    provenance=Provenance("SPEC §8 LEM-G12", "D", paper_item="none: a reduction derived by SPEC"),
    statement=[sp.Eq(phi(t + 1), phi(t) + eta * pi_k * gamma * Ex(G5_ASCENT)),
               sp.Eq(psi(t + 1), psi(t) + eta * pi_k * gamma * Ex(G6_ASCENT))],
    assumptions=by_name("balanced", "zero_init"),
    claims=[ABLATION, AssumptionProbe(ABLATION, ["balanced"]), FullModelAgreement(fp_only_runs())],
    notes="The recursion's expectations sum over the binomial counts of visible patches (as in LEM-G10) and are "
          "compared with GD in coordinates, TrainConfig(freeze_pp=True), for 8 steps; that coordinate GD is in turn "
          "matched step by step by FP-only GD on the d x d model by autograd (FullModelAgreement), so the "
          "recursion is not checked against the closed forms alone.",
)
