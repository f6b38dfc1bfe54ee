"""LEM-G1 (SPEC §8) [D]: the full gradient.

grad_Q L = E[sum_{p in M} sum_{q in S} attn_{p->q} <F_p - x_p, x~_q - F_p> e_p (x~_q + e_q)^T].

The claim gives the per-key coefficient c_q = attn_{p->q} <x_p - F_p, x~_q - F_p> of the
ascent -grad_Q L, written with orthonormal embeddings as attn_q (u_q z_b^2 (delta_ba - A_b) + R_p);
the symbolic leg proves -dl/dw = sum_q c_q (x~_q + e_q) for the row w = Q^T e_p along every
v_{k,j} and e_q, for every number of areas, area size and mask (docs/generic-event.md) and again on
fixture-6's events, and the numeric leg compares the whole (P x d) block E^T grad_Q L.
"""
import sympy as sp

from proofcheck.api import G1_COEFFICIENT, GradientIdentity, Lemma, Provenance, by_name

#: c_q = attn_{p->q} <x_p - F_p, x~_q - F_p>, the coefficient of e_p (x~_q + e_q)^T in -grad_Q L
COEFFICIENT = G1_COEFFICIENT

LEMMA = Lemma(
    id="LEM-G1",
    title="Full gradient: -grad_Q L = E[sum_{p in M} sum_{q in S} attn_{p->q} <x_p - F_p, x~_q - F_p> "
          "e_p (x~_q + e_q)^T]",
    provenance=Provenance("SPEC §8 LEM-G1", "D", paper="v1 §5 (gradient dynamics of attention correlations)",
                          paper_item="number not recovered"),
    statement=sp.Eq(sp.Symbol("c_q"), COEFFICIENT, evaluate=False),
    assumptions=by_name("orthonormal"),
    claims=[GradientIdentity("[D] LEM-G1: -grad_Q L = E[sum_{p in M, q in S} attn_q <x_p - F_p, x~_q - F_p> "
                             "e_p (x~_q + e_q)^T]", "q", COEFFICIENT)],
    notes="SPEC's vector form holds for any embeddings; the coefficient as written uses orthonormality.",
)
