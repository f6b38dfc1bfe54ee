"""The one error family of proofcheck.

Every misuse (bad instance, malformed lemma file, bad CLI argument, diverging
training, unreadable trajectory, unwritable report folder) raises a subclass of
:class:`ProofcheckError` whose message is one line naming the problem.  The CLI
turns these into one error line and a non-zero exit code, never a traceback.
"""


class ProofcheckError(Exception):
    """Base class: the message is one clear line."""


class InstanceError(ProofcheckError, ValueError):
    """An instance (SPEC DEF-DATA / ASM-DIM) that is impossible or inconsistent."""


class LemmaFileError(ProofcheckError):
    """A lemma file that cannot be loaded or does not follow docs/lemma-format.md."""


class TrainingDiverged(ProofcheckError, FloatingPointError):
    """Gradient descent produced NaN or inf; carries the step where it happened."""

    def __init__(self, step: int, what: str):
        self.step = step
        super().__init__(f"training diverged at step {step}: {what}")


class TrajectoryFileError(ProofcheckError):
    """A trajectory file that is truncated, corrupt or from another format version."""


class UsageError(ProofcheckError):
    """A bad command-line argument or API argument."""


class ReportError(ProofcheckError):
    """A report that cannot be written (e.g. the report folder is not writable)."""


class CheckTimeout(ProofcheckError):
    """A check ran past its time limit."""
