"""Every file generated from the contracts, written or checked by one command.

    python -m rmt.contract.gen            # rewrite every generated file
    python -m rmt.contract.gen --check    # exit 1 naming each stale file (tests run this)
    python -m rmt.contract.gen --root DIR # write the tree under DIR instead of the repo

The C headers of the VM (contract/cgen.py), the format docs (contract/formatdoc.py) and the
hook reference (contract/hookdoc.py) are each a pure function of the contract modules, so a
contract change shows up as exactly this one check failing until the files are regenerated.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from rmt.contract import cgen, formatdoc, hookdoc

ROOT = Path(__file__).resolve().parent.parent


def outputs() -> dict[str, Callable[[], str]]:
    """Repo-relative path -> the function that renders that file."""
    out = {str((cgen.OUT_DIR / name).relative_to(ROOT)): fn
           for name, fn in cgen.GENERATORS.items()}
    out.update(formatdoc.DOCS)
    out[str(hookdoc.DOC.relative_to(ROOT))] = hookdoc.render
    return out


def stale(root: Path = ROOT) -> list[str]:
    """The generated files under root whose text differs from what the contracts give."""
    return [rel for rel, fn in outputs().items()
            if not (root / rel).exists() or (root / rel).read_text() != fn()]


def write(root: Path = ROOT) -> list[str]:
    written = []
    for rel, fn in outputs().items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        text = fn()
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
            written.append(rel)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rmt.contract.gen",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    ap.add_argument("--root", type=Path, default=ROOT, help="tree to write or check")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale(args.root)
        for rel in bad:
            print(f"{rel} is stale: run `python -m rmt.contract.gen`", file=sys.stderr)
        return 1 if bad else 0
    for rel in write(args.root):
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
