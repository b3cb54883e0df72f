"""The .rmt front end: parse source into a typed AST and check it.

    program = parse(text, "prog.rmt")       # RmtSyntaxError on bad syntax
    diags = check(program)                  # fills types and symbols in place
    program, diags = load("prog.rmt")       # both; syntax errors become diagnostics

A program is ready for the compiler when no diagnostic is an error
(`has_errors(diags)` is False); warnings may remain.
"""
from __future__ import annotations

from pathlib import Path

from .ast import Program
from .checker import check
from .errors import Diagnostic, RmtSyntaxError, Severity, has_errors, render_all
from .parser import parse

__all__ = ["parse", "check", "load", "Diagnostic", "Severity", "RmtSyntaxError", "has_errors",
           "render_all", "read_source"]


def read_source(path_or_text: str | Path) -> tuple[str, str]:
    """(text, file name): a path that exists is read; any other string is source text."""
    if isinstance(path_or_text, Path) or ("\n" not in str(path_or_text) and
                                          str(path_or_text).endswith(".rmt")):
        p = Path(path_or_text)
        return p.read_text(), str(path_or_text)
    return str(path_or_text), "<input>"


def load(path_or_text: str | Path) -> tuple[Program | None, list[Diagnostic]]:
    """Parse and check; the program is None when it does not parse."""
    text, file = read_source(path_or_text)
    try:
        program = parse(text, file)
    except RmtSyntaxError as e:
        return None, e.diagnostics
    return program, check(program)
