"""`rmtc verify prog.rmtb [--json] [--smt2 DIR] [--budget N] [--rlimit N] [--timeout S]
[--weights m=FILE]`.

Exit codes as everywhere in RMT: 0 accepted, 1 rejected (or unreadable
input), 2 usage.  Runs standalone as `python -m rmt.verifier prog.rmtb`.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from rmt.contract import propfile
from rmt.contract.propfile import PropsError

from rmt.verifier.report import json_text, text
from rmt.verifier.solve import SolverOptions
from rmt.verifier.verify import VerifyOptions, verify_bytes


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):        # usage errors exit 2, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def seconds(text: str) -> float:
    """An argparse type: a time limit in seconds, finite and within (0, one day]."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(v) or not 0 < v <= 86400:
        raise argparse.ArgumentTypeError(f"{text}: a time limit must be > 0 and at most "
                                         "86400 s")
    return v


def parser(prog: str = "rmtc verify") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Prove an .rmtb program safe for its hook (Z3).")
    p.add_argument("object", help="the .rmtb object to verify")
    p.add_argument("--json", action="store_true", help="machine-readable output (rmt-verify/1)")
    p.add_argument("--smt2", metavar="DIR", help="dump every solver query to DIR as SMT-LIB 2")
    p.add_argument("--budget", type=int, metavar="N", help="cost budget (default: the hook's)")
    p.add_argument("--rlimit", type=int, default=SolverOptions.rlimit, metavar="N",
                   help="per-query Z3 resource limit, the deterministic bound "
                        f"(default {SolverOptions.rlimit:_})")
    p.add_argument("--timeout", type=seconds, default=SolverOptions.timeout_ms / 1000,
                   metavar="S", help="per-query wall-clock backstop in seconds "
                                     f"(default {SolverOptions.timeout_ms // 1000})")
    p.add_argument("--weights", action="append", default=[], metavar="MODEL=FILE",
                   help="prove model bounds, and the program's properties, with these "
                        "weights (repeatable)")
    p.add_argument("--props", metavar="FILE",
                   help="the properties to prove (default: the .rmtp beside the object, "
                        "proved when --weights is given)")
    return p


def cli_verify(argv: list[str] | None = None, prog: str = "rmtc verify") -> int:
    p = parser(prog)
    a = p.parse_args(argv)
    if a.budget is not None and a.budget < 0:
        p.error("--budget must be >= 0")
    if a.timeout <= 0:
        p.error("--timeout must be > 0")
    if a.rlimit <= 0:
        p.error("--rlimit must be > 0")
    if a.smt2:                           # before any proof: one line, not a traceback later
        try:
            os.makedirs(a.smt2, exist_ok=True)
        except OSError as e:
            p.error(f"--smt2 {a.smt2}: cannot make the directory: {e.strerror}")
        if not os.access(a.smt2, os.W_OK | os.X_OK):
            p.error(f"--smt2 {a.smt2}: the directory is not writable")
    weights = {}
    for spec in a.weights:
        name, eq, path = spec.partition("=")
        if not eq or not name or not path:
            p.error(f"--weights expects MODEL=FILE, got {spec!r}")
        try:
            with open(path, "rb") as fh:
                weights[name] = fh.read()
        except OSError as e:
            print(f"{path}: cannot read weights: {e.strerror}", file=sys.stderr)
            return 1
    try:
        with open(a.object, "rb") as fh:
            buf = fh.read()
    except OSError as e:
        print(f"{a.object}: cannot read: {e.strerror}", file=sys.stderr)
        return 1
    try:
        props = _properties(a, buf, bool(weights))
    except PropsError as e:
        print(e, file=sys.stderr)
        return 1
    opts = VerifyOptions(rlimit=a.rlimit, timeout_ms=max(1, int(a.timeout * 1000)),
                         smt2_dir=a.smt2, budget=a.budget, weights=weights, properties=props)
    rep = verify_bytes(buf, opts, name=a.object)
    sys.stdout.write(json_text(rep, a.object) if a.json else text(rep, a.object))
    return 0 if rep.accepted else 1


def _properties(a: argparse.Namespace, obj: bytes, have_weights: bool) -> list[dict] | None:
    """The declared properties to prove: --props FILE, else the .rmtp beside the object when
    weights are given (contract/propfile.py)."""
    path = a.props
    if path is None:
        beside = os.path.splitext(a.object)[0] + ".rmtp"
        if not (os.path.exists(beside) and (have_weights or _no_models(obj))):
            return None
        path = beside
    try:
        with open(path) as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as e:
        raise PropsError(f"{path}: cannot read properties: {e}") from None
    pf = propfile.loads(text, path)
    propfile.check_bound(pf, obj, path)
    from rmt.contract import objfile
    propfile.check_terms(pf, objfile.read(obj), path)
    return pf.properties


def _no_models(obj: bytes) -> bool:
    """Whether the object declares no model: then no weights can matter to its properties and
    nothing later (`rmtctl model load`) would prove them, so `rmtc verify` proves them."""
    from rmt.contract import objfile
    try:
        return not objfile.read(obj).models
    except objfile.ObjError:
        return False                     # reported as ObjectFormat by the verification


def main(argv: list[str] | None = None) -> int:
    return cli_verify(argv, prog="python -m rmt.verifier")
