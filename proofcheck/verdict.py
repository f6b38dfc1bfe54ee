"""Verdicts and result objects: plain data that the CLI and the reports consume.

A lemma's checks each give a :class:`CheckResult`; :class:`LemmaResult`
collects them.  Verdicts (strongest evidence first):

- ``PROVED``: SymPy proved the identity/inequality exactly, within the scope
  its checks' ``evidence["scope"]`` states (:func:`scope_line` words it);
- ``VERIFIED``: numeric agreement within stated tolerances, with sample counts;
- ``REFUTED``: a counterexample, replayable;
- ``INCONCLUSIVE``: the check could not decide (reason given) - never a pass;
- ``ERROR``: the check itself raised; reported for that lemma only.
"""
from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from proofcheck.tolerance import Tolerance

#: 2: LemmaResult.statement_mathml (the statement typeset for the HTML page); reports of
#: version 1 still load, their pages showing the statement as text
SCHEMA_VERSION = 2


class Verdict(str, enum.Enum):
    PROVED = "PROVED"
    VERIFIED = "VERIFIED"
    REFUTED = "REFUTED"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"

    @property
    def passed(self) -> bool:
        return self in (Verdict.PROVED, Verdict.VERIFIED)


def combine(verdicts: list[Verdict]) -> Verdict:
    """A lemma's verdict from its checks: any REFUTED wins, then ERROR, then
    INCONCLUSIVE; otherwise PROVED if some check proved it symbolically and all
    the others verified it, else VERIFIED.  No checks at all is INCONCLUSIVE."""
    if not verdicts:
        return Verdict.INCONCLUSIVE
    for v in (Verdict.REFUTED, Verdict.ERROR, Verdict.INCONCLUSIVE):
        if v in verdicts:
            return v
    return Verdict.PROVED if Verdict.PROVED in verdicts else Verdict.VERIFIED


def jsonable(x: Any) -> Any:
    """Convert numpy/torch scalars and arrays, tuples and enums to JSON types."""
    if isinstance(x, enum.Enum):
        return x.value
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return jsonable(x.tolist())
    if isinstance(x, float):
        # JSON has no inf/nan: keep them readable and round-trippable as strings
        if x != x or x in (float("inf"), float("-inf")):
            return repr(x)
        return x
    return x


@dataclass
class CheckResult:
    """One check of one lemma.

    ``kind``: symbolic | numeric | inequality | probe | trajectory | structural.
    ``evidence``: JSON-able details (worst entry by name, errors, margins,
    sample counts).  ``tolerance``: a :class:`~proofcheck.tolerance.Tolerance` or its
    dict ``{"atol": .., "rtol": .., "justification": ".."}``, kept as the dict.
    ``counterexample``: JSON-able, replayable (instance dict, coordinates, the
    command that replays it).  ``timing_s`` is the only field excluded from
    determinism comparisons.
    """

    kind: str
    name: str
    verdict: Verdict
    summary: str
    evidence: dict = field(default_factory=dict)
    tolerance: dict | None = None
    counterexample: dict | None = None
    margin: float | None = None
    seed: int | None = None
    plots: list[str] = field(default_factory=list)
    timing_s: float = 0.0
    #: False for informative checks (assumption probes: what happens *outside*
    #: the assumptions) that must not change the lemma's verdict
    affects_verdict: bool = True

    def __post_init__(self):
        # one tolerance type: a bound is never stated without its justification
        tol = Tolerance.of(self.tolerance)
        self.tolerance = None if tol is None else tol.to_dict()

    def to_dict(self) -> dict:
        return jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "CheckResult":
        d = dict(d)
        d["verdict"] = Verdict(d["verdict"])
        return cls(**d)


@dataclass
class LemmaResult:
    """All checks of one lemma, with its provenance and the run's settings."""

    lemma_id: str
    title: str
    provenance: dict
    verdict: Verdict
    checks: list[CheckResult]
    budget: str
    seed: int
    statement: str = ""
    #: one presentation-MathML block per statement expression (schema 2; empty in version 1 reports)
    statement_mathml: list[str] = field(default_factory=list)
    assumptions: list[dict] = field(default_factory=list)
    source: str = ""
    versions: dict = field(default_factory=dict)
    timing_s: float = 0.0
    error: str | None = None
    #: a known finding declared by the lemma file: {"verdict": .., "reason": ..}
    expected: dict | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["checks"] = [c.to_dict() for c in self.checks]
        return jsonable({"schema_version": SCHEMA_VERSION, **d})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "LemmaResult":
        d = dict(d)
        d.pop("schema_version", None)
        d["verdict"] = Verdict(d["verdict"])
        d["checks"] = [CheckResult.from_dict(c) for c in d["checks"]]
        return cls(**d)

    @property
    def as_expected(self) -> bool:
        """The lemma got the verdict its file declares as a known finding."""
        return self.expected is not None and self.expected.get("verdict") == self.verdict.value

    @property
    def failed(self) -> bool:
        """What makes CI fail: REFUTED or ERROR, unless REFUTED is the declared
        known finding; or any verdict other than a declared known finding."""
        if self.expected is not None:
            return not self.as_expected
        return self.verdict in (Verdict.REFUTED, Verdict.ERROR)

    @property
    def worst_margin(self) -> float | None:
        margins = [c.margin for c in self.checks if c.margin is not None]
        return min(margins) if margins else None


# -- what a verdict covers (docs/lemma-format.md#scope) ----------------------------------

def _claims(result: LemmaResult) -> list[list[CheckResult]]:
    """The verdict-affecting checks grouped by claim: a check is named '<claim label> [<leg>]',
    a trajectory check '<claim label> -- <instance>'."""
    groups: dict[str, list[CheckResult]] = {}
    for c in result.checks:
        if c.affects_verdict:
            key = c.name.rsplit(" [", 1)[0] if c.name.endswith("]") else c.name.rsplit(" -- ", 1)[0]
            groups.setdefault(key, []).append(c)
    return list(groups.values())


def _runs_words(checks: list[CheckResult]) -> str | None:
    """What a trajectory claim was VERIFIED on: its training runs (``evidence["run"]``)."""
    runs = [c.evidence["run"] for c in checks if c.verdict is Verdict.VERIFIED and isinstance(c.evidence, dict)
            and isinstance(c.evidence.get("run"), dict)]
    if not runs:
        return None
    names = [r.get("label", "?").split(" (", 1)[0] for r in runs]
    keys = sorted({r.get("instance", {}).get("key_set", "?") for r in runs})
    return f"VERIFIED along {len(runs)} training run(s): {', '.join(names)} ({key_set_words(keys)})"


def _sweep_words(checks: list[CheckResult]) -> str | None:
    """What a claim judged over a whole sweep or a real data set was VERIFIED on (``evidence["verified_on"]``)."""
    on = [c.evidence["verified_on"] for c in checks if c.verdict is Verdict.VERIFIED and isinstance(c.evidence, dict)
          and isinstance(c.evidence.get("verified_on"), str)]
    return f"VERIFIED on {'; '.join(on)}" if on else None


def _scope(c: CheckResult) -> dict | None:
    s = c.evidence.get("scope") if isinstance(c.evidence, dict) else None
    return s if isinstance(s, dict) and s.get("key_sets") else None


def _reach(s: dict) -> tuple:
    """How far a proof reaches, to pick the widest per key set (never to merge two)."""
    areas = s.get("areas")
    return (areas == "all", s.get("area_sizes") == "all", s.get("masks") == "all",
            s.get("z") in ("free", "free symbols"), areas if isinstance(areas, int) else 0)


def _max_n(areas) -> int | None:
    """The largest N a sampled scope reached: an int, or the end of a range such as '1..8'."""
    if isinstance(areas, int):
        return areas
    tail = str(areas).split("..")[-1]
    return int(tail) if tail.isdigit() else None


def key_set_words(ks) -> str:
    ks = sorted(ks)
    return f"key set {ks[0]}" if len(ks) == 1 else f"key sets {', '.join(ks[:-1])} and {ks[-1]}"


def _proof_words(s: dict) -> str:
    counts = s.get("area_counts")
    if s.get("areas") == "all":
        where = "every number of areas"
    elif counts and counts != list(range(1, max(counts) + 1)):
        where = f"N in {{{', '.join(map(str, counts))}}}"
    elif isinstance(s.get("areas"), int):
        where = f"N <= {s['areas']}"
    else:
        where = f"N in {s.get('areas')}"
    if s.get("instance"):
        where += f" on {s['instance']}"
    sizes, masks = s.get("area_sizes"), s.get("masks")
    if sizes == "all" and masks == "all":
        what = "all area sizes and masks"
    else:
        what = (f"area sizes {', '.join(map(str, sizes))}" if isinstance(sizes, list) else f"area sizes {sizes}") + \
            (", every mask" if masks == "all" else f", masks {masks}")
    z = s.get("z")
    free = z in (None, "free", "free symbols")
    return f"{where}, {what}" + ("" if free else ", z > 0" if z == "positive" else f", z in {z}")


def _claim_line(checks: list[CheckResult]) -> tuple[tuple, str]:
    """(rank, words) of one claim: per key set its widest proof; the rank is that of the weakest key set."""
    proofs = [(s, c) for c in checks if c.verdict is Verdict.PROVED for s in [_scope(c)] if s]
    # model cases drawn by Hypothesis ("cases"), or points of the event symbols drawn directly ("points")
    samples = [s for c in checks if c.verdict is Verdict.VERIFIED for s in [_scope(c)]
               if s and isinstance(s.get("cases", s.get("points")), int) and _max_n(s.get("areas")) is not None]
    key_sets = {k for s, _ in proofs for k in s["key_sets"]} | {k for s in samples for k in s["key_sets"]}
    best: dict[str, dict] = {}
    for s, _ in proofs:
        for k in s["key_sets"]:
            if k not in best or _reach(s) > _reach(best[k]):
                best[k] = s
    ranks = [_reach(best[k]) if k in best else (False,) * 4 + (-1,) for k in key_sets] or [(False,) * 4 + (-2,)]
    by_words: dict[str, set] = {}
    for k, s in best.items():
        by_words.setdefault(_proof_words(s), set()).add(k)
    parts = [f"PROVED for {w}, {key_set_words(ks)}" for w, ks in by_words.items()]
    unproved = key_sets - set(best)
    if unproved and parts:
        parts.append(f"not proved in {key_set_words(unproved)}")
    if not parts and any(c.verdict is Verdict.PROVED for c in checks):
        parts.append("PROVED (scope not stated)")
    if samples and (min(ranks)[:4] != (True,) * 4 or unproved or not parts):
        keys = {k for s in samples for k in s["key_sets"]}
        counts = [f"{n} {what}" for what, n in (("cases", sum(s.get("cases", 0) for s in samples)),
                                               ("direct points", sum(s["points"] for s in samples
                                                                     if "cases" not in s))) if n]
        parts.append(f"VERIFIED by sampling for N <= {max(_max_n(s['areas']) for s in samples)} "
                     f"({key_set_words(keys)}, {', '.join(counts)})")
    if not parts and (words := _runs_words(checks) or _sweep_words(checks)):
        parts.append(words)
    return min(ranks), "; ".join(parts) or "VERIFIED (scope not stated)"


def scope_line(result: LemmaResult) -> str | None:
    """What a PROVED or VERIFIED verdict covers, in words, from the ``evidence["scope"]``
    of its checks (docs/lemma-format.md#scope): per claim and key set as far as its widest
    proof reaches, with the sampling where no proof covers everything.  It never claims
    more than the weakest part: a key set or claim without a proof is said to be without
    one, and with several claims that differ each is named, weakest first.  None for
    other verdicts (their summaries say why)."""
    if result.verdict not in (Verdict.PROVED, Verdict.VERIFIED):
        return None
    lines = [(rank, n, words) for n, checks in enumerate(_claims(result), 1) for rank, words in [_claim_line(checks)]]
    if not lines:
        return None
    if len({w for _, _, w in lines}) == 1:
        return lines[0][2]
    return "; ".join(f"claim {n}: {w}" for _, n, w in sorted(lines))
