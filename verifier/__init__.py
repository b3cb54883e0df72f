"""The RMT verifier: Z3 proofs over .rmtb bytecode, counterexamples at source lines.

    from rmt.verifier import verify, verify_bytes, VerifyOptions
    rep = verify(program)            # rmt.contract.objfile.Program
    rep.accepted, rep.failures, rep.cost, rep.decisions

`cli_verify(argv) -> int` implements `rmtc verify`; docs/verifier.md says what
is proven and how.
"""
from rmt.verifier.cli import cli_verify, main
from rmt.verifier.verify import Report, VerifyOptions, verify, verify_bytes

__all__ = ["Report", "VerifyOptions", "cli_verify", "main", "verify", "verify_bytes"]
