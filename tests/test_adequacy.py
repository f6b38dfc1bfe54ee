"""Checker adequacy (robustness issue): planted wrong lemmas are refuted, true
lemmas are not.

- Mutation suite: every built-in lemma's SymPy claims are mutated mechanically
  (proofcheck.engine.adequacy); each non-equivalent mutant must be REFUTED.  CI runs
  one mutant per family per claim; ``-m slow`` runs every mutant.  The scores
  are printed in the terminal summary (tests/conftest.py).
- No false alarms: the true lemmas are not refuted across seeds (seeds 0 and 1 in
  the default run, 20 at the full budget with ``-m slow``).
"""
import pytest

from proofcheck.engine.adequacy import mutable, mutate_lemma
from proofcheck.context import FULL, QUICK, CheckContext
from proofcheck.engine.discovery import discover
from proofcheck.engine.session import run_lemma
from proofcheck.verdict import Verdict

LEMMAS, _ = discover()
MUTABLE = [lem for lem in LEMMAS if mutable(lem)]
#: lemmas whose claims have no single SymPy expression to mutate: their planted
#: wrong variants are switches of the claim kinds, tested in the files named
PLANTED_ELSEWHERE = {"LEM-G2": "test_structural.py", "LEM-G3": "test_structural.py", "LEM-G9": "test_structural.py",
                     "LEM-G11": "test_structural.py", "THM-CL-v3": "test_contrastive.py",
                     "THM-CL-v3-PATTERN": "test_contrastive.py", "THM-CL-v3-CONTRAST": "test_contrastive.py",
                     "EXP-1-DIGITS": "test_digits.py"}

#: mutants that are not refuted, keyed by the mutated statement's srepr (MutantOutcome.mutant: a
#: label names a family, not a mutant), each with the reason; the test fails if one of them *is*
#: refuted (or certified true), so this list cannot go stale silently.  The three survivors once
#: listed here for LEM-G7 are now refuted by the exact decision leg (a "still true" reason among
#: them was wrong: z_1 -> z_1^2 in the decrease fails at z = (1/2, 1/4, 3/8), A = (1/2, 0, 1/2))
KNOWN_SURVIVORS: dict[str, str] = {}


def known(outcome) -> str | None:
    return KNOWN_SURVIVORS.get(outcome.mutant)


def assert_adequate(score):
    for o in score.outcomes:
        reason = known(o)
        if reason is None:
            assert o.outcome in ("refuted", "equivalent"), f"{o.lemma_id}: mutant '{o.label}' of {o.claim} " \
                                                            f"survived ({o.verdict})"
        else:
            assert o.outcome == "survived", f"known survivor {o.label} of {o.lemma_id} is now {o.outcome}: " \
                                            "update KNOWN_SURVIVORS"


@pytest.fixture(scope="module")
def mutation_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mutation-cache")


#: lemmas whose every-N SymPy proofs make each of their checks 20-50 s on a CI core (LEM-G1, G6, G7 and the
#: corrected G7: each family's mutant and each seed pays the proof again).  The default run leaves them to
#: ``-m slow`` (every mutant, 20 seeds) so that it stays within its six minutes; the identity, inequality and
#: sign tests of their check kinds plant wrong forms of their statements in the default run
HEAVY = {"LEM-G1", "LEM-G6", "LEM-G7", "LEM-G7-CORRECTED"}
#: the default run mutates the lemmas that hold; a known finding's statement is already false, so that its
#: mutants are refuted says little about the checker (``-m slow`` mutates them too)
HOLDING = [lem for lem in MUTABLE if lem.expect is None and lem.id not in HEAVY]


@pytest.mark.parametrize("lemma", HOLDING, ids=[lem.id for lem in HOLDING])
def test_mutants_are_refuted_one_per_family(lemma, mutation_cache, mutation_scores):
    score = mutate_lemma(lemma, one_per_family=True, cache_dir=mutation_cache)
    mutation_scores.append(score)
    assert score.outcomes, f"{lemma.id}: no mutant generated"
    assert_adequate(score)


@pytest.mark.slow
@pytest.mark.parametrize("lemma", MUTABLE, ids=[lem.id for lem in MUTABLE])
def test_every_mutant_is_refuted(lemma, mutation_cache, mutation_scores):
    score = mutate_lemma(lemma, cache_dir=mutation_cache)
    mutation_scores.append(score)
    assert_adequate(score)


def test_every_lemma_is_mutation_tested_somewhere():
    untested = [lem.id for lem in LEMMAS if lem not in MUTABLE and lem.id not in PLANTED_ELSEWHERE
                and not lem.trains]
    assert not untested, f"lemmas with neither SymPy mutants nor planted variants: {untested}"


#: lemmas that train no model; those that do are checked at seed 0 in tests/test_lemmas.py, and at
#: more seeds by ``proofcheck sweep seeds`` (a seed there changes the training runs, minutes each)
FAST = [lem for lem in LEMMAS if not lem.trains]
SECOND_SEED = [lem for lem in FAST if lem.id not in HEAVY]


def no_false_alarm(lemma, seeds, cache_dir, budget=QUICK):
    for seed in seeds:
        result = run_lemma(lemma, CheckContext(budget=budget, seed=seed, cache_dir=cache_dir))
        if lemma.expect is not None:  # a declared known finding must recur with its declared verdict
            assert result.as_expected, f"{lemma.id} seed {seed}: {result.verdict.value}, expected {lemma.expect}"
            continue
        assert result.verdict in (Verdict.PROVED, Verdict.VERIFIED), \
            f"{lemma.id} seed {seed}: {result.verdict.value}: " + "; ".join(
                c.summary for c in result.checks if c.affects_verdict and not c.verdict.passed)


@pytest.mark.parametrize("lemma", SECOND_SEED, ids=[lem.id for lem in SECOND_SEED])
def test_true_lemmas_hold_at_a_second_seed(lemma, mutation_cache):
    # seed 0 is run by tests/test_lemmas.py; the identity checks cover both key sets internally; more seeds
    # are the slow test below and the no-false-alarm sweep (the default run has six minutes)
    no_false_alarm(lemma, [1], mutation_cache)


@pytest.mark.slow
@pytest.mark.parametrize("lemma", FAST, ids=[lem.id for lem in FAST])
def test_true_lemmas_hold_across_20_seeds_full_budget(lemma, mutation_cache):
    no_false_alarm(lemma, range(FULL.seeds), mutation_cache, budget=FULL)
