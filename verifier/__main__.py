"""`python -m verifier prog.rmtb [...]`: the same as `rmtc verify`."""
import sys

from verifier.cli import main

sys.exit(main())
