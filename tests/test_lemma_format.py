"""The lemma file format: loading, discovery, validation errors, and running
with error isolation (docs/lemma-format.md; robustness issue, bad input)."""
import textwrap
import time

import pytest

from proofcheck.errors import LemmaFileError
from proofcheck.context import FULL, QUICK, CheckContext
from proofcheck.engine.discovery import discover, load_lemma_file
from proofcheck.engine.session import run_lemma
from proofcheck.verdict import Verdict, combine

# A self-contained claim kind: it checks a real identity, the derivative of
# exp(x) at x = 1 by a central difference, against the stated closed form.
HEADER = textwrap.dedent('''
    import math
    import sympy as sp
    from proofcheck.lang.lemma import Lemma, Provenance, Assumption, Claim
    from proofcheck.verdict import CheckResult, Verdict
    from proofcheck.lang.symbols import z, a

    class DerivativeAtOne(Claim):
        kind = "numeric"
        label = "d/dx exp(x) at 1 equals the closed form"
        def __init__(self, factor=1.0, expression=None, raise_it=False, sleep=0.0):
            self.factor, self.expression, self.raise_it, self.sleep = factor, expression, raise_it, sleep
        def check(self, lemma, ctx):
            import time
            time.sleep(self.sleep)
            if self.raise_it:
                raise RuntimeError("boom")
            h = 1e-5
            fd = (math.exp(1 + h) - math.exp(1 - h)) / (2 * h)
            err = abs(fd - self.factor * math.e)
            ok = err < 1e-8
            return [CheckResult("numeric", self.label, Verdict.VERIFIED if ok else Verdict.REFUTED,
                                f"error {err:.3g}", margin=1e-8 - err)]
''')


def write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


GOOD = '''
LEMMA = Lemma(id="USER-1", title="exp is its own derivative", provenance=Provenance("user", "D"),
              statement=sp.Eq(sp.Derivative(sp.exp(sp.Symbol("x")), sp.Symbol("x")), sp.exp(sp.Symbol("x"))),
              claims=[DerivativeAtOne()])
'''


def test_good_user_lemma_loads_and_verifies(tmp_path):
    lemma = load_lemma_file(write(tmp_path, "user.py", GOOD))
    assert lemma.id == "USER-1" and lemma.tag == "D"
    result = run_lemma(lemma, CheckContext())
    assert result.verdict is Verdict.VERIFIED
    assert result.provenance["tag"] == "D" and "derived" in result.provenance["tag_meaning"]


def test_wrong_constant_is_refuted(tmp_path):
    lemma = load_lemma_file(write(tmp_path, "user.py", GOOD.replace("DerivativeAtOne()", "DerivativeAtOne(2.0)")))
    assert run_lemma(lemma, CheckContext()).verdict is Verdict.REFUTED


@pytest.mark.parametrize("body, message", [
    ("LEMMA = Lemma(id='USER-1', title='x' provenance=None)\n", "syntax error at line"),
    ("LEMMA = Lemma(id='USER-1', provenance=Provenance('u', 'D'), statement=sp.Integer(1), claims=[DerivativeAtOne()])\n",
     "title"),
    ("LEMMA = Lemma(id='USER-1', title='t', provenance=Provenance('u', 'D'), statement='x + 1', claims=[DerivativeAtOne()])\n",
     "statement must be a SymPy expression"),
    ("LEMMA = Lemma(id='USER-1', title='t', provenance=Provenance('u', 'D'), statement=sp.Integer(1), "
     "claims=[DerivativeAtOne(expression=z[a] + sp.Symbol('w'))])\n", "unknown symbol(s) w"),
    ("LEMMA = Lemma(id='USER-1', title='t', provenance=Provenance('u', 'D'), statement=sp.Integer(1), "
     "claims=[DerivativeAtOne()], assumptions=[Assumption('z_positive', 'z > 0', lambda c: True, None)])\n",
     "assumption 'z_positive' has no strategy"),
    ("LEMMA = Lemma(id='USER-1', title='t', provenance=Provenance('u', 'Q'), statement=sp.Integer(1), "
     "claims=[DerivativeAtOne()])\n", "provenance tag must be one of"),
    ("LEMMA = Lemma(id='lemma one', title='t', provenance=Provenance('u', 'D'), statement=sp.Integer(1), "
     "claims=[DerivativeAtOne()])\n", "lemma id must look like"),
    ("LEMMA = Lemma(id='USER-1', title='t', provenance=Provenance('u', 'D'), statement=sp.Integer(1), claims=[])\n",
     "needs at least one claim"),
    ("x = 1\n", "defines no LEMMA"),
    ("LEMMA = 3\n", "LEMMA is a int"),
    ("raise ImportError('no module named foo')\n", "ImportError: no module named foo"),
])
def test_malformed_lemma_file_gives_one_clear_line(tmp_path, body, message):
    path = write(tmp_path, "bad.py", body)
    with pytest.raises(LemmaFileError) as info:
        load_lemma_file(path)
    text = str(info.value)
    assert message in text and "\n" not in text and str(path) in text


def test_discovery_reports_bad_files_and_duplicates_but_keeps_the_rest(tmp_path):
    write(tmp_path, "a_good.py", GOOD)
    write(tmp_path, "b_dup.py", GOOD)
    write(tmp_path, "c_broken.py", "LEMMA = (\n")
    (tmp_path / "_helper.py").write_text("raise SystemExit('helpers are not lemma files')")
    lemmas, errors = discover([tmp_path], builtin=False)
    assert [lem.id for lem in lemmas] == ["USER-1"]
    messages = sorted(str(e) for e in errors)
    assert len(messages) == 2
    assert "duplicate lemma id USER-1" in messages[0] and "syntax error" in messages[1]


def test_missing_lemma_path_is_an_error_not_a_crash(tmp_path):
    lemmas, errors = discover([tmp_path / "nowhere"], builtin=False)
    assert lemmas == [] and "no such lemma file or folder" in str(errors[0])


def test_a_raising_check_is_an_error_for_that_lemma_only(tmp_path):
    lemma = load_lemma_file(write(tmp_path, "user.py", GOOD.replace("[DerivativeAtOne()]",
                                                                    "[DerivativeAtOne(raise_it=True), DerivativeAtOne()]")))
    result = run_lemma(lemma, CheckContext())
    assert [c.verdict for c in result.checks] == [Verdict.ERROR, Verdict.VERIFIED]
    assert result.verdict is Verdict.ERROR and "RuntimeError: boom" in result.checks[0].summary


def test_timeout_gives_inconclusive_never_a_pass(tmp_path):
    lemma = load_lemma_file(write(tmp_path, "user.py", GOOD.replace("DerivativeAtOne()", "DerivativeAtOne(sleep=5)")))
    t0 = time.perf_counter()
    result = run_lemma(lemma, CheckContext(timeout=0.3))
    assert time.perf_counter() - t0 < 3
    assert result.verdict is Verdict.INCONCLUSIVE and "time limit" in result.checks[0].summary


def test_combine_never_turns_missing_or_failed_evidence_into_a_pass():
    V = Verdict
    assert combine([]) is V.INCONCLUSIVE
    assert combine([V.PROVED, V.VERIFIED]) is V.PROVED
    assert combine([V.VERIFIED, V.VERIFIED]) is V.VERIFIED
    assert combine([V.PROVED, V.INCONCLUSIVE]) is V.INCONCLUSIVE
    assert combine([V.PROVED, V.ERROR, V.INCONCLUSIVE]) is V.ERROR
    assert combine([V.ERROR, V.REFUTED]) is V.REFUTED


def test_budgets_are_named_and_full_is_deeper():
    assert FULL.examples > QUICK.examples and FULL.seeds >= 20


def test_known_finding_is_shown_and_only_a_different_verdict_fails(tmp_path):
    base = GOOD.replace("claims=[DerivativeAtOne()]", "claims=[DerivativeAtOne(2.0)], expect='REFUTED', "
                        "expect_reason='planted: factor 2 is wrong'")
    result = run_lemma(load_lemma_file(write(tmp_path, "known.py", base)), CheckContext())
    assert result.verdict is Verdict.REFUTED and result.as_expected and not result.failed
    assert result.expected == {"verdict": "REFUTED", "reason": "planted: factor 2 is wrong"}
    fixed = base.replace("DerivativeAtOne(2.0)", "DerivativeAtOne()")
    result = run_lemma(load_lemma_file(write(tmp_path, "fixed.py", fixed)), CheckContext())
    assert result.verdict is Verdict.VERIFIED and not result.as_expected and result.failed


def test_known_finding_needs_a_reason_and_a_real_verdict(tmp_path):
    for extra, message in [("expect='REFUTED'", "needs an expect_reason"),
                           ("expect='ERROR', expect_reason='x'", "expect must be")]:
        path = write(tmp_path, "bad.py", GOOD.replace("claims=[DerivativeAtOne()]", f"claims=[DerivativeAtOne()], {extra}"))
        with pytest.raises(LemmaFileError, match=message):
            load_lemma_file(path)


def test_verify_exit_code_counts_a_known_finding_only_when_it_does_not_recur(tmp_path):
    from proofcheck.surface.cli import exit_code

    known = GOOD.replace("claims=[DerivativeAtOne()]", "claims=[DerivativeAtOne(2.0)], expect='REFUTED', "
                         "expect_reason='planted'")
    recurred = run_lemma(load_lemma_file(write(tmp_path, "k.py", known)), CheckContext())
    gone = run_lemma(load_lemma_file(write(tmp_path, "g.py", known.replace("DerivativeAtOne(2.0)",
                                                                            "DerivativeAtOne()"))), CheckContext())
    plain_false = run_lemma(load_lemma_file(write(tmp_path, "f.py", GOOD.replace("DerivativeAtOne()",
                                                                                 "DerivativeAtOne(2.0)"))),
                            CheckContext())
    assert exit_code([recurred], []) == 0
    assert exit_code([recurred, gone], []) == 1
    assert exit_code([recurred, plain_false], []) == 1
    assert exit_code([recurred], ["bad file"]) == 2
