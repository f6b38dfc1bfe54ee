"""pytest integration: every lemma is a test item, so ``pytest`` alone checks them.

The ``pytest11`` entry point ``proofcheck`` registers the options below.  A test
module opts in with two functions (this repository's ``tests/test_lemmas.py``)::

    from proofcheck.surface.pytest_plugin import check_lemma, parametrize_lemmas

    def pytest_generate_tests(metafunc):
        parametrize_lemmas(metafunc)

    def test_lemma(lemma, request):
        check_lemma(lemma, request.config)

Each lemma becomes one item named by its id; a REFUTED or ERROR lemma fails with
its summary (every failing check, counterexample and replay command) as the
failure message; INCONCLUSIVE skips with the reason (never a pass); a lemma
file that does not load is a failing item with its one-line error.  The
options are read with defaults, so the module works whether or not the entry
point is installed (``pip install -e .`` installs it).
"""
from __future__ import annotations

import json

import pytest

from proofcheck.errors import LemmaFileError
from proofcheck.context import BUDGETS, Budget
from proofcheck.lang.lemma import Lemma
from proofcheck.engine.discovery import discover
from proofcheck.engine.session import Session
from proofcheck.surface.report import replay_command
from proofcheck.verdict import LemmaResult, Verdict


def pytest_addoption(parser):
    group = parser.getgroup("proofcheck", "proofcheck lemmas as test items")
    group.addoption("--proofcheck-budget", choices=sorted(BUDGETS), default="quick",
                    help="budget of the lemma checks (default quick)")
    group.addoption("--proofcheck-seed", type=int, default=0, help="seed of the lemma checks (default 0)")
    group.addoption("--proofcheck-lemmas", action="append", default=[], metavar="PATH",
                    help="extra lemma files or folders (repeatable)")
    group.addoption("--proofcheck-no-builtin", action="store_true", help="skip the built-in lemmas")
    group.addoption("--proofcheck-timeout", type=float, default=None, metavar="SECONDS",
                    help="time limit per check (INCONCLUSIVE past it)")
    group.addoption("--proofcheck-report-dir", default="reports", metavar="DIR",
                    help="report folder whose .cache/ holds trajectories, proofs and counterexamples, shared "
                         "with `proofcheck verify` (default reports)")


def pytest_report_header(config):
    return (f"proofcheck: budget {config.getoption('proofcheck_budget')}, "
            f"seed {config.getoption('proofcheck_seed')}")


def lemma_params(config) -> list:
    """One pytest param per lemma (id = lemma id) and per lemma file that failed to load."""
    lemmas, errors = discover(config.getoption("proofcheck_lemmas", default=None) or [],
                              builtin=not config.getoption("proofcheck_no_builtin", default=False))
    return ([pytest.param(lem, id=lem.id) for lem in lemmas]
            + [pytest.param(err, id=f"lemma-file-error-{n}") for n, err in enumerate(errors, 1)])


def parametrize_lemmas(metafunc) -> None:
    """Parametrise a test's ``lemma`` argument over every discovered lemma."""
    if "lemma" in metafunc.fixturenames:
        metafunc.parametrize("lemma", lemma_params(metafunc.config))


def failure_message(result: LemmaResult) -> str:
    """The lemma's summary for a failed item: verdict, provenance and every
    check that did not pass, with its counterexample and how to replay it."""
    prov = result.provenance
    lines = [f"{result.lemma_id} [{prov.get('tag', '?')}] {result.verdict.value}: {result.title}",
             f"  provenance: [{prov.get('tag', '?')}] {prov.get('tag_meaning', '')}; {prov.get('item', '')}"]
    for c in result.checks:
        if c.verdict.passed:
            continue
        note = "" if c.affects_verdict else " (informative, does not affect the verdict)"
        lines.append(f"  {c.verdict.value} {c.kind}: {c.name}: {c.summary}{note}")
        if c.counterexample is not None:
            lines.append("    counterexample: " + json.dumps(c.counterexample, sort_keys=True))
    lines.append(f"  replay: {replay_command(result)}")
    return "\n".join(lines)


def session(config) -> Session:
    """The run session of this pytest run: the same caches as ``proofcheck verify --report-dir``."""
    return Session(Budget.get(config.getoption("proofcheck_budget", default="quick")),
                   seed=config.getoption("proofcheck_seed", default=0),
                   timeout=config.getoption("proofcheck_timeout", default=None),
                   report_dir=config.getoption("proofcheck_report_dir", default="reports"))


def check_lemma(lemma: Lemma | LemmaFileError, config) -> LemmaResult:
    """Run one lemma as a test: fail on REFUTED/ERROR, skip on INCONCLUSIVE."""
    if isinstance(lemma, LemmaFileError):
        pytest.fail(str(lemma), pytrace=False)
    result = session(config).run_lemma(lemma)
    if result.expected is not None:
        if result.as_expected:
            pytest.xfail(f"known finding, {result.verdict.value} as declared: {result.expected['reason']}")
        pytest.fail(f"{result.lemma_id}: expected {result.expected['verdict']} (known finding: "
                    f"{result.expected['reason']}) but got {result.verdict.value}\n" + failure_message(result),
                    pytrace=False)
    if result.verdict in (Verdict.REFUTED, Verdict.ERROR):
        pytest.fail(failure_message(result), pytrace=False)
    if result.verdict is Verdict.INCONCLUSIVE:
        pytest.skip(failure_message(result))
    return result
