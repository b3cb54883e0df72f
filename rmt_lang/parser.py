"""Source text -> `rmt_lang.ast.Program`, with a `Span` on every node.

The grammar is rmt_lang/grammar.lark (LALR(1), contextual lexer).  lark's
own exceptions never escape: every syntax problem becomes a `Diagnostic`
inside one `RmtSyntaxError`, located at the offending token (or, for a
missing `;` before a token on a later line, just after the previous token,
where the `;` belongs).  After a syntax error the parser restarts at the next
declaration (a line starting with a declaration keyword), so each broken
declaration is reported once and nothing is guessed inside a statement.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from rmt.contract.objformat import LIMITS

from . import ast as A
from .errors import Diagnostic, RmtSyntaxError, Severity
from .suggest import closest

GRAMMAR = Path(__file__).with_name("grammar.lark")


class _Unterminated(Exception):
    def __init__(self, token: Token):
        self.token = token


class _BuildError(Exception):
    """A structural problem the grammar accepts but the AST cannot hold (duplicate table property)."""

    def __init__(self, span: A.Span, message: str):
        self.span, self.message = span, message


def _open_comment(tok: Token) -> Token:
    raise _Unterminated(tok)


class _WholeWords:
    """Post-lexer that keeps NAME in every lexer state.

    The contextual lexer only tries the terminals the parser can accept next.
    Where only keywords fit (`size` in a table, `const` at the top level) it
    would then lex `sizes` as `size` + `s`, and `constX` as `const X`.  With
    NAME always tried, lark's keyword resolution sees the whole word, and a
    misspelt keyword is reported as the name it is.
    """
    always_accept = ("NAME",)

    def process(self, stream):
        return stream


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(GRAMMAR.read_text(), parser="lalr", lexer="contextual",
                propagate_positions=True, maybe_placeholders=True, postlex=_WholeWords(),
                lexer_callbacks={"OPEN_COMMENT": _open_comment})


# ------------------------------------------------------------------ spans

def _span(file: str, meta: Any) -> A.Span:
    if getattr(meta, "empty", False):
        return A.NOSPAN
    return A.Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(file: str, tok: Token) -> A.Span:
    return A.Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


# ------------------------------------------------------------------ tree -> AST

@v_args(meta=True)
class _Builder(Transformer):
    """One method per named grammar alternative; each returns an AST node."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _s(self, meta) -> A.Span:
        return _span(self.file, meta)

    def _t(self, tok: Token) -> A.Span:
        return _tspan(self.file, tok)

    # ---- program
    def start(self, meta, decls):
        return A.Program(self.file, list(decls))

    def hook_decl(self, meta, ch):
        name, span = ch[0]
        return A.HookDecl(name, span=self._s(meta), name_span=span)

    def dotted_name(self, meta, parts):
        return ".".join(str(p) for p in parts), self._s(meta)

    def mode_decl(self, meta, ch):
        return A.ModeDecl(str(ch[0]), span=self._s(meta), name_span=self._t(ch[0]))

    def const_decl(self, meta, ch):
        name, ty, value = ch
        return A.ConstDecl(str(name), ty, value, span=self._s(meta), name_span=self._t(name))

    # ---- models
    def model_decl(self, meta, ch):
        name, kind, *rest = ch
        layers = rest.pop()
        args = [a for a in rest if a is not None]
        for a in args:
            if a.name == "weight" and isinstance(a.value, A.Name):
                a.value = A.TypeRef(a.value.id, None, a.value.span)
        return A.ModelDecl(str(name), str(kind), args, layers, span=self._s(meta),
                           name_span=self._t(name), kind_span=self._t(kind))

    def model_arg_value(self, meta, ch):
        return A.ModelArg(str(ch[0]), ch[1], self._s(meta))

    def model_arg_range(self, meta, ch):
        return A.ModelArg(str(ch[0]), (ch[1], ch[2]), self._s(meta))

    def no_layers(self, meta, ch):
        return []

    def layers(self, meta, ch):
        return list(ch)

    def layer(self, meta, ch):
        kind, *args = ch
        args = [a for a in args if a is not None]
        activation, out = "none", []
        for a in args:
            if a.name == "" and isinstance(a.value, A.Name) and a.value.id in ("relu", "none"):
                activation = a.value.id
            elif a.name == "" and str(kind) == "dense" and not any(o.name == "out" for o in out):
                a.name = "out"          # dense(N): N is the layer's output size
                out.append(a)
            else:
                out.append(a)           # the checker reports what is left unexplained
        return A.LayerDecl(str(kind), out, activation, self._s(meta))

    def layer_positional(self, meta, ch):
        return A.ModelArg("", ch[0], self._s(meta))

    def layer_named(self, meta, ch):
        return A.ModelArg(str(ch[0]), ch[1], self._s(meta))

    # ---- maps
    def map_decl(self, meta, ch):
        name, kind, tparams, size, percpu, private = ch
        tparams = tparams or []
        key = value = None
        if str(kind) == "hash":
            key = tparams[0] if tparams else None
            value = tparams[1] if len(tparams) > 1 else None
        elif tparams:
            value = tparams[0]
        return A.MapDecl(str(name), str(kind), key, value, size, percpu is not None,
                         private is not None, span=self._s(meta), name_span=self._t(name), type_args=tparams,
                         kind_span=self._t(kind))

    def type_params(self, meta, ch):
        return list(ch)

    # ---- tables
    def table_decl(self, meta, ch):
        name, *props = ch
        seen: dict[str, Any] = {}
        for kind, value, span in props:
            if kind in seen:
                raise _BuildError(span, f"table '{name}' has more than one '{kind}'")
            seen[kind] = value
        return A.TableDecl(str(name), seen.get("key", []), seen.get("actions", []),
                           seen.get("default_action"), seen.get("size"),
                           span=self._s(meta), name_span=self._t(name))

    def table_keys(self, meta, ch):
        return "key", list(ch), self._s(meta)

    def table_actions(self, meta, ch):
        return "actions", list(ch), self._s(meta)

    def table_default(self, meta, ch):
        return "default_action", ch[0], self._s(meta)

    def table_size(self, meta, ch):
        return "size", ch[0], self._s(meta)

    def key_entry(self, meta, ch):
        expr, match = ch
        return A.KeyDecl(expr, str(match), self._s(meta), self._t(match))

    def action_item(self, meta, ch):
        return A.ActionRef(str(ch[0]), [], self._t(ch[0]))

    def action_ref(self, meta, ch):
        name, *args = ch
        return A.ActionRef(str(name), [a for a in args if a is not None], self._s(meta))

    # ---- actions, apply, guard
    def action_decl(self, meta, ch):
        name, *rest = ch
        body = rest.pop()
        params = [p for p in rest if p is not None]
        return A.ActionDecl(str(name), params, body, span=self._s(meta), name_span=self._t(name))

    def param(self, meta, ch):
        return A.ParamDecl(str(ch[0]), ch[1], self._s(meta))

    def apply_decl(self, meta, ch):
        return A.ApplyDecl(ch[0], span=self._s(meta))

    def guard_decl(self, meta, ch):
        return A.GuardDecl(list(ch), span=self._s(meta))

    def guard_allow(self, meta, ch):
        return A.GuardAllow(list(ch), self._s(meta))

    def guard_streak(self, meta, ch):
        return A.GuardStreak(ch[0], ch[1], ch[2], self._s(meta))

    def property_decl(self, meta, ch):
        name, first, second = ch
        premise, conclusion = (first, second) if second is not None else (None, first)
        return A.PropertyDecl(str(name), premise, conclusion, span=self._s(meta),
                              name_span=self._t(name))

    # ---- types
    def type(self, meta, ch):
        return A.TypeRef(str(ch[0]), ch[1], self._s(meta))

    # ---- statements
    def block(self, meta, ch):
        return A.Block(list(ch), span=self._s(meta))

    def let_stmt(self, meta, ch):
        name, ty, init = ch
        return A.Let(str(name), ty, init, span=self._s(meta))

    def assign_stmt(self, meta, ch):
        target, op, value = ch
        return A.Assign(target, op, value, span=self._s(meta))

    def assign_op(self, meta, ch):
        return str(ch[0])

    def expr_stmt(self, meta, ch):
        return A.ExprStmt(ch[0], span=self._s(meta))

    def if_stmt(self, meta, ch):
        cond, then, orelse = ch
        return A.If(cond, then, orelse, span=self._s(meta))

    def for_stmt(self, meta, ch):
        var, lo, hi, body = ch
        return A.For(str(var), lo, hi, body, span=self._s(meta))

    def decide_stmt(self, meta, ch):
        return A.Decide(ch[0], span=self._s(meta))

    def trace_stmt(self, meta, ch):
        return A.Trace([a for a in ch if a is not None], span=self._s(meta))

    def trace_named(self, meta, ch):
        return A.TraceArg(str(ch[0]), ch[1], self._s(meta))

    def trace_positional(self, meta, ch):
        return A.TraceArg("", ch[0], self._s(meta))      # the checker derives the name

    def apply_stmt(self, meta, ch):
        return A.ApplyTable(str(ch[0]), span=self._s(meta))

    # ---- expressions
    def binary(self, meta, ch):
        left, op, right = ch
        return A.Binary(op, left, right, span=self._s(meta))

    def unary(self, meta, ch):
        op, operand = ch
        return A.Unary(op, operand, span=self._s(meta))

    def cast(self, meta, ch):
        return A.Cast(ch[0], ch[1], span=self._s(meta))

    def index(self, meta, ch):
        return A.Index(ch[0], ch[1], span=self._s(meta))

    def int_lit(self, meta, ch):
        text = str(ch[0])
        digits = text.replace("_", "")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            raise _BuildError(self._s(meta), f"number '{text}' has a leading zero; "
                              "octal is not supported")
        try:
            return A.IntLit(int(digits, 0), span=self._s(meta))
        except ValueError:
            raise _BuildError(self._s(meta), f"malformed number '{text}'") from None

    def true_lit(self, meta, ch):
        return A.BoolLit(True, span=self._s(meta))

    def false_lit(self, meta, ch):
        return A.BoolLit(False, span=self._s(meta))

    def name(self, meta, ch):
        return A.Name(str(ch[0]), span=self._s(meta))

    def ctx_field(self, meta, ch):
        return A.CtxField(str(ch[0]), span=self._s(meta))

    def call(self, meta, ch):
        name, *args = ch
        return A.Call(str(name), [a for a in args if a is not None], span=self._s(meta))

    def _op(self, meta, ch):
        return str(ch[0])

    or_op = and_op = bitor_op = bitxor_op = bitand_op = eq_op = rel_op = _op
    shift_op = add_op = mul_op = unary_op = _op


# ------------------------------------------------------------------ syntax errors

# readable names for the grammar's terminals (anonymous ones are shown quoted)
_TERMINAL_TEXT = {"NAME": "a name", "INT": "a number", "$END": "end of file"}
_OPERATORS = {"||", "&&", "|", "^", "&", "==", "!=", "<", "<=", ">", ">=", "<<", ">>", "+",
              "-", "*", "/", "%", "as", "[", "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=",
              "^=", "<<=", ">>="}
_EXPR_START = {"a name", "a number", "'('"}
_STMT_START = {"'let'", "'if'", "'for'", "'decide'", "'trace'", "'{'"}
_DECL_WORDS = ("hook", "mode", "const", "model", "map", "table", "action", "apply", "guard",
               "property")
_DECL_LINE = re.compile(r"(%s)\b" % "|".join(_DECL_WORDS))
_DECL_START = {f"'{k}'" for k in ("hook", "mode", "const", "model", "map", "table", "action",
                                  "apply", "guard", "property")}


def _terminal_text(name: str) -> str:
    if name in _TERMINAL_TEXT:
        return _TERMINAL_TEXT[name]
    for t in _lark().terminals:
        if t.name == name and t.pattern.type == "str":
            return f"'{t.pattern.value}'"
    return name.lower()


def _expected_text(expected: set[str]) -> tuple[str, list[str]]:
    """A short phrase for what the parser would have accepted, and the keyword choices."""
    words = {_terminal_text(e) for e in expected if e != "$END"} or {"end of file"}
    keywords = sorted(w.strip("'") for w in words if w.startswith("'") and w[1:-1].isidentifier())
    if _EXPR_START <= words:
        rest = {w for w in words if w.strip("'") not in _OPERATORS and w not in _EXPR_START
                and w not in ("'!'", "'~'", "'ctx'", "'true'", "'false'")}
        words = rest | {"an expression"}
    else:
        trimmed = {w for w in words if w.strip("'") not in _OPERATORS}
        words = trimmed or words
    for group, label in ((_STMT_START, "a statement"), (_DECL_START, "a declaration")):
        if len(words & group) >= 3:
            words = (words - group - {"an expression", "a name"}) | {label}
    order = sorted(words, key=lambda w: (not w.startswith("'"), w))
    if len(order) == 1:
        return order[0], keywords
    if len(order) <= 6:
        return "one of " + ", ".join(order), keywords
    return "one of " + ", ".join(order[:6]) + ", ...", keywords


def _found_text(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NAME":
        return f"name '{tok}'"
    if tok.type == "INT":
        return f"number {tok}"
    return f"'{tok}'"


def _end_of_text(file: str, text: str) -> A.Span:
    stripped = text.rstrip()
    lines = stripped.split("\n")
    line = len(lines)
    col = len(lines[-1]) + 1
    return A.Span(file, line, col, line, col)


def _expected_of(err: UnexpectedInput) -> set[str]:
    """The terminals the parser could shift, from the parse table.

    lark fills `expected` from the lexer when the contextual lexer stops, and
    there keywords have been folded into NAME; the parse table still has them.
    """
    state = getattr(err, "state", None)
    try:
        actions = state.parse_conf.parse_table.states[state.position]
        return {t for t in actions if t.isupper()}
    except AttributeError:
        return set(getattr(err, "expected", ()) or ())


def _syntax_diag(file: str, text: str, err: UnexpectedInput, tokens: list[Token]) -> Diagnostic:
    refused = isinstance(err, UnexpectedToken) and tokens and tokens[-1] is err.token
    prev = tokens[-2] if refused and len(tokens) > 1 else (tokens[-1] if tokens and not refused else None)
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        span = A.Span(file, err.line, err.column, err.line, err.column + 1)
        return Diagnostic(Severity.ERROR, span, f"unexpected character '{ch}'")
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        want, keywords = _expected_text(_expected_of(err))
        msg = f"expected {want}, found {_found_text(tok)}"
        if tok.type == "NAME" and keywords:
            hit = closest(str(tok), keywords)
            if hit:
                msg += f"; did you mean '{hit}'?"
        span = _tspan(file, tok)
        opener = _unclosed(tokens[:-1] if refused else tokens)
        line_text = text.splitlines()[tok.line - 1] if tok.line <= len(text.splitlines()) else ""
        if opener is not None and opener == "{" and _DECL_LINE.match(line_text):
            # a declaration keyword at the start of a line inside a block: a '}' is missing
            return Diagnostic(Severity.ERROR, A.Span(file, tok.line, 1, tok.line, 1 + len(line_text.split()[0])),
                              f"expected '}}' to close the '{{' at {opener.line}:{opener.column} "
                              "before this declaration")
        if "';'" in want and prev is not None and prev.end_line < tok.line:
            # a missing ';' at the end of a line: point where it belongs
            span = A.Span(file, prev.end_line, prev.end_column, prev.end_line, prev.end_column)
            msg = f"expected ';' after {_found_text(prev)}"
        return Diagnostic(Severity.ERROR, span, msg)
    expected = _expected_of(err)
    want = _expected_text(expected)[0] if expected else "more input"
    msg = f"unexpected end of file; expected {want}"
    opener = _unclosed(tokens)
    if opener is not None:
        msg = f"unexpected end of file: the '{opener}' at {opener.line}:{opener.column} is not closed"
    return Diagnostic(Severity.ERROR, _end_of_text(file, text), msg)


def _unclosed(tokens: list[Token]) -> Optional[Token]:
    """The innermost bracket still open at the end of the token stream."""
    pairs = {"}": "{", ")": "(", "]": "["}
    stack: list[Token] = []
    for t in tokens:
        if t in ("{", "(", "["):
            stack.append(t)
        elif t in pairs and stack and stack[-1] == pairs[t]:
            stack.pop()
    return stack[-1] if stack else None


# Declarations the object format limits, counted as the tokens arrive: a program with
# 2,000 tables stops at the 65th, before the rest is even parsed.
_DECL_LIMITS = {"TABLE": ("MAX_TABLES", "tables"), "MAP": ("MAX_MAPS", "maps"),
                "MODEL": ("MAX_MODELS", "models")}


class _LimitError(RmtSyntaxError):
    """A limit passed while parsing: reported alone, without error recovery (recovery would
    parse the rest again, which is the work the limit is there to avoid)."""


def _count_decl(tok: Token, counts: dict[str, int], file: str) -> None:
    counts[tok.type] += 1
    key, what = _DECL_LIMITS[tok.type]
    if counts[tok.type] > LIMITS[key]:
        span = A.Span(file, tok.line, tok.column, tok.line, tok.column + len(tok))
        raise _LimitError([Diagnostic(
            Severity.ERROR, span, f"more than {LIMITS[key]} {what}: the object format allows "
                                  f"{LIMITS[key]}")])


def _parse_tree(text: str, file: str) -> Tree:
    ip = _lark().parse_interactive(text)
    tokens: list[Token] = []        # what the lexer produced so far, for error messages
    counts = dict.fromkeys(_DECL_LIMITS, 0)
    depth = 0
    try:
        for tok in ip.iter_parse():
            tokens.append(tok)
            if tok.type == "LBRACE":
                depth += 1
            elif tok.type == "RBRACE":
                depth -= 1
            elif tok.type in counts and depth == 0:
                _count_decl(tok, counts, file)
        return ip.resume_parse()
    except _Unterminated as u:
        span = A.Span(file, u.token.line, u.token.column, u.token.line, u.token.column + 2)
        raise RmtSyntaxError([Diagnostic(Severity.ERROR, span, "unterminated block comment")])
    except UnexpectedInput as e:
        raise RmtSyntaxError([_syntax_diag(file, text, e, tokens)]) from None


def _recover(text: str, file: str, first: RmtSyntaxError) -> list[Diagnostic]:
    """The first syntax error plus those found by restarting at each later declaration.

    After an error the parse restarts at the next line that begins (in column 1)
    with a declaration keyword, with the text before it blanked out so lines keep
    their numbers.  Restarting only at declarations keeps recovery honest: no
    guessing inside a statement, so a reported error is a real one.
    """
    diags = list(first.diagnostics)
    if diags[0].message == "unterminated block comment":
        return diags
    lines = text.split("\n")
    after = diags[0].span.line
    while True:
        nxt = next((i for i in range(after, len(lines)) if _DECL_LINE.match(lines[i])), None)
        if nxt is None:
            return diags
        try:
            _parse_tree("\n" * nxt + "\n".join(lines[nxt:]), file)
            return diags
        except RmtSyntaxError as e:
            d = e.diagnostics[0]
            if d.message == "unterminated block comment":
                return diags + [d]
            diags.append(d)
            after = max(d.span.line, nxt + 1)


# The deepest parse tree accepted.  The tree builder, the checker and the lowering walk
# the tree recursively, a few Python frames per level; this keeps the deepest program well
# inside Python's default recursion limit (1000).  Real programs nest a few dozen levels.
MAX_NESTING = 150


def _check_depth(tree: Tree, file: str) -> None:
    """Refuse a parse tree deeper than MAX_NESTING, located at the first token of the
    subtree where the limit is passed.  Iterative: it must not recurse itself."""
    stack: list[tuple[Tree, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            tok = _first_token(node)
            line, col = (tok.line, tok.column) if tok is not None else (1, 1)
            span = A.Span(file, line, col, line, col + max(len(tok or ""), 1))
            raise RmtSyntaxError([Diagnostic(
                Severity.ERROR, span,
                f"nested too deeply: more than {MAX_NESTING} levels of blocks or operators "
                f"(split the expression with `let`, or flatten the `if`s)")])
        for ch in node.children:
            if isinstance(ch, Tree):
                stack.append((ch, depth + 1))


def _first_token(node: Tree) -> Token | None:
    while isinstance(node, Tree):
        kids = [c for c in node.children if c is not None]
        if not kids:
            return None
        node = kids[0]
    return node if isinstance(node, Token) else None


def parse(text: str, file: str = "<input>") -> A.Program:
    """Parse .rmt source into an AST.  Raises RmtSyntaxError (located) on bad syntax,
    carrying the syntax errors of every declaration that has one."""
    try:
        tree = _parse_tree(text, file)
    except _LimitError as e:
        raise RmtSyntaxError(list(e.diagnostics)) from None
    except RmtSyntaxError as e:
        raise RmtSyntaxError(_recover(text, file, e)) from None
    _check_depth(tree, file)
    try:
        return _Builder(file).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, _BuildError):
            b = e.orig_exc
            raise RmtSyntaxError([Diagnostic(Severity.ERROR, b.span, b.message)]) from None
        raise
