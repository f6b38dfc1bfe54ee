"""LEM-G8 (SPEC §8) [D]: the PP gradient.

-dL/dUps_{p->q} = E[1{p in M, q in S} attn_{p->q} <x_p - F_p, x~_q - F_p>] with, for q in area b,
<x_p - F_p, x~_q - F_p> = 1{q in U} z_b^2 (delta_ba - A_{p,b}) + R_p.  The symbolic legs prove it for
every number of areas, area size and mask (docs/generic-event.md), and again on fixture-6's events.
"""
import sympy as sp

from proofcheck.api import G8_ASCENT, GradientIdentity, Lemma, Provenance, by_name

#: per-event integrand of -dL/dUps_{p->q} (1{p in M, q in S} is the event loop's)
ASCENT = G8_ASCENT

LEMMA = Lemma(
    id="LEM-G8",
    title="PP gradient: -dL/dUps_{p->q} = E[1{p in M, q in S} attn_{p->q} (1{q in U} z_b^2 (delta_ba - A_b) + R_p)]",
    provenance=Provenance("SPEC §8 LEM-G8", "D", paper="v1 §5 (gradient dynamics of attention correlations)",
                          paper_item="number not recovered"),
    statement=sp.Eq(sp.Symbol("-dL/dUps_{p->q}"), ASCENT, evaluate=False),
    assumptions=by_name("orthonormal"),
    claims=[GradientIdentity("[D] LEM-G8: -dL/dUps_{p->q} = E[1_M 1_S attn_q (u_q z_b^2 (delta_ba - A_b) + R_p)]",
                             "pp", ASCENT)],
    notes="Consequences (i)-(iii) of SPEC LEM-G8 are sign statements, not checked here.",
)
