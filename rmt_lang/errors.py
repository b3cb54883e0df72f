"""Located diagnostics and their one text rendering.

Every problem the front end finds (syntax, names, types, permissions,
declarations) becomes a `Diagnostic` with the `Span` of the source it is
about.  `render()` is the only way diagnostics are turned into text, so the
expected-output files under tests/lang/bad/ pin the format exactly::

    FILE:LINE:COL: error: MESSAGE
     LINE | source line text
          | ^~~~

The gutter is the line number padded by one space on each side.  On the
caret line, the source text before the start column is copied with every
character other than a tab replaced by a space (so tabs line the caret up
the way the terminal shows the source line), then `^` marks the start column
and one `~` follows for every further column of the span on that line.
A span's `end_col` is exclusive (the column just after its last character,
as lark reports it); a span that continues on later lines is underlined to
the end of its first line; an empty span gets a lone `^`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from .ast import Span


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    span: Span
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self, source: str | None = None) -> str:
        """The diagnostic as text; with `source`, followed by the line and a caret."""
        head = f"{self.span.file}:{self.span.line}:{self.span.col}: {self.severity.value}: {self.message}"
        if source is None or self.span.line < 1:
            return head
        lines = source.splitlines()
        text = lines[self.span.line - 1] if self.span.line <= len(lines) else ""
        return head + "\n" + _excerpt(self.span, text)

    def __str__(self) -> str:
        return self.render()


def _excerpt(span: Span, text: str) -> str:
    num = str(span.line)
    gutter = " " * len(num)
    col = max(span.col, 1)
    pad = "".join(c if c == "\t" else " " for c in text[:col - 1])
    pad += " " * max(0, col - 1 - len(text))
    if span.end_line == span.line:
        width = span.end_col - col
    else:
        width = len(text) - col + 1
    marker = "^" + "~" * max(0, width - 1)
    return f" {num} | {text}\n {gutter} | {pad}{marker}"


def render_all(diags: list[Diagnostic], source: str | None) -> str:
    """All diagnostics, each with its excerpt, one after the other (newline-terminated)."""
    return "".join(d.render(source) + "\n" for d in diags)


def has_errors(diags: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diags)


class RmtSyntaxError(Exception):
    """The source does not parse.  Carries every syntax diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))

    @property
    def span(self) -> Span:
        return self.diagnostics[0].span
