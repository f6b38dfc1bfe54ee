"""LEM-G11 (SPEC §8) [D]: limit / near-optimal loss.

If the target FP correlations go to +inf with the rest of the row bounded, A_{p,a} -> 1
on every event where the target area has a visible patch (using z >= L > 0), and
L -> L_inf = E[sum_{p in M} 1{P_{k,a} n U = empty} 1/2 ||F_p - x_p||^2]; the
unavoidable events have probability <= gamma^(C_{k,a} - 1) per masked position; the
infimum is approached but not attained at finite Q.
"""
import sympy as sp

from proofcheck.api import AssumptionProbe, Lemma, LimitClaim, Provenance, UnavoidableProbability, by_name

gamma, C = sp.symbols("gamma C_ka", positive=True)
L_inf, prob = sp.symbols("L_inf Pr_unavoidable", nonnegative=True)
s = sp.Symbol("s", positive=True)
L = sp.Function("L")

LIMIT = LimitClaim()

LEMMA = Lemma(
    id="LEM-G11",
    title="Limit: L -> L_inf as the target FP correlations grow; unavoidable events are rare",
    provenance=Provenance("SPEC §8 LEM-G11", "D", paper_item="'near-optimal reconstruction' [V]"),
    statement=[sp.Eq(sp.Limit(L(s), s, sp.oo), L_inf), sp.LessThan(prob, gamma ** (C - 1), evaluate=False)],
    assumptions=by_name("z_positive", "gamma_interior"),
    claims=[LIMIT, UnavoidableProbability(), AssumptionProbe(LIMIT, ["z_positive", "gamma_interior"])],
    notes="Non-attainment needs some key outside the query's own visible patches (variant B, or a cluster with "
          "N_k >= 2); where no avoidable event has a key outside its own visible patches L is constant along s (evidence "
          "expected_can_miss_queries = 0). Probing: with negative z the loss does not approach L_inf (z > 0 is needed).",
)
