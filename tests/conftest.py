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
