"""``python -m proofcheck``: the same command line as ``proofcheck``."""
import sys

from proofcheck.surface.cli import main

if __name__ == "__main__":
    sys.exit(main())
