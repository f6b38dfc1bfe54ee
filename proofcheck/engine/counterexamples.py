"""Counterexample storage: a refuting case saved as JSON under the cache folder, replayable later."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from proofcheck.engine.search import Outcome
from proofcheck.lang.assumptions import case_from_dict
from proofcheck.lang.cases import Case
from proofcheck.errors import UsageError
from proofcheck.io import atomic_write_text
from proofcheck.context import CheckContext
from proofcheck.lang.lemma import Claim, Lemma
from proofcheck.engine.discovery import load_lemma_file
from proofcheck.verdict import jsonable


def save_counterexample(lemma: Lemma, claim: Claim, case: Case, outcome: Outcome, ctx: CheckContext,
                        scope: str) -> dict:
    """The replayable counterexample record; written under ``ctx.cache_dir /
    counterexamples`` when a cache folder is set."""
    record = {"lemma_id": lemma.id, "source": lemma.source, "claim": claim.label,
              "claim_path": _claim_path(lemma, claim), "scope": scope, "seed": ctx.seed,
              "case": case.to_dict(), "margin": outcome.margin, "worst": outcome.worst}
    if ctx.cache_dir is not None:  # under the cache root's counterexamples/ folder
        digest = hashlib.sha1(f"{claim.label}|{scope}".encode()).hexdigest()[:10]
        path = ctx.cache("counterexamples") / f"{lemma.id}-{digest}-seed{ctx.seed}.json"
        record["file"] = str(path)
        record["replay"] = f"python -c \"from proofcheck.engine.counterexamples import replay; print(replay('{path}'))\""
        atomic_write_text(path, json.dumps(jsonable(record), indent=2, sort_keys=True))
    else:
        record["replay"] = "proofcheck.engine.counterexamples.replay(<this record>, claim) re-evaluates it"
    return jsonable(record)


def _claim_path(lemma: Lemma, claim: Claim) -> list:
    """Where ``claim`` sits in the lemma: [index] or [index, "claim"] for a probe's claim."""
    for n, c in enumerate(lemma.claims):
        if c is claim:
            return [n]
        if getattr(c, "claim", None) is claim:  # a probe of that claim
            return [n, "claim"]
    return []


def replay(record: str | Path | dict, claim: Claim | None = None) -> Outcome:
    """Re-evaluate a saved counterexample (a file path or the record itself).
    Without ``claim`` the claim is taken from the lemma file the record names."""
    if not isinstance(record, dict):
        record = json.loads(Path(record).read_text())
    if claim is None:
        if not record.get("source") or not record.get("claim_path"):
            raise UsageError("this counterexample names no lemma file and claim; pass the claim to replay()")
        claim = load_lemma_file(record["source"]).claims[record["claim_path"][0]]
        if record["claim_path"][1:] == ["claim"]:
            claim = claim.claim
    return claim.evaluate_case(case_from_dict(record["case"]))
