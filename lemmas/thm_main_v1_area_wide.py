"""THM-MAIN-v1 (SPEC 9.1) on trained models: area-wide attention and near-optimal loss."""
import sympy as sp
from hypothesis import strategies as st

from proofcheck.api import (AreaWide, Assumption, Cluster, CorrelationDrift, Lemma, Provenance, StepAgreement,
                            TargetLogGrowth, TrainCase, TrajectoryProbe, ZLaw, instances, step_agreement_runs,
                            theorem_runs)

eps = sp.Symbol("epsilon", positive=True)
frac = sp.Symbol("Pr[A_(p,a_k(p)) >= 1 - epsilon | p avoidable]", nonnegative=True)
gap = sp.Symbol("L(Q_T) - L_infinity", nonnegative=True)
P = sp.Symbol("P", positive=True)
gamma = sp.Symbol("gamma", positive=True)
phi_t, phi_nt, ups = (sp.Symbol(n) for n in ("Phi_target(T*)", "max|Phi_nontarget(T)|", "max|Ups(T)|"))
Z_LOWER = 0.25
ETA_PROBE = 200.0


def _cases():
    """Small cases inside every assumption: z >= 0.25, gamma in [0.2, 0.8], orthonormal, distinct partitions."""
    return st.builds(TrainCase, instances(min_P=3, max_P=5, max_clusters=2, max_areas=2, key_sets=("B",),
                                          z_lower=0.5, z_upper=1.5, gamma=(0.2, 0.8), bases=("aligned",)),
                     st.just(ETA_PROBE)).filter(lambda c: all(a.holds(c) for a in ASSUMPTIONS))


def _distinct(c):
    parts = [frozenset(map(frozenset, cl.areas)) for cl in c.instance.clusters]
    return len(set(parts)) == len(parts)


def _with(c, **kw):
    return TrainCase(c.instance.with_options(**kw), c.eta)


def _z_touching_0(c):
    zero = ZLaw(values=(0.0, 1.5))
    clusters = tuple(Cluster(cl.weight, cl.areas, (zero,) * len(cl.areas)) for cl in c.instance.clusters)
    return _with(c, clusters=clusters)


def _shared_partition(c):
    first = c.instance.clusters[0]
    clusters = tuple(Cluster(cl.weight, first.areas, first.z) for cl in c.instance.clusters)
    return _with(c, clusters=clusters, d=None)          # fewer features: let d follow P + sum N_k


ASSUMPTIONS = [
    Assumption("z-positive", f"z_j(X) in [L, U] with L >= {Z_LOWER} (SPEC DEF-DATA item 4, LEM-G11)",
               lambda c: c.instance.z_lower >= Z_LOWER, _cases, _z_touching_0,
               formula=sp.GreaterThan(sp.Symbol("L"), sp.nsimplify(Z_LOWER))),
    Assumption("gamma-interior", "masking probability gamma in [0.2, 0.8], a constant in (0, 1) (DEF-MASK)",
               lambda c: 0.2 <= c.instance.gamma <= 0.8, _cases, lambda c: _with(c, gamma=0.97),
               formula=sp.And(sp.LessThan(sp.Rational(1, 5), gamma), sp.LessThan(gamma, sp.Rational(4, 5)))),
    Assumption("gamma-not-small", "gamma away from 0 (the other end of DEF-MASK's range)",
               lambda c: c.instance.gamma >= 0.2, _cases, lambda c: _with(c, gamma=0.03),
               formula=sp.GreaterThan(gamma, sp.Rational(1, 5))),
    Assumption("distinct-partitions", "different clusters have different partitions (DEF-DATA item 2)",
               _distinct, _cases, _shared_partition),
    Assumption("orthonormal", "embeddings {e_p} and {v_kj} orthonormal (DEF-DATA item 5)",
               lambda c: c.instance.orthonormal, _cases, lambda c: _with(c, skew=0.5)),
    Assumption("eta-descent", f"eta <= {ETA_PROBE:g}, where GD on these instances decreases the loss at every step",
               lambda c: c.eta <= ETA_PROBE, _cases, lambda c: TrainCase(c.instance, 1e5),
               formula=sp.LessThan(sp.Symbol("eta"), sp.Integer(int(ETA_PROBE)))),
]

LEMMA = Lemma(
    id="THM-MAIN-v1",
    title="GD reaches area-wide attention and near-optimal loss (global convergence + attention pattern)",
    provenance=Provenance(item="SPEC §9.1 THM-MAIN-v1", tag="R", paper="v1 §4",
                          paper_item="v1 §4 main results (theorem number not recovered)"),
    statement=[sp.GreaterThan(frac, 1 - eps), sp.LessThan(gap, eps),
               sp.Eq(phi_t, sp.Function("Theta")(sp.log(P / eps))), sp.Eq(phi_nt, sp.Function("O")(1)),
               sp.Eq(ups, sp.Function("O")(1))],
    claims=[AreaWide(theorem_runs()),
            StepAgreement(step_agreement_runs()),
            TargetLogGrowth(theorem_runs()),
            CorrelationDrift(theorem_runs(), which="fp"),
            CorrelationDrift(theorem_runs(), which="mass", bound=0.05),
            CorrelationDrift(theorem_runs(), which="pp"),
            TrajectoryProbe(t_star=2.1e5, t_star_source="GD at eta = 200 on 25 cases drawn (derandomized) from "
                            "this probe's strategy (P <= 5): T*(0.05) from 10 to 1040 steps, time 2e3 to 2.1e5 "
                            "(the theorem runs' population flows: 1.2e4 to 1.2e5)")],
    assumptions=ASSUMPTIONS,
    expect="REFUTED",
    expect_reason="item 3's 'non-target FP and PP correlations remain O(1)' fails on the population gradient "
                  "flow: over [T*, 100 T*] the largest non-target |Phi| keeps growing at an undiminished rate in "
                  "log t (drift 2.0-3.9 > 1 on balanced P = 16 in both key sets, P = 64 in key set A, half-shift "
                  "P = 16 in key set B; the PP correlations also drift by 1.3 on half-shift P = 16, B).  In key set "
                  "A with two areas the softmax sees only Phi_target - Phi_nontarget, so the non-target "
                  "correlation falls as fast as the target one grows; in key set B the unavoidable events "
                  "(own area fully masked) keep pushing it down, and where they are rare (P = 64, areas of 32) "
                  "it settles (drift 0.38).  What holds instead: the non-target attention masses stay <= eps = "
                  "0.05 over the whole window (bounded mass rather than bounded correlation), items 1 and 2 "
                  "hold, and the target FP correlation at T*(eps) grows like log(1/eps).",
    notes="In the theorem's regime (SPEC DEF-GD eta <= 1/poly(P)): every run is the gradient flow of the "
          "population loss (exact, by sufficient statistics; BDF rtol 1e-6) from Q(0) = 0, time t = eta x steps; "
          "GD at eta = 0.5 (max_logit_step <= 0.1) reaches T*(0.2) at the same time within 10% "
          "(StepAgreement).  eps = 0.05; item 1: L(Q_T) - L* with L* = LEM-G11's L_infinity, the loss on the "
          "unavoidable events (own area fully masked) at Q_T: the avoidable part of the loss, which tends to 0 "
          "exactly when the area-wide pattern forms; item 2: the fraction of avoidable masked events with "
          "A_(p,a_k(p)) >= 1 - eps must be >= 95% (exact).  Item 3: the target FP correlation at T*(eps), "
          "eps in {0.2, 0.1, 0.05}, fitted on log(P/eps) (slope with a 95% t interval); non-target FP and PP "
          "correlations over [T*, 100 T*] against a bound of 1 (logit units).",
)
