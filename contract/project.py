"""Where the project's data lives: the source checkout's examples/, traces/, vm_kernel/, results/.

The Python packages install under `rmt`; the case studies also need files a wheel does not
carry (the example programs, the captured traces, the C sources the guest builds rmt.ko
from) and a place for their results.  They find them here, in this order:

1. `$RMT_HOME`, when set: a source checkout (or a copy of its examples/ and traces/);
2. the checkout this package was imported from (an editable install or running in place);
3. the current directory or one of its parents, when it is a checkout.

A directory counts as a checkout when it holds `examples/` and `vm_kernel/`.  When none is
found, `root()` raises `ProjectNotFound` with a message that says what was looked at and
what to do; the console scripts print it as one line and exit 2.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Callable

ENV = "RMT_HOME"
MARKERS = ("examples", "vm_kernel")


class ProjectNotFound(RuntimeError):
    """No source checkout found: the message names where it looked and how to point at one."""


def is_checkout(d: Path) -> bool:
    return all((d / m).is_dir() for m in MARKERS)


def _package_checkout() -> Path:
    # contract/project.py -> the folder holding contract/ (the checkout, when not a wheel)
    return Path(__file__).resolve().parent.parent


def root(cwd: Path | None = None) -> Path:
    """The project directory (see the module docstring for the search order)."""
    env = os.environ.get(ENV)
    if env:
        d = Path(env).expanduser().resolve()
        if not is_checkout(d):
            raise ProjectNotFound(f"{ENV}={env}: not an RMT source checkout (no "
                                  f"{' or '.join(m + '/' for m in MARKERS if not (d / m).is_dir())})")
        return d
    tried = [_package_checkout()]
    here = (cwd or Path.cwd()).resolve()
    tried += [here, *here.parents]
    for d in tried:
        if is_checkout(d):
            return d
    raise ProjectNotFound(
        f"no RMT source checkout found (looked beside the installed package, "
        f"{tried[0]}, and in {here} and its parents): the case studies need its "
        f"examples/, traces/ and vm_kernel/; run from a checkout or set {ENV}=/path/to/rmt")


def guess() -> Path:
    """`root()` where one is found, else where a checkout would be: for module-level defaults,
    which must not fail at import (the console script, wrapped in `cli()`, then calls `root()`
    and says why)."""
    try:
        return root()
    except ProjectNotFound:
        env = os.environ.get(ENV)
        return Path(env).expanduser().resolve() if env else _package_checkout()


def cli(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a case study's `main`: no checkout found is one line on stderr and exit 2.
    `--help`/`-h` (in main's argv, or sys.argv when main is given none) needs no checkout:
    main's argparse answers it."""
    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        argv = args[0] if args and args[0] is not None else kwargs.get("argv")
        if argv is None:
            argv = sys.argv[1:]
        if "--help" in argv or "-h" in argv:
            return main(*args, **kwargs)
        try:
            root()
        except ProjectNotFound as e:
            prog = Path(sys.argv[0]).name or main.__module__
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        return main(*args, **kwargs)
    return wrapper
