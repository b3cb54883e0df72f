"""The diagnostics text a .rmt file produces: what tests/lang/bad/*.err files hold.

    python tests/lang/expected.py tests/lang/bad/foo.rmt        # print it
    python tests/lang/expected.py --write tests/lang/bad/*.rmt  # (re)write the .err files

Files are loaded under their base name so the text does not depend on the
working directory.  Review every rewritten .err by eye: it is the spec.
"""
from __future__ import annotations

import sys
from pathlib import Path


from rmt.lang import RmtSyntaxError, check, parse, render_all  # noqa: E402


def diagnostics_text(path: Path) -> str:
    text = path.read_text()
    try:
        diags = check(parse(text, path.name))
    except RmtSyntaxError as e:
        diags = e.diagnostics
    return render_all(diags, text)


def main(argv: list[str]) -> int:
    write = "--write" in argv
    for arg in (a for a in argv if a != "--write"):
        p = Path(arg)
        out = diagnostics_text(p)
        if write:
            p.with_suffix(".err").write_text(out)
        else:
            sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
