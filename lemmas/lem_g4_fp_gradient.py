"""LEM-G4 (SPEC §8) [D]: the FP gradient, general form.

-dL/dPhi_{p->v_{k,j}} = E[1_k 1{p in M} z_j A_{p,j} (z_j^2 (delta_ja - A_{p,j}) + R_p)],
R_p = sum_i z_i^2 A_{p,i}^2 - z_a^2 A_{p,a}.  Only images of cluster k move Phi_{p->v_{k,j}}.
Holds for every law of z (z > 0 is not needed) in both key-set variants; it needs
orthonormal embeddings (the logits of SPEC DEF-CORR).  The symbolic legs prove it for every
number of areas, area size and mask (docs/generic-event.md), and again on fixture-6's events.
"""
import sympy as sp

from proofcheck.api import G4_ASCENT, GradientIdentity, Lemma, Provenance, by_name

ASCENT = G4_ASCENT

LEMMA = Lemma(
    id="LEM-G4",
    title="FP gradient: -dL/dPhi_{p->v_{k,j}} = E[1_k 1{p in M} z_j A_j (z_j^2 (delta_ja - A_j) + R_p)]",
    provenance=Provenance("SPEC §8 LEM-G4", "D", paper="v1 §5 (gradient dynamics of attention correlations)",
                          paper_item="number not recovered"),
    statement=sp.Eq(sp.Symbol("-dL/dPhi_{p->v_{k,j}}"), ASCENT, evaluate=False),
    assumptions=by_name("orthonormal"),
    claims=[GradientIdentity("[D] LEM-G4: -dL/dPhi_{p->v_{k,j}} = E[1_k 1_M z_j A_j (z_j^2 (delta_ja - A_j) + R_p)]",
                             "fp", ASCENT)],
    notes="z > 0 is not needed: the symbolic proof treats z_1..z_N as free symbols.",
)
