"""Mutation testing of the Python safety code with mutmut: a bounded, reproducible run.

    python tools/mutate_py.py run   [--set NAME ...] [--max-children N] [--json FILE]
    python tools/mutate_py.py score [--json FILE]       # per-module table of the last run
    python tools/mutate_py.py mutant NAME ...           # rerun (or first run) single mutants
    python tools/mutate_py.py show NAME                 # the diff of one mutant

`make mutate-py` runs it (docs/robustness.md, "Mutation testing").  Why a staging tree:
every package installs under the `rmt` namespace from its own folder (verifier/ is
`rmt.verifier`), but mutmut names a mutant after its file's path and puts only `mutants/`,
`mutants/src` or `mutants/source` on sys.path.  Run in the repo, the tests import the
unmutated `rmt.verifier` through the editable install and mutmut records no test for any
mutant.  So this script copies the packages into build/mutmut/src/rmt/<package>/ (the
installed layout), with tests/ and tools/, writes a pyproject.toml whose `[tool.mutmut]`
names the modules of the chosen sets, and runs mutmut there: mutant names are then the
import names (`rmt.verifier.taint.x_check_taint__mutmut_3`), and `src/` is first on sys.path
so the tests import the mutants.  Copies keep their mtimes, so a rerun keeps earlier verdicts
for unchanged files.

A set is a group of modules that decide accept or reject, and the fast tests that exercise
them (mutmut runs, for each mutant, only the selected tests that call the mutated function,
fastest first, stopping at the first failure; a survivor costs every such test).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "mutmut"
MUTMUT = Path(sys.executable).parent / "mutmut"
TIMEOUT_MULTIPLIER = 15.0


@dataclass(frozen=True)
class MutSet:
    name: str
    modules: tuple[str, ...]        # import names under rmt.: the files mutmut mutates
    tests: tuple[str, ...]          # pytest arguments (files, -k expressions)
    why: str
    # mutant-name globs (rmt.verifier.symexec.xǁExecutorǁmem_access*) when only some
    # functions of the modules carry the obligation; empty: every function
    functions: tuple[str, ...] = ()


CORPUS = "tests/test_verifier_corpus.py"
# The corpus categories whose reject cases fail the obligation a set's modules decide, with
# their accepted twins (a mutant that wrongly rejects fails a twin).  Z3-heavy cases of other
# categories (divzero, the unrolled budget loops: 47 of the corpus's 60 s) are left out; a
# survivor costs every selected test that calls its function.
SETS = [
    MutSet("taint", ("verifier.taint",),
           (CORPUS, "-k", "taint/ or implicit/ or mapexport/ or guard/trips"),
           "information flow: what may leave the kernel (trace, map dump, counters, guard "
           "trips)"),
    MutSet("validator", ("semantics.validate",),
           ("tests/test_semantics_validate.py", "tests/test_semantics_cases.py"),
           "the reference validator: what the kernel refuses to load"),
    MutSet("bounds", ("verifier.symexec",),
           (CORPUS, "-k", "oob_read/ or oob_write/ or scaled_index/ or mapindex/ or ctxperm/ "
            "or uninit/"),
           "memory safety goals: InBounds and ScaleNoWrap of every load and store, and "
           "Initialized of every scratch load (mem_access decides all three)",
           ("rmt.verifier.symexec.xǁExecutorǁmem_access__mutmut_*",
            "rmt.verifier.symexec.x__scalings__mutmut_*")),
    MutSet("static", ("verifier.wellformed", "verifier.costcheck", "verifier.obligations"),
           (CORPUS, "-k", "(ctxperm/ or oob_write/ or guard/ or budget/ or modelsig/) "
            "and not custom_budget.bad and not swap_unrolled"),
           "static well-formedness, guards, worst-case cost, the verdict of a result"),
]
# what `run` and `score` (and `make mutate-py`) take without --set: the sets whose run time is
# known (validator + taint + bounds: 62 minutes on the loaded 2-core host); `static` not yet
DEFAULT_SETS = ("validator", "taint", "bounds")


def _packages() -> dict[str, str]:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return conf["tool"]["setuptools"]["package-dir"]


def _ignore(_: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("__pycache__", ".pytest_cache", ".hypothesis")
            or n.endswith((".pyc", ".o", ".so", ".ko", ".meta", ".spans"))]


def stage(ms: MutSet) -> Path:
    """Copy the packages, tests and tools into STAGE/<set> and write its pyproject.toml."""
    root = STAGE / ms.name
    src = root / "src"
    for pkg, folder in _packages().items():
        dest = src.joinpath(*pkg.split("."))
        if pkg == "rmt":
            dest.mkdir(parents=True, exist_ok=True)
            for f in (ROOT / folder).glob("*.py"):
                shutil.copy2(f, dest / f.name)
            continue
        shutil.copytree(ROOT / folder, dest, ignore=_ignore, dirs_exist_ok=True)
    for folder in ("tests", "tools", "examples"):
        shutil.copytree(ROOT / folder, root / folder, ignore=_ignore, dirs_exist_ok=True,
                        symlinks=True)
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ini = conf["tool"]["pytest"]["ini_options"]
    paths = [f"src/rmt/{m.replace('.', '/')}.py" for m in ms.modules]
    lines = ["# written by tools/mutate_py.py; edit SETS there, not this file",
             "[tool.pytest.ini_options]",
             f"testpaths = {json.dumps(ini['testpaths'])}",
             f"pythonpath = {json.dumps(ini['pythonpath'])}",
             "", "[tool.mutmut]",
             f"source_paths = {json.dumps(paths)}",
             # the whole tree: mutmut copies only source_paths into mutants/, and a package
             # without its __init__.py there would be a namespace package
             'also_copy = ["src/"]',
             f"pytest_add_cli_args_test_selection = {json.dumps(list(ms.tests), ensure_ascii=False)}",
             "pytest_add_cli_args = [\"-p\", \"no:cacheprovider\"]",
             "use_git_change_detection = false",
             # mutmut 3.8 limits a mutant to (tests' time + 1) * multiplier * 2 CPU seconds
             # and to half that in wall time: with 3.0, a load average of 13 on the 2-core
             # host turned 76 bounds survivors into "timeouts" (each counted as killed).
             # 15 (mutmut's default) keeps the wall bound above any slow-down seen here.
             f"timeout_multiplier = {TIMEOUT_MULTIPLIER}",
             ""]
    (root / "pyproject.toml").write_text("\n".join(lines))
    return root


def _mutmut(root: Path, *args: str, nice: int) -> int:
    cmd = [str(MUTMUT), *args]
    if nice and shutil.which("nice"):
        cmd = ["nice", "-n", str(nice), *cmd]
    print(f"+ (cd {root.relative_to(ROOT)} && {' '.join(cmd)})", flush=True)
    return subprocess.run(cmd, cwd=root).returncode


def verdicts(ms: MutSet) -> dict[str, str]:
    """mutant name -> status, from the .meta files mutmut writes next to each mutated file."""
    from mutmut.stats import status_by_exit_code     # the dev extra
    out: dict[str, str] = {}
    for meta in sorted((STAGE / ms.name / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            if ms.functions and not any(fnmatch.fnmatchcase(name, g) for g in ms.functions):
                continue
            out[name] = status_by_exit_code[code]
    return out


class NotRun(Exception):
    """A set with no run to read (no staged tree, or mutmut wrote no verdict yet)."""


def _require_run(ms: MutSet) -> Path:
    root = STAGE / ms.name
    if not (root / "mutants").is_dir():
        raise NotRun(f"mutate_py: set {ms.name} has no run in {root}: run it "
                     f"first (tools/mutate_py.py run --set {ms.name})")
    return root


def score(sets: list[MutSet]) -> dict[str, dict[str, int]]:
    rows = {}
    for ms in sets:
        _require_run(ms)
        v = verdicts(ms)
        for m in ms.modules:
            prefix = f"rmt.{m}."
            rows[m] = dict(Counter(st for name, st in v.items() if name.startswith(prefix)))
    return rows


def survivors(sets: list[MutSet]) -> list[str]:
    return [n for ms in sets for n, st in verdicts(ms).items() if st == "survived"]


COLS = ["killed", "survived", "timeout", "no tests", "not checked"]


def print_score(rows: dict[str, dict[str, int]]) -> None:
    print(f"{'module':24}" + "".join(f"{c:>12}" for c in COLS) + f"{'score':>8}")
    tot: Counter = Counter()
    for m, c in rows.items():
        tot.update(c)
        print(_row(m, c))
    print(_row("total", tot))


def _row(name: str, c: dict) -> str:
    """mutmut's score: (killed + timeout) / (killed + timeout + survived)."""
    kt = c.get("killed", 0) + c.get("timeout", 0)
    tested = kt + c.get("survived", 0)
    pct = f"{100 * kt / tested:.1f}%" if tested else "-"
    other = {k: v for k, v in c.items() if k not in COLS}
    return (f"{name:24}" + "".join(f"{c.get(k, 0):>12}" for k in COLS) + f"{pct:>8}"
            + (f"  {other}" if other else ""))


def _set_of(name: str) -> MutSet:
    for ms in SETS:
        if any(name.startswith(f"rmt.{m}.") for m in ms.modules) and (
                not ms.functions or any(fnmatch.fnmatchcase(name, g) for g in ms.functions)):
            return ms
    raise SystemExit(f"mutate_py: {name}: no set mutates this function "
                     f"(sets: {', '.join(s.name for s in SETS)})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    names = [s.name for s in SETS]
    r = sub.add_parser("run", help="stage and run the chosen sets, then print the score")
    r.add_argument("--set", nargs="+", default=list(DEFAULT_SETS), choices=names)
    r.add_argument("--max-children", type=int, default=2)
    r.add_argument("--nice", type=int, default=10)
    r.add_argument("--json", type=Path)
    sc = sub.add_parser("score", help="the per-module table of the last run")
    sc.add_argument("--set", nargs="+", choices=names,
                    help="default: every set that has a run")
    sc.add_argument("--survivors", action="store_true", help="also list the survivors")
    sc.add_argument("--json", type=Path)
    mu = sub.add_parser("mutant", help="rerun single mutants (after a new test)")
    mu.add_argument("names", nargs="+")
    mu.add_argument("--nice", type=int, default=10)
    sh = sub.add_parser("show", help="the diff of one mutant")
    sh.add_argument("name")
    a = ap.parse_args(argv)
    try:
        return _main(a, names)
    except NotRun as e:
        print(e, file=sys.stderr)
        return 1


def _main(a: argparse.Namespace, names: list[str]) -> int:
    if a.cmd == "run":
        chosen = [s for s in SETS if s.name in a.set]
        t0 = time.monotonic()
        rc = 0
        for ms in chosen:
            root = stage(ms)
            # no names: every mutant of source_paths without a verdict yet (a rerun resumes);
            # names (globs) are always rerun
            rc |= _mutmut(root, "run", "--max-children", str(a.max_children),
                          *ms.functions, nice=a.nice)
        minutes = (time.monotonic() - t0) / 60
        rows = score(chosen)
        print_score(rows)
        print(f"{minutes:.1f} minutes on {os.cpu_count()} CPUs, max_children={a.max_children}")
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps({"minutes": round(minutes, 1), "modules": rows,
                                          "survivors": survivors(chosen),
                                          "sets": [asdict(s) for s in chosen]}, indent=1))
        return rc
    if a.cmd == "score":
        if a.set is None:
            chosen = [s for s in SETS if (STAGE / s.name / "mutants").is_dir()]
            if not chosen:
                raise NotRun(f"mutate_py: no set has a run in {STAGE} (sets: "
                             f"{', '.join(names)}): run it first (tools/mutate_py.py run)")
        else:
            chosen = [s for s in SETS if s.name in a.set]
        rows = score(chosen)
        print_score(rows)
        if a.survivors:
            print("\n".join(survivors(chosen)))
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps({"modules": rows, "survivors": survivors(chosen)},
                                         indent=1))
        return 0
    if a.cmd == "mutant":
        by_set: dict[str, list[str]] = {}
        for name in a.names:
            by_set.setdefault(_set_of(name).name, []).append(name)
        rc = 0
        for ms in SETS:
            if ms.name in by_set:       # restaged: new tests and cases are copied in
                rc |= _mutmut(stage(ms), "run", "--max-children", "1", *by_set[ms.name],
                              nice=a.nice)
        return rc
    return _mutmut(_require_run(_set_of(a.name)), "show", a.name, nice=0)


if __name__ == "__main__":
    sys.exit(main())
