"""LEM-G10 (SPEC §8) [D]: initialisation values.

At Q = 0 attention is uniform: A_{p,j} = u_j / P (variant B) or u_j / |U| (variant A),
with u_a ~ Bin(C_{k,a} - 1, 1 - gamma) and u_j ~ Bin(C_{k,j}, 1 - gamma) for j != a,
independent, given p in M.  Plugging into LEM-G4 gives the initial drift exactly, e.g.
-dL/dPhi_{p -> v_{k,a}} |_{Q=0} = pi_k gamma E[z_a (u_a/P) (z_a^2 (1 - u_a/P)^2 + sum_{i != a} z_i^2 u_i^2 / P^2)].
"""
import sympy as sp

from proofcheck.assumptions import by_name
from proofcheck.lemma import Lemma, Provenance
from proofcheck.probing import AssumptionProbe
from proofcheck.structural import InitialDrift
from proofcheck.symbols import N, a, i, z

P, gamma, pi_k = sp.symbols("P gamma pi_k", positive=True)
u = sp.IndexedBase("u", nonnegative=True)
Ez = sp.Function("E")

DRIFT = InitialDrift()

LEMMA = Lemma(
    id="LEM-G10",
    title="Initial drift at Q = 0: SPEC's binomial formula, both key sets",
    provenance=Provenance("SPEC §8 LEM-G10", "D"),
    statement=sp.Eq(sp.Symbol("ascent_target"), pi_k * gamma * Ez(
        z[a] * u[a] / P * (z[a] ** 2 * (1 - u[a] / P) ** 2
                           + sp.Sum((1 - sp.KroneckerDelta(i, a)) * z[i] ** 2 * u[i] ** 2 / P ** 2, (i, 1, N))))),
    assumptions=by_name("gamma_interior"),
    claims=[DRIFT, AssumptionProbe(DRIFT, ["zero_init"])],
    notes="The claim evaluates SPEC's formula for every (p, k, j) (the LEM-G4 integrand at A = u / D) by summing "
          "over the binomial laws and compares it with autograd at Q = 0, in both key sets and all normalisations.",
)
