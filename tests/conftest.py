"""Hypothesis profiles: ``ci`` (derandomised, bounded) is selected when CI is
set; ``dev`` (deeper, random) otherwise.  Selecting explicitly keeps both runs
deliberate (Hypothesis would otherwise load its own built-in ci profile)."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=10, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=40, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("PROOFCHECK_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


import pytest  # noqa: E402  (after the profile is loaded, as Hypothesis requires for module-level settings)

_SCORES = []


@pytest.fixture(scope="session")
def mutation_scores():
    """Mutation scores collected by tests/test_adequacy.py, printed at the end."""
    return _SCORES


def pytest_terminal_summary(terminalreporter):
    if not _SCORES:
        return
    terminalreporter.section("proofcheck mutation scores")
    for score in sorted(_SCORES, key=lambda s: s.lemma_id):
        terminalreporter.write_line(score.line())
    refuted = sum(s.count("refuted") for s in _SCORES)
    live = sum(len(s.outcomes) - s.count("equivalent") for s in _SCORES)
    terminalreporter.write_line(f"total: {sum(len(s.outcomes) for s in _SCORES)} mutants, {refuted}/{live} "
                                f"non-equivalent refuted ({100 * refuted / max(live, 1):.1f}%)")
