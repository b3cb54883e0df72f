"""rmtc: compile, check, dump and verify RMT programs.

    rmtc compile prog.rmt [-o prog.rmtb]
    rmtc check prog.rmt
    rmtc dump prog.rmtb [--json]
    rmtc verify prog.rmtb [--json] [--smt2 DIR] [--budget N]
    rmtc model import SOURCE --program prog.rmtb --model NAME -o weights.bin [...]

Exit codes: 0 ok, 1 rejected or failed, 2 usage.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from rmt.contract import objfile
from rmt.contract import propfile
from rmt.compiler.driver import CompileError, compile_full, front_end
from rmt.lang import errors as E


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:       # usage errors exit 2, as argparse does
        self.print_usage(sys.stderr)
        print(f"rmtc: error: {message}", file=sys.stderr)
        sys.exit(2)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        print(f"rmtc: cannot read {path}: {e}", file=sys.stderr)
        return None


def cmd_compile(args: argparse.Namespace) -> int:
    text = _read_text(args.source)
    if text is None:
        return 1
    t0 = time.perf_counter()
    try:
        result = compile_full(text, args.source)
    except CompileError as e:
        sys.stderr.write(e.rendered)
        return 1
    sys.stderr.write(result.warnings)
    out = args.output or os.path.splitext(args.source)[0] + ".rmtb"
    blob = objfile.write(result.program)
    with open(out, "wb") as f:
        f.write(blob)
    # the properties travel beside the object, bound to it by its digest (contract/propfile.py)
    props_path = os.path.splitext(out)[0] + ".rmtp"
    if result.properties:
        with open(props_path, "w") as f:
            f.write(propfile.dumps(blob, args.source, result.properties))
    elif os.path.exists(props_path):
        os.remove(props_path)           # stale: this program declares none
    if args.verbose:
        print(f"{out}: {len(result.program.code)} insns, {len(blob)} bytes, "
              f"{(time.perf_counter() - t0) * 1e3:.1f} ms")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    text = _read_text(args.source)
    if text is None:
        return 1
    _, diags = front_end(text, args.source)
    sys.stderr.write(E.render_all(diags, text))
    return 1 if E.has_errors(diags) else 0


def load_object(path: str) -> objfile.Program | None:
    try:
        with open(path, "rb") as f:
            return objfile.read(f.read())
    except OSError as e:
        print(f"rmtc: cannot read {path}: {e}", file=sys.stderr)
    except objfile.ObjError as e:
        print(f"rmtc: {path}: malformed object: {e}", file=sys.stderr)
    return None


def cmd_dump(args: argparse.Namespace) -> int:
    from rmt.compiler.dump import to_json, to_text
    prog = load_object(args.object)
    if prog is None:
        return 1
    if args.json:
        print(json.dumps(to_json(prog), indent=2))
    else:
        sys.stdout.write(to_text(prog))
    return 0


def cmd_verify(argv: list[str]) -> int:
    from rmt.verifier import cli_verify          # imported when asked for: Z3 loads slowly
    return cli_verify(argv)


def _usage(msg: str) -> int:
    print(msg, file=sys.stderr)
    return 2


def cmd_model_import(argv: list[str]) -> int:
    from rmt.model_import.cli import main as model_import
    return model_import(argv)


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("rmt")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["help"]:                  # bpftool's habit: `rmtc help [COMMAND]`
        argv = [*argv[1:2], "-h"]
    if argv and argv[0] == "verify":
        return cmd_verify(argv[1:])
    if argv[:2] == ["model", "import"]:
        return cmd_model_import(argv[2:])
    p = _Parser(prog="rmtc", description="Compile, check, dump and verify RMT programs "
                "(`rmtc help COMMAND` for one command).")
    p.add_argument("-V", "--version", action="version", version=f"rmtc v{_version()}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    c = sub.add_parser("compile", help="compile a .rmt program to a .rmtb object")
    c.add_argument("source")
    c.add_argument("-o", "--output")
    c.add_argument("-v", "--verbose", action="store_true")
    c.set_defaults(fn=cmd_compile)
    k = sub.add_parser("check", help="run the front end only (parse, names, types)")
    k.add_argument("source")
    k.set_defaults(fn=cmd_check)
    d = sub.add_parser("dump", help="print an object's schemas and annotated disassembly")
    d.add_argument("object")
    d.add_argument("--json", action="store_true")
    d.set_defaults(fn=cmd_dump)
    sub.add_parser("verify", help="verify an object (rmtc verify -h)")
    mi = sub.add_parser("model", help="model import: a trained model as weights "
                                      "(rmtc model import -h)")
    mi.add_argument("what", nargs="?")
    mi.set_defaults(fn=lambda a: _usage("rmtc model: the subcommand is 'import' "
                                        "(rmtc model import -h)"))
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
