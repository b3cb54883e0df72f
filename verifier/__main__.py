"""`python -m rmt.verifier prog.rmtb [...]`: the same as `rmtc verify`."""
import sys

from rmt.verifier.cli import main

sys.exit(main())
