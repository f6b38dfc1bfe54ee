"""proofcheck: executable lemmas for one-layer transformers in masked vision
pretraining (arXiv 2403.02233; mathematics in SPEC.md)."""
from proofcheck.errors import ProofcheckError

__version__ = "0.1.0"
__all__ = ["ProofcheckError", "__version__"]
