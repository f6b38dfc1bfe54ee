"""THM-MAE-v3 (SPEC 9.2) on trained models: Phase I then Phase II on `global-local`."""
import sympy as sp

from proofcheck.api import FULL, Lemma, Phases, Provenance, QUICK, Run, TrainConfig, global_local

t, T1, T2 = sp.symbols("t T_1 T_2", integer=True, nonnegative=True)
eps = sp.Symbol("epsilon", positive=True)
Phi_global, A_target = sp.Function("Phi_(p->v_(k,1))"), sp.Function("A_(p,a_k(p))")


def runs() -> dict:
    """kappa_g = 0.8, kappa_l = 0.4: P = 8 has areas [6, 2], P = 10 [7, 3] (exact GD);
    P = 16 has [10, 3, 3] (GD on a fixed Monte Carlo batch of 2048 images).  eta = 20 with
    logging every 2 steps, so that the end of Phase I is resolved (at eta = 50 it falls
    within the first logging interval)."""
    def run(P, steps, log_every):
        return Run(global_local(P), TrainConfig(steps=steps, eta=20.0, log_every=log_every, eval_samples=2048),
                   eval_samples=4096)
    return {QUICK: [run(8, 100, 4)], FULL: [run(10, 1200, 2), run(16, 1200, 4)]}


LEMMA = Lemma(
    id="THM-MAE-v3",
    title="MAE learns FP correlations in two phases on a dominant global area; global positions need one",
    provenance=Provenance(item="SPEC §9.2 THM-MAE-v3 (phase names [V], quantitative form [R])", tag="R",
                          paper="v3", paper_item="v3 main MAE theorem (number not recovered)"),
    statement=[sp.StrictLessThan(Phi_global(T1), Phi_global(0)),       # Phase I: the global FP correlation falls
               sp.GreaterThan(A_target(T2), 1 - eps),                  # Phase II: target local mass reaches 1 - eps
               sp.LessThan(T1, T2)],
    claims=[Phases(runs())],
    notes="For each (p, k): T1 = first logged step from which the target area's mean mass (over avoidable events) is "
          "at least every other area's; T2 = first logged step from which it is >= 1 - eps (eps = 0.05).  Phase I = "
          "Phi_(p->v_(k,1)) fell below its start before T1.  Global positions (area 1) must have T1 = 0.",
)
