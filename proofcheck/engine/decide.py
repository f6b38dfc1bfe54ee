"""Exact decisions of pointwise polynomial inequality claims with z3's nonlinear
real arithmetic (SPEC §7-§8: the sign and bound claims of LEM-G5, LEM-G6, LEM-G7).

A pointwise claim is a relation ``lhs op rhs`` (op one of ``>=``, ``<=``, ``>``,
``<``, ``==``) between SymPy expressions in the event vocabulary of SPEC §7,
optionally under a ``condition`` (an implication ``condition => lhs op rhs``).
:func:`decide` decides it, for each number of areas N in turn, on the whole
*domain of an event*:

* areas 1..N, the distinguished indices ``a`` (target area), ``j`` (an FP
  coordinate's area), ``b`` (a PP key's area) in 1..N;
* masses ``A_1..A_N >= 0``, ``A_0 >= 0``, ``A_0 + sum_i A_i = 1`` (the closed
  simplex); ``A_0 = 0`` in key set A (only unmasked keys);
* scales ``z_1..z_N`` each in ``[L, U]`` (``z_interval``), or ``z_i > 0``
  (``z_positive``), or free reals; both given means their intersection;
* the condition, instantiated, as a hypothesis.

It asks z3 (``SolverFor("QF_NRA")``, i.e. nlsat, a *complete* procedure for
quantifier-free nonlinear real arithmetic) for a point of the domain where the
condition holds and the relation fails.  Per N:

* ``PROVED``   -- unsat for every configuration of the indices: the claim holds at
  every point of the domain, hence for every event of every instance with N
  areas (every mask, every area size: an event's masses always lie in the
  simplex).  The domain is a superset of the attainable masses (it contains the
  boundary, and ``A_0 = 0`` in key set B), which only makes PROVED stronger.
* ``REFUTED``  -- sat: an exact rational counterexample (``fractions.Fraction``
  values of ``z_i``, ``A_i``, ``A_0``, taken from z3's model) with both sides
  recomputed *in SymPy with Rationals* from the claim as written; a model that
  does not survive that recomputation is never reported as REFUTED.  A
  counterexample on the boundary of the simplex (a mass exactly 0) is a point of
  the domain but not of any event's softmax; :func:`realize` says so and moves
  it inside.
* ``INCONCLUSIVE`` -- z3 answered unknown (timeout, resource limit), the time
  budget ran out, or a sat model could not be turned into a confirmed rational
  counterexample.  Never a pass.


The translation, the z3 encoding, the solving of one configuration and the
realization of a counterexample live in :mod:`proofcheck.engine.decide_translate`,
:mod:`~proofcheck.engine.decide_encode`, :mod:`~proofcheck.engine.decide_solve` and
:mod:`~proofcheck.engine.decide_realize`; this module is the decision loop and the cache key.

Cache
-----
A decision depends only on the claim (its ``srepr``), the key set, N, the
z-domain, the timeout and the options; :func:`decision_key` hashes exactly
these (plus :data:`VERSION`) into a stable hex string, and
:meth:`Decision.to_dict` / :meth:`Decision.from_dict` give a JSON form.
Callers that cache should not treat a cached INCONCLUSIVE as final if they are
willing to spend a longer timeout.


Measured reach
--------------
``timeout_ms = 60000`` per configuration, z3 4.x/5.4, a shared 2-core machine
(times vary by run and load; the largest N proved in every one of N = min..N):

=======================  ==========  ==========  ==========  ==========
claim                    A, z > 0    B, z > 0    A, [1/4,2]  B, [1/4,2]
=======================  ==========  ==========  ==========  ==========
LEM-G5 sign              >= 8        >= 8        >= 8        >= 8
LEM-G6 sufficient cond.  >= 8        >= 8        >= 8        6
LEM-G7 decrease          7           >= 8        4           4
LEM-G7 bound             4           4           3           3
=======================  ==========  ==========  ==========  ==========

(">= 8": not tried beyond 8.)  The first N past each bound came back
INCONCLUSIVE (timeout), not refuted.

Depends only on sympy and z3 (the vocabulary is mirrored in decide_translate).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from proofcheck.engine.decide_realize import realize
from proofcheck.engine.decide_solve import Counterexample, decide_config
from proofcheck.engine.decide_translate import (INCONCLUSIVE, KEY_SETS, PROVED, REFUTED, Claim, UnsupportedClaim,
                                                ZDomain, area_symmetry, as_claim, configurations, instantiate_claim)

__all__ = ["INCONCLUSIVE", "PROVED", "REFUTED", "VERSION", "Claim", "Counterexample", "Decision", "UnsupportedClaim",
           "configurations", "decide", "decision_key", "largest_proved", "realize"]

#: bump when the meaning of a decision (encoding, domain) changes; part of every cache key
VERSION = "decide-1"
MAX_ENCODINGS = ("auto", "conjunction", "exact")

@dataclass
class Decision:
    """The decision of one claim at one N (over every configuration of its indices)."""

    status: str
    n: int
    scope: dict
    counterexample: Counterexample | None = None
    reason: str = ""
    seconds: float = 0.0
    configurations: list = field(default_factory=list)
    key: str = ""
    encoding: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"status": self.status, "n": self.n, "scope": self.scope, "reason": self.reason,
                "seconds": self.seconds, "configurations": self.configurations, "key": self.key,
                "encoding": self.encoding,
                "counterexample": None if self.counterexample is None else self.counterexample.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> Decision:
        ce = d.get("counterexample")
        return cls(d["status"], d["n"], d["scope"], None if ce is None else Counterexample.from_dict(ce),
                   d.get("reason", ""), d.get("seconds", 0.0), list(d.get("configurations", [])), d.get("key", ""),
                   dict(d.get("encoding", {})))



def _scope(n: int, key_set: str, zd: ZDomain) -> dict:
    return {"areas": n, "key_set": key_set, "z": zd.describe(), "masks": "all", "area_sizes": "all"}


def decision_key(claim, *, key_set: str, n: int, z_interval=None, z_positive: bool = False,
                 timeout_ms: int = 10_000, symmetry: bool = True, max_encoding: str = "auto") -> str:
    """A stable hex digest of everything a decision depends on: the claim's srepr,
    the key set, N, the z-domain (interval and positivity), the timeout, the
    options and :data:`VERSION`."""
    c = as_claim(claim)
    zd = ZDomain.make(z_interval, z_positive)
    payload = json.dumps({"version": VERSION, "claim": c.srepr(), "key_set": key_set, "n": int(n), "z": zd.key(),
                          "timeout_ms": int(timeout_ms), "symmetry": bool(symmetry), "max_encoding": max_encoding},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()



# -- the decision procedure ------------------------------------------------------------------------------

def decide(claim, *, key_set: str, n_max: int, z_interval=None, z_positive: bool = False,
           timeout_ms: int = 10_000, n_min: int = 1, budget_s: float | None = None, symmetry: bool = True,
           max_encoding: str = "auto") -> list[Decision]:
    """Decide ``claim`` for N = n_min..n_max areas (from the claim's minimum N on).

    ``timeout_ms`` is the z3 time of each configuration of the indices (shared
    among its conjuncts and formulations; a REFUTED answer adds a few checks to
    make the model rational);
    ``budget_s`` bounds the whole call: N values not started within it come back
    INCONCLUSIVE ("time budget exhausted"), never dropped.  See the module
    docstring for the domain, the encoding and the meaning of each outcome."""
    if key_set not in KEY_SETS:
        raise ValueError(f"key_set must be one of {KEY_SETS}, got {key_set!r}")
    if max_encoding not in MAX_ENCODINGS:
        raise ValueError(f"max_encoding must be one of {MAX_ENCODINGS}, got {max_encoding!r}")
    c = as_claim(claim)
    zd = ZDomain.make(z_interval, z_positive)
    sym_ok, K = area_symmetry(c)
    start = time.perf_counter()
    out: list[Decision] = []
    for n in range(max(1, n_min), n_max + 1):
        key = decision_key(c, key_set=key_set, n=n, z_interval=z_interval, z_positive=z_positive,
                           timeout_ms=timeout_ms, symmetry=symmetry, max_encoding=max_encoding)
        scope = _scope(n, key_set, zd)
        if budget_s is not None and time.perf_counter() - start > budget_s:
            if _has_configuration(c, n, key_set, symmetry):
                out.append(Decision(INCONCLUSIVE, n, scope, reason=f"time budget of {budget_s} s exhausted "
                                                                   f"before N = {n} was tried", key=key))
            continue
        t0 = time.perf_counter()
        results, status, ce, reason, encoding = [], PROVED, None, "z3: unsat for every configuration", {}
        for env in configurations(c, n, symmetry):
            r = decide_config(c, n, env, key_set, zd, timeout_ms, symmetry, sym_ok, K, max_encoding)
            if r["status"] is None:
                continue
            results.append({"indices": r["indices"], "status": r["status"], "seconds": round(r["seconds"], 6),
                            "reason": r["reason"]})
            for k, v in r.get("encoding", {}).items():
                encoding.setdefault(k, v)
            if r["status"] == REFUTED:
                status, ce, reason = REFUTED, r["counterexample"], r["reason"]
                break
            if r["status"] == INCONCLUSIVE and status == PROVED:
                status, reason = INCONCLUSIVE, f"{r['reason']} at indices {r['indices']}"
        if not results:
            continue  # below the claim's minimum N: no configuration exists
        out.append(Decision(status, n, scope, ce, reason, time.perf_counter() - t0, results, key, encoding))
    return out


def _has_configuration(c: Claim, n: int, key_set: str, symmetry: bool) -> bool:
    return any(not isinstance(instantiate_claim(c, n, env, key_set), str) for env in configurations(c, n, symmetry))



def largest_proved(decisions: Sequence[Decision]) -> int | None:
    """The largest N such that the claim is PROVED for every decided N up to it
    (from the first N reported), or None if the first is not PROVED."""
    best = None
    for d in sorted(decisions, key=lambda d: d.n):
        if d.status != PROVED:
            break
        best = d.n
    return best


