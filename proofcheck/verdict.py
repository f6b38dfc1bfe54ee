"""Verdicts and result objects: plain data that the CLI and the reports consume.

A lemma's checks each give a :class:`CheckResult`; :class:`LemmaResult`
collects them.  Verdicts (strongest evidence first):

- ``PROVED``: SymPy proved the identity/inequality exactly (on the stated
  symbolic instances);
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

SCHEMA_VERSION = 1


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
    sample counts).  ``tolerance``: ``{"atol": .., "rtol": .., "justification": ".."}``.
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
