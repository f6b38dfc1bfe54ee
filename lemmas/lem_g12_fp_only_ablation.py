"""LEM-G12 (SPEC §8) [D]: FP-only ablation (a derived reduction, not from the paper).

Freeze Ups = 0 and train only the e_p v^T block.  In the balanced case (equal area sizes,
identically distributed z) every row of cluster k has one target value phi_t and one
non-target value psi_t, and the dynamics reduce to a 2-D recursion driven by LEM-G5
and LEM-G6: phi_{t+1} = phi_t + eta pi_k gamma E[z_a A_a ||r||^2],
psi_{t+1} = psi_t + eta pi_k gamma E[LEM-G6 integrand].
"""
import sympy as sp

from proofcheck.api import AssumptionProbe, FPOnlyAblation, G5_ASCENT, G6_ASCENT, Lemma, Provenance, by_name

t = sp.Symbol("t", integer=True, nonnegative=True)
eta, pi_k, gamma = sp.symbols("eta pi_k gamma", positive=True)
phi, psi, Ex = sp.Function("phi"), sp.Function("psi"), sp.Function("E")

ABLATION = FPOnlyAblation(G6_ASCENT, G5_ASCENT)

LEMMA = Lemma(
    id="LEM-G12",
    title="FP-only ablation: a 2-D (phi, psi) recursion on balanced instances",
    provenance=Provenance("SPEC §8 LEM-G12", "D", paper_item="none: a reduction derived by SPEC"),
    statement=[sp.Eq(phi(t + 1), phi(t) + eta * pi_k * gamma * Ex(G5_ASCENT)),
               sp.Eq(psi(t + 1), psi(t) + eta * pi_k * gamma * Ex(G6_ASCENT))],
    assumptions=by_name("balanced", "zero_init"),
    claims=[ABLATION, AssumptionProbe(ABLATION, ["balanced"])],
    notes="The recursion's expectations sum over the binomial counts of visible patches (as in LEM-G10) and are "
          "compared with GD in coordinates, TrainConfig(freeze_pp=True), for 8 steps.",
)
