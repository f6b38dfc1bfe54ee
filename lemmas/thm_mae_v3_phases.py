"""THM-MAE-v3 (SPEC 9.2) on the population gradient flow: Phase I then Phase II on `global-local` instances
with a positive information gap, one phase otherwise."""
import sympy as sp

from proofcheck.api import FULL, Lemma, Phases, Provenance, QUICK, Run, TrainConfig, global_local

t, T1, T2 = sp.symbols("t T_1 T_2", nonnegative=True)
eps = sp.Symbol("epsilon", positive=True)
Phi_global, A_target = sp.Function("Phi_(p->v_(k,1))"), sp.Function("A_(p,a_k(p))")

#: flow time logged: T2(0.05) is at most 9.6e3 on the quick instances; twice that leaves room (the masses
#: only grow towards the area-wide pattern after T2)
HORIZON = 2e4
#: the flow is logged from t = 0.01 (T1 is ~12 at P = 8 with areas [6, 2], smaller for smaller gaps) at 100
#: geometric times, neighbours 16% apart: a boundary is resolved to a sixth of its phase or better
START, LOG_POINTS = 0.01, 100
#: BDF's relative error control: 1e-5 moves the masses by ~1e-5, far below the 16% of the logging grid
#: (measured on [2, 3, 3]: the same T2 on the grid at rtol 1e-4, 1e-5, 1e-6; 354 against 555 gradients)
RTOL = 1e-5


def run(P: int, kappa_l: float, delta: float) -> Run:
    """The population flow from Q(0) = 0 (BDF; exact by count vectors, one row per LEM-G9 orbit)."""
    cfg = TrainConfig(steps=round(HORIZON / START), eta=START, gradient="population", solver="BDF", rtol=RTOL,
                      atol=1e-9, log_points=LOG_POINTS)
    return Run(global_local(P, kappa_l=kappa_l, delta=delta), cfg, eval_samples=2048)


def runs() -> dict:
    """(P, kappa_l, nominal Delta) -> areas, realised Delta [R] (log of the size ratio over log P):
    quick: (8, 0.4, 0.4) -> [6, 2], +0.53; (7, 0.35, 0.2) -> [3, 2, 2], +0.21; (8, 0.5, -0.3) -> [2, 3, 3],
    -0.20.  Full adds P = 8 with [2, 2, 2, 2] (0), [5, 3] (+0.25), [4, 2, 2] (+0.33), and P = 16 with
    [4, 4, 4, 4] (0), [8, 4, 4] (+0.25), [12, 4] (+0.40).  One flow costs 5-20 s on a core."""
    quick = [run(8, 0.4, 0.4), run(7, 0.35, 0.2), run(8, 0.5, -0.3)]
    return {QUICK: quick,
            FULL: quick + [run(8, 0.3, -0.2), run(8, 0.5, 0.0), run(8, 0.3, 0.2), run(16, 0.5, -0.3),
                           run(16, 0.5, 0.1), run(16, 0.5, 0.3)]}


LEMMA = Lemma(
    id="THM-MAE-v3",
    title="MAE learns FP correlations in two phases when the global area dominates; otherwise, and for global "
          "positions, in one",
    provenance=Provenance(item="SPEC §9.2 THM-MAE-v3 (phase names [V], quantitative form [R], Delta [R])", tag="R",
                          paper="v3", paper_item="v3 main MAE theorem (number not recovered)"),
    statement=[sp.StrictLessThan(Phi_global(T1), Phi_global(0)),       # Phase I: the global FP correlation falls
               sp.GreaterThan(A_target(T2), 1 - eps),                  # Phase II: target local mass reaches 1 - eps
               sp.StrictLessThan(T1, T2)],
    claims=[Phases(runs()), Phases(runs(), claim="ordered")],
    notes="Flow times per local (p, k): T1 = first time from which A_(p,1) is no longer above every local mass "
          "(0 if it never was), T2 = first time from which A_(p,a) >= 1 - eps (eps = 0.05); masses "
          "E[A_(p,j) | k, p avoidable], exact.  Delta > 0: T1 > 0, T1 < T2 (disjoint logging brackets), and over "
          "[0, T1] the global FP correlation falls by more than the target one rises (Phase I is a stage of its "
          "own); Delta <= 0: T1 = 0.  Delta = kappa_g - kappa_l in units of log P is [R], our definition.  "
          "Measured (seed 0, full budget): T1 = 6-13 and T2 = 4.6e3-9.6e3 at Delta > 0 (T1 / T2 <= 3e-3), T1 = 0 "
          "at Delta < 0; the global fall exceeds the target rise over [0, T1] only with two areas and a local "
          "area of 2 ([6, 2]: 0.40 vs 0.34); with three or more areas or larger local areas the target rises "
          "more (1.2-1.9 times), so Phase I is the global area's lead ending, not a decoupling stage of its own.",
    expect="REFUTED",
    expect_reason="Phase I is not a stage of its own: on global-local flows with three or more areas (P = 7 [3, 2, "
                  "2], P = 8 [4, 2, 2], P = 16 [8, 4, 4]) or a local area above 2 ([5, 3], [12, 4]) the target FP "
                  "correlation rises more over [0, T1] than the global one falls (by a factor 1.2-1.9).  What holds "
                  "(claim 'ordered'): the global area's lead ends at T1 with 0 < T1 < T2 at every Delta > 0, and "
                  "Delta < 0 has one phase; at Delta = 0 a tie at Q = 0 lets the global area lead briefly "
                  "(P = 16 [4, 4, 4, 4]: T1 = 1.5).",
)
