"""The decision leg of a pointwise inequality (SPEC §8 sign and bound claims):
exact decisions per N with :mod:`proofcheck.engine.decide`, cached on disk,
and every refutation realized in the model and confirmed by torch.

Per key set (A and B) the claim is decided for N = 1, 2, .. until N reaches
the plan's ``n_max``, a decision is not PROVED, or the plan's time is spent.
The z-domain is the one the lemma assumes: ``z > 0`` when ``z_positive`` is
among the claim's assumptions (DEF-DATA item 4: z >= L > 0 for every L > 0),
free reals otherwise.  The result is

* PROVED with ``evidence["scope"]`` = {areas: the largest N proved in both key
  sets, area_sizes: "all", masks: "all", key_sets, z} (an event's masses lie in
  the simplex whatever the mask and the area sizes);
* REFUTED with the exact rational counterexample, realized by
  :func:`~proofcheck.engine.decide_realize.model_event` as an instance, a mask, a
  query p and a Q, where the torch model's attention and the claim evaluated
  in float64 confirm the failure (the report names the instance and the Q);
* INCONCLUSIVE when not even the smallest N is decided (a timeout is never a
  pass) or a counterexample lies only on the unattainable boundary A_0 = 0 of
  key set B.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from fractions import Fraction

import torch

from proofcheck.engine import resultcache
from proofcheck.engine.decide import (INCONCLUSIVE, PROVED, REFUTED, Counterexample, Decision, UnsupportedClaim,
                                      decide, decision_key, realize)
from proofcheck.engine.counterexamples import save_counterexample
from proofcheck.engine.decide_realize import model_event
from proofcheck.engine.decide_sample import (KINDS, N_MAX, Z_FREE_RANGE, Z_POSITIVE_RANGE, DomainPoint, PointBatch,
                                             batches, resolve, sample_search, stack)
from proofcheck.engine.evaluate import EventView, uses_keys
from proofcheck.engine.search import Outcome
from proofcheck.setting.coords import events
from proofcheck.setting.sampling import exact_batch
from proofcheck.verdict import CheckResult, Verdict


@dataclass(frozen=True)
class DecisionPlan:
    """How far the decision leg goes: N up to ``n_max``, ``timeout_ms`` per
    configuration, and at most ``budget_s`` seconds of solving per claim (cached
    decisions cost nothing)."""

    n_max: int
    timeout_ms: int
    budget_s: float


#: per budget name; measured cold times of the built-in claims are in docs/lemma-format.md#decisions
PLANS = {"quick": DecisionPlan(4, 4_000, 30.0), "full": DecisionPlan(8, 60_000, 900.0),
         "mutation": DecisionPlan(3, 2_000, 10.0)}
#: any other budget (tests build their own)
DEFAULT_PLAN = DecisionPlan(3, 2_000, 10.0)


def plan_for(budget_name: str) -> DecisionPlan:
    return PLANS.get(budget_name, DEFAULT_PLAN)


def decide_cached(claim, key_set: str, n: int, z_positive: bool, plan: DecisionPlan, folder) -> Decision | None:
    """The decision at one N, from the disk cache (``folder``) when present; None
    when the claim has no configuration of its indices at this N (below its minimum N)."""
    key = decision_key(claim, key_set=key_set, n=n, z_positive=z_positive, timeout_ms=plan.timeout_ms)
    path = resultcache.entry(folder, decision=key)
    stored = resultcache.load(path)
    if stored is not None:
        try:
            return None if stored.get("absent") else Decision.from_dict(stored)
        except (KeyError, TypeError, ValueError):
            pass  # an unreadable entry is a cold cache
    got = decide(claim, key_set=key_set, n_min=n, n_max=n, z_positive=z_positive, timeout_ms=plan.timeout_ms)
    resultcache.store(path, got[0].to_dict() if got else {"absent": True})
    return got[0] if got else None


def run_decisions(claim, z_positive: bool, plan: DecisionPlan, folder) -> dict:
    """{key_set: [Decision, ..]} for N = 1.. until one is not PROVED, ``n_max`` or the time runs out."""
    out, start = {}, time.perf_counter()
    for key_set in ("A", "B"):
        out[key_set] = []
        for n in range(1, plan.n_max + 1):
            if time.perf_counter() - start > plan.budget_s:
                out[key_set].append(Decision(INCONCLUSIVE, n, {"areas": n},
                                             reason=f"the plan's {plan.budget_s} s were spent before N = {n}"))
                break
            d = decide_cached(claim, key_set, n, z_positive, plan, folder)
            if d is None:
                continue
            out[key_set].append(d)
            if d.status != PROVED:
                break
    return out


def reach(decisions: list[Decision]) -> int:
    """The largest N proved in every N from the claim's minimum N up to it (0 when the first is not PROVED)."""
    best = 0
    for d in decisions:
        if d.status != PROVED:
            break
        best = d.n
    return best


def realize_counterexample(ce: Counterexample) -> dict:
    """The counterexample as a model event (see :func:`model_event`), moved into the
    interior by :func:`realize` when it has A_0 = 0 in key set B; ``{"error": ..}``
    when the claim fails only on that unattainable boundary."""
    masses, moved = list(ce.masses), None
    if ce.key_set == "B" and ce.A0 == 0:
        r = realize(ce)
        if not r["still_refutes"]:
            return {"error": "the claim fails only at A_0 = 0, which key set B cannot attain (the masked query "
                             "is itself a key); at the nearest interior point it holds"}
        masses = [r["realized_masses"][f"A_{k}"] for k in range(ce.n + 1)]
        moved = r["flag"]
    a = int(ce.indices.get("a", 1))
    event = model_event(ce.n, ce.key_set, a, ce.z, masses)
    event["moved"] = moved
    return event


# -- the legs as check results ----------------------------------------------------------------------------

def _torch_confirmation(claim, event: dict) -> tuple[Outcome, dict]:
    """The claim evaluated in float64 at the realized event only (its mask and query)."""
    case = event["case"]
    inst = case.instance
    batch = exact_batch(inst)
    view = EventView.from_events(events(case.Phi, case.Ups, inst, batch), inst, batch)
    want = torch.tensor(event["mask"], dtype=torch.bool)
    rows = (batch.mask[view.event] == want).all(1) & (view.query == event["query"])
    sub = EventView(**{f.name: (None if getattr(view, f.name) is None else getattr(view, f.name)[rows])
                       for f in dataclasses.fields(EventView)})
    return claim.evaluate_view(sub, inst.P, mask=batch.mask), {"rows": int(rows.sum())}


def _fmt(ce: Counterexample) -> str:
    return (f"N = {ce.n}, key set {ce.key_set}, indices {ce.indices}, z = ({', '.join(map(str, ce.z))}), "
            f"A = ({', '.join(map(str, ce.A))}), A_0 = {ce.A0}: lhs = {ce.lhs}, rhs = {ce.rhs}")


def decision_check(claim, lemma, ctx, z_positive: bool) -> CheckResult:
    """The decision leg of ``claim`` as one CheckResult (see the module docstring)."""
    name = f"{claim.describe()} [decision]"
    plan = plan_for(ctx.budget.name)
    z = "positive" if z_positive else "free"
    try:
        got = run_decisions(claim, z_positive, plan, ctx.cache("decisions"))
    except UnsupportedClaim as exc:
        return CheckResult(claim.kind, name, Verdict.INCONCLUSIVE,
                           f"{claim.label}: not decided exactly ({exc}); the sampling legs judge it",
                           evidence={"reason": str(exc)}, seed=ctx.seed, affects_verdict=False)
    summary = {ks: [{"n": d.n, "status": d.status, "reason": d.reason} for d in ds] for ks, ds in got.items()}
    refuted = sorted((d for ds in got.values() for d in ds if d.status == REFUTED), key=lambda d: d.n)
    if refuted:
        ce = refuted[0].counterexample
        exact = {"counterexample": ce.to_dict(), "decisions": summary, "z": z}
        event = realize_counterexample(ce)
        if "error" in event:
            return CheckResult(claim.kind, name, Verdict.INCONCLUSIVE,
                               f"{claim.label}: exact counterexample {_fmt(ce)}, but {event['error']}",
                               evidence=exact, seed=ctx.seed)
        outcome, where = _torch_confirmation(claim, event)
        inst = event["case"].instance
        confirmed = not outcome.holds
        cx = save_counterexample(lemma, claim, event["case"], outcome, ctx, f"decision, z {z}")
        realized = {"instance": inst.describe(), "P": inst.P,
                    "mask": event["mask"], "query": event["query"], "Ups_row": event["case"].Ups[event["query"]]
                    .tolist(), "Phi": "0", "masses": event["masses"], "torch_masses": event["torch_masses"],
                    "moved": event["moved"], "torch_confirms": confirmed, "torch_worst": outcome.worst, **where}
        how = ("torch confirms: margin {:.3g} at that event".format(outcome.margin) if confirmed else
               "torch does not resolve it (the exact margin is below float64 rounding there)")
        return CheckResult(claim.kind, name, Verdict.REFUTED,
                           f"{claim.label}: fails exactly at {_fmt(ce)}; realized at instance {inst.name} "
                           f"(P = {inst.P}), mask {event['mask']}, query p = {event['query']}, Q from Phi = 0 and "
                           f"Ups row p = log(A_g / n_g); {how}",
                           evidence={**exact, "realized": realized}, counterexample=cx,
                           margin=_margin(claim, ce), seed=ctx.seed)
    n_proved = min(reach(ds) for ds in got.values())
    beyond = {ks: ds[-1].reason for ks, ds in got.items() if ds and ds[-1].status != PROVED}
    if n_proved == 0:
        return CheckResult(claim.kind, name, Verdict.INCONCLUSIVE,
                           f"{claim.label}: not decided at the smallest N ({'; '.join(beyond.values())})",
                           evidence={"decisions": summary, "z": z}, seed=ctx.seed)
    scope = {"areas": n_proved, "area_sizes": "all", "masks": "all", "key_sets": ["A", "B"], "z": z}
    return CheckResult(claim.kind, name, Verdict.PROVED,
                       f"{claim.label}: z3 decides it for every N <= {n_proved}, both key sets, every mask and area "
                       f"size, z {z}" + (f" (beyond: {'; '.join(f'{k}: {v}' for k, v in beyond.items())})"
                                          if beyond else ""),
                       evidence={"scope": scope, "decisions": summary, "plan": dataclasses.asdict(plan)},
                       seed=ctx.seed)


def _margin(claim, ce: Counterexample) -> float | None:
    """The exact counterexample's margin (negative: the claim fails by that much)."""
    if not (isinstance(ce.lhs, Fraction) and isinstance(ce.rhs, Fraction)):
        return None
    return float(ce.lhs - ce.rhs if claim.op == ">=" else ce.rhs - ce.lhs)


#: points per Hypothesis example of the direct-sampling leg (one example per example of the budget)
BATCH = 32
#: the mass moved onto A_0 when a sampled point with A_0 = 0 in key set B is realized (unattainable there)
A0_NUDGE = Fraction(1, 10 ** 9)


def sampling_check(claim, lemma, ctx, z_positive: bool) -> CheckResult:
    """The direct-sampling leg of ``claim`` (:mod:`proofcheck.engine.decide_sample`):
    VERIFIED with the scope of what was sampled, or REFUTED at a sampled point,
    realized in the model and confirmed by torch."""
    name = f"{claim.describe()} [direct sampling]"
    if uses_keys(claim.lhs, claim.rhs, claim.condition):
        return CheckResult(claim.kind, name, Verdict.INCONCLUSIVE, f"{claim.label}: speaks of keys (attn_q, u_q), "
                           "which the direct sampling of area masses does not draw; the model search judges it",
                           seed=ctx.seed, affects_verdict=False)
    zr = Z_POSITIVE_RANGE if z_positive else Z_FREE_RANGE
    scope = {"areas": f"1..{N_MAX}", "key_sets": ["A", "B"], "z": f"[{zr[0]}, {zr[1]}]", "masses": list(KINDS)
             if claim.condition is not None else list(KINDS[:-1])}

    def judge(batch: PointBatch) -> Outcome:
        points = resolve(claim.condition, batch.points)
        return claim.evaluate_view(stack(points), max(p.n for p in points) + 1)

    found = sample_search(batches(z_positive, claim.condition is not None, BATCH), judge, ctx.budget.examples,
                          ctx.seed)
    n_points = BATCH * found.cases
    evidence = {"scope": {**scope, "points": n_points}, "vacuous_batches": found.vacuous}
    if found.reason is not None:
        return CheckResult(claim.kind, name, Verdict.INCONCLUSIVE, f"{claim.label}: {found.reason}",
                           evidence=evidence, seed=ctx.seed)
    if found.failure is None:
        s = found.smallest
        rel = "n/a (every point was 0 = 0)" if s is None or not math.isfinite(s.relative) else f"{s.relative:.3g}"
        return CheckResult(claim.kind, name, Verdict.VERIFIED,
                           f"{claim.label}: held at {n_points} points drawn directly on the domain (N <= {N_MAX}, "
                           f"both key sets, z in {scope['z']}, {', '.join(scope['masses'])}); smallest relative "
                           f"margin {rel}", evidence={**evidence, "worst": None if s is None else s.worst},
                           tolerance=claim.tolerance(), seed=ctx.seed)
    point = _failing_point(claim, found.failure_case)
    masses = [Fraction(x) for x in (point.A0, *point.A)]
    if point.key_set == "B" and masses[0] == 0:
        masses = [(1 - A0_NUDGE) * m for m in masses]
        masses[0] = A0_NUDGE
    total = sum(masses)
    event = model_event(point.n, point.key_set, point.a, point.z, [m / total for m in masses])
    outcome, where = _torch_confirmation(claim, event)
    cx = save_counterexample(lemma, claim, event["case"], outcome, ctx, "direct sampling")
    verdict = Verdict.REFUTED if not outcome.holds else Verdict.INCONCLUSIVE
    inst = event["case"].instance
    return CheckResult(claim.kind, name, verdict,
                       f"{claim.label}: fails at the drawn point {point.to_dict() | {'partner': None}} "
                       f"(margin {found.failure.margin:.3g}); realized at instance {inst.name} (P = {inst.P}), mask "
                       f"{event['mask']}, query p = {event['query']}: "
                       + ("torch confirms" if not outcome.holds else "torch does NOT confirm it there"),
                       evidence={**evidence, "worst": found.failure.worst, "point": point.to_dict(),
                                 "realized": {"mask": event["mask"], "query": event["query"],
                                              "torch_masses": event["torch_masses"], **where}},
                       tolerance=claim.tolerance(), counterexample=cx, margin=found.failure.margin, seed=ctx.seed)


def _failing_point(claim, batch: PointBatch) -> DomainPoint:
    """The point of a failing batch where the claim fails (the first, if several)."""
    for p in resolve(claim.condition, batch.points):
        out = claim.evaluate_view(stack([p]), p.n + 1)
        if not out.holds or math.isnan(out.margin):  # a NaN satisfies no claim (engine.search)
            return p
    raise AssertionError("a failing batch has no failing point")  # the batch's rows are evaluated independently
