"""LEM-G10 (SPEC §8) [D]: initialisation values.

At Q = 0 attention is uniform: A_{p,j} = u_j / P (variant B) or u_j / |U| (variant A),
with u_a ~ Bin(C_{k,a} - 1, 1 - gamma) and u_j ~ Bin(C_{k,j}, 1 - gamma) for j != a,
independent, given p in M.  Plugging A = u / D into LEM-G4 gives the initial drift exactly,
in both key sets (D = P in key set B, D = |U| in key set A); the statement shown is generated
from LEM-G4's formula, which is what the check evaluates.
"""
import sympy as sp

from proofcheck.api import A, AssumptionProbe, G4_ASCENT, InitialDrift, Lemma, Provenance, by_name

D, gamma, pi_k = sp.symbols("D gamma pi_k", positive=True)
u = sp.IndexedBase("u", nonnegative=True)
Ez = sp.Function("E")
AT_ZERO = G4_ASCENT.replace(lambda e: isinstance(e, sp.Indexed) and e.base == A, lambda e: u[e.indices[0]] / D)

DRIFT = InitialDrift(G4_ASCENT)

LEMMA = Lemma(
    id="LEM-G10",
    title="Initial drift at Q = 0: SPEC's binomial formula, both key sets",
    provenance=Provenance("SPEC §8 LEM-G10", "D"),
    statement=sp.Eq(sp.Symbol("-dL/dPhi_{p->v_{k,j}}|_{Q=0}"), pi_k * gamma * Ez(AT_ZERO), evaluate=False),
    assumptions=by_name("gamma_interior"),
    claims=[DRIFT, AssumptionProbe(DRIFT, ["zero_init"])],
    notes="The claim evaluates SPEC's formula for every (p, k, j) (the LEM-G4 integrand at A = u / D) by summing "
          "over the binomial laws and compares it with autograd at Q = 0, in both key sets and all normalisations.",
)
