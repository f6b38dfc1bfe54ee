"""Hypothesis profiles: ``ci`` (derandomised, bounded) is selected when CI is
set; ``dev`` (deeper, random) otherwise.  Selecting explicitly keeps both runs
deliberate (Hypothesis would otherwise load its own built-in ci profile)."""
import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one xdist worker per core already: torch's default of a thread per core in each worker would
    # oversubscribe the cores (set before torch is imported; subprocesses of the tests inherit it)
    os.environ["OMP_NUM_THREADS"] = "1"

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", derandomize=True, max_examples=10, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=40, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("PROOFCHECK_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


import pytest  # noqa: E402  (after the profile is loaded, as Hypothesis requires for module-level settings)
import torch  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # in case a plugin imported torch before the variable above was read

import json  # noqa: E402

#: mutation scores of this process (tests/test_adequacy.py), and those sent back by xdist workers
_SCORES = []
_WORKER_SCORES: list[dict] = []


@pytest.fixture(scope="session")
def mutation_scores():
    """Mutation scores collected by tests/test_adequacy.py, printed at the end."""
    return _SCORES


def _records(scores) -> list[dict]:
    return [{"lemma_id": s.lemma_id, "line": s.line(), "total": len(s.outcomes), "refuted": s.count("refuted"),
             "live": len(s.outcomes) - s.count("equivalent")} for s in scores]


def pytest_sessionfinish(session):
    # under pytest-xdist a worker's scores reach the controller through workeroutput
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["proofcheck_scores"] = json.dumps(_records(_SCORES))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _WORKER_SCORES.extend(json.loads(getattr(node, "workeroutput", {}).get("proofcheck_scores", "[]")))


def pytest_terminal_summary(terminalreporter):
    records = _records(_SCORES) + _WORKER_SCORES
    if not records:
        return
    terminalreporter.section("proofcheck mutation scores")
    for r in sorted(records, key=lambda r: r["lemma_id"]):
        terminalreporter.write_line(r["line"])
    refuted, live = sum(r["refuted"] for r in records), sum(r["live"] for r in records)
    terminalreporter.write_line(f"total: {sum(r['total'] for r in records)} mutants, {refuted}/{live} "
                                f"non-equivalent refuted ({100 * refuted / max(live, 1):.1f}%)")
