"""Tolerances: a bound and the reason for it, always together (the report prints both)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from proofcheck.errors import ProofcheckError

#: float64 unit roundoff, the unit every error model in proofcheck counts in
EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Tolerance:
    """How far a compared value may be off, and why: ``atol`` absolute,
    ``rtol`` relative (numbers, or the formula of a bound that differs per
    entry), ``justification`` the error model or the claim's own threshold
    they come from.  ``parts`` keeps every named part of a tolerance given as a
    dict (``per_entry``, ...), so its JSON is what the check wrote.  Every
    CheckResult's tolerance passes through this type, so none is stated without
    its reason."""

    atol: object
    justification: str
    rtol: object = 0.0
    parts: tuple = ()

    def __post_init__(self):
        if not isinstance(self.justification, str) or not self.justification.strip():
            raise ProofcheckError(f"a tolerance needs its justification, got {self.justification!r}")

    @classmethod
    def of(cls, spec: "Tolerance | dict | None") -> "Tolerance | None":
        """A Tolerance from a check's ``{"atol": .., "rtol": .., "justification": ..}``."""
        if spec is None or isinstance(spec, Tolerance):
            return spec
        if not isinstance(spec, dict) or "justification" not in spec:
            raise ProofcheckError(f"a tolerance needs its justification, got {spec!r}")
        parts = tuple((k, v) for k, v in spec.items() if k != "justification")
        return cls(spec.get("atol"), spec["justification"], spec.get("rtol"), parts)

    def to_dict(self) -> dict:
        parts = dict(self.parts) if self.parts else {"atol": self.atol, "rtol": self.rtol}
        return {**parts, "justification": self.justification}
