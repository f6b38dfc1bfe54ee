"""LEM-G3 (row decoupling) and LEM-G9 (symmetry) along real training."""
import sympy as sp

from proofcheck.api import (DecouplingAlongTraining, FULL, Lemma, Provenance, QUICK, Run, SymmetryAlongTraining,
                            TrainConfig, balanced, global_local)

p, q, f = sp.symbols("p q f", integer=True)
sigma, tau = sp.Function("sigma"), sp.Function("tau")
Phi, Ups = sp.IndexedBase("Phi"), sp.IndexedBase("Upsilon")


def runs() -> dict:
    def cfg(steps):
        return TrainConfig(steps=steps, eta=20.0, log_every=5)
    return {QUICK: [Run(balanced(8), cfg(60))],
            FULL: [Run(balanced(8), cfg(300)), Run(global_local(10), cfg(300))]}


LEMMA = Lemma(
    id="LEM-G3-G9-TRAJ",
    title="Along GD the query rows evolve independently and symmetric correlations stay equal",
    provenance=Provenance(item="SPEC §8 LEM-G3, LEM-G9", tag="D", paper="v1 §5 (gradient dynamics)"),
    statement=[sp.Eq(Phi[sigma(p), tau(f)], Phi[p, f]), sp.Eq(Ups[sigma(p), sigma(q)], Ups[p, q])],
    claims=[DecouplingAlongTraining(runs()), SymmetryAlongTraining(runs())],
    notes="Symmetries: the cyclic shifts and reflections of the positions that map every cluster's "
          "partition onto itself (found per instance).  Exact-expectation GD only: a Monte Carlo batch "
          "is not symmetric.",
)
