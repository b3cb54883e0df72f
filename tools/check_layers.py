#!/usr/bin/env python3
"""Check the layer contract of the `rmt` packages (pyproject.toml, [tool.rmt.layers]).

Every import between two `rmt` subpackages must point down the declared layers (a package may
import any package of a lower layer, never one of its own layer or above), and no two modules
import each other, directly or around a loop.  Imports inside functions count: a lazy upward
import is still an upward dependency.  The module graph is read from the sources with `ast`
(nothing is imported), using the package-to-folder table in [tool.setuptools.package-dir].

    python tools/check_layers.py [--root DIR]   # exit 1 and one line per violation
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    src: str        # importing module, e.g. rmt.compiler.driver
    dst: str        # imported module (or package), e.g. rmt.contract.isa
    path: Path
    line: int


@dataclass(frozen=True)
class Contract:
    layers: list[list[str]]         # top first, as written in pyproject.toml
    package_dir: dict[str, str]

    def layer_of(self, pkg: str) -> int | None:
        for i, group in enumerate(self.layers):
            if pkg in group:
                return len(self.layers) - i      # higher number = higher layer
        return None


def load_contract(root: Path = ROOT) -> Contract:
    conf = tomllib.loads((root / "pyproject.toml").read_text())
    layers = [[p.strip() for p in row.split("|")] for row in conf["tool"]["rmt"]["layers"]]
    return Contract(layers, conf["tool"]["setuptools"]["package-dir"])


def modules(contract: Contract, root: Path = ROOT) -> dict[str, Path]:
    """Every module of every mapped package: dotted name -> file."""
    out: dict[str, Path] = {}
    for pkg, folder in contract.package_dir.items():
        for f in sorted((root / folder).glob("*.py")):
            name = pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"
            out[name] = f
    return out


def _resolve(node: ast.ImportFrom, module: str, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(mods: dict[str, Path], unparsed: list[str] | None = None) -> list[Import]:
    """The imports of rmt modules by the modules in `mods`; a file that does not parse is
    skipped and named in `unparsed`."""
    found: list[Import] = []
    for name, path in mods.items():
        try:
            tree = ast.parse(path.read_text(), str(path))
        except (SyntaxError, UnicodeDecodeError) as e:
            if unparsed is not None:
                where = f":{e.lineno}" if isinstance(e, SyntaxError) and e.lineno else ""
                unparsed.append(f"{path}{where}: does not parse ({e}); its imports are not "
                                "checked")
            continue
        is_pkg = path.stem == "__init__"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    found.append(Import(name, a.name, path, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, name, is_pkg)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    found.append(Import(name, sub if sub in mods else base, path, node.lineno))
    return [i for i in found if i.dst == "rmt" or i.dst.startswith("rmt.")]


def package_of(module: str, contract: Contract) -> str:
    best = ""
    for pkg in contract.package_dir:
        if (module == pkg or module.startswith(pkg + ".")) and len(pkg) > len(best):
            best = pkg
    return best


def layer_violations(imps: list[Import], contract: Contract, root: Path = ROOT) -> list[str]:
    out = []
    for i in imps:
        a, b = package_of(i.src, contract), package_of(i.dst, contract)
        if a == b or not b:
            continue
        la, lb = contract.layer_of(a), contract.layer_of(b)
        where = f"{i.path.relative_to(root)}:{i.line}"
        if la is None or lb is None:
            out.append(f"{where}: {a or i.src} or {b} is in no layer of [tool.rmt.layers]")
        elif lb >= la:
            how = "a package of its own layer" if lb == la else "a higher layer"
            out.append(f"{where}: {i.src} imports {i.dst}: {how} ({b} is not below {a})")
    return out


def cycles(imps: list[Import], mods: dict[str, Path]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for i in imps:
        if i.dst in mods and i.dst != i.src:
            graph[i.src].add(i.dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    sccs: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sccs


def _folders(contract: Contract) -> set[str]:
    """The top-level folders that hold an rmt package under another name."""
    return {f for f in contract.package_dir.values() if "/" not in f} - {"rmt"}


def _repo_files(root: Path, kinds: tuple[str, ...]):
    """(path, relative path) of the repo's files with one of these suffixes or names, outside
    hidden folders (.venv, .git), build/ and results/."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0].startswith(".") or rel.parts[0] in ("build", "results"):
            continue
        if path.is_file() and (path.suffix in kinds or path.name in kinds):
            yield path, rel


def _py_trees(root: Path):
    """(relative path, syntax tree) of every Python file of the repo that parses."""
    for path, rel in _repo_files(root, (".py",)):
        try:
            yield rel, ast.parse(path.read_text(), str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue


def folder_imports(contract: Contract, root: Path = ROOT) -> list[str]:
    """Imports, anywhere in the repo (tests, tools, bench too), of a package folder by its folder
    name (`import compiler`): it works from the repo root only, and loads a second copy of
    modules that are also loaded as rmt.*."""
    folders = _folders(contract)
    out = []
    for rel, tree in _py_trees(root):
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in folders:
                    out.append(f"{rel}:{node.lineno}: imports {n} by its folder name; "
                               f"use rmt.{_pkg_of_folder(contract, n.split('.')[0])}")
    return out


# The fuzz corpus's drivers run as scripts from anywhere (and under AFL); they may set their path.
PATH_EDITS_ALLOWED = ("tools/fuzz/",)


def path_edits(root: Path = ROOT) -> list[str]:
    """Changes to `sys.path` in code: modules are found through the package (rmt.*) or, for
    tests and their helpers, through pytest's `pythonpath` in pyproject.toml."""
    out = []
    for rel, tree in _py_trees(root):
        if str(rel).startswith(PATH_EDITS_ALLOWED):
            continue
        for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0)):
            target = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value          # sys.path.insert(...), .append(...), ...
            elif isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                target = next((t.value if isinstance(t, ast.Subscript) else t
                               for t in targets), None)
            if (isinstance(target, ast.Attribute) and target.attr == "path"
                    and isinstance(target.value, ast.Name) and target.value.id == "sys"):
                out.append(f"{rel}:{node.lineno}: changes sys.path; import through rmt.* or "
                           "add the folder to pytest's pythonpath in pyproject.toml")
    return out


_RUN_MODULE = re.compile(r"""(?:-m\s+|["']-m["'],\s*["'])([A-Za-z_]\w*)(?=[.\s"'`]|$)""")


def folder_runs(contract: Contract, root: Path = ROOT) -> list[str]:
    """`python -m FOLDER...` in the repo's code, docs and Makefiles: like a folder-name
    import, it only works from the repo root."""
    folders = _folders(contract)
    out = []
    for path, rel in _repo_files(root, (".py", ".md", ".sh", "Makefile")):
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for m in _RUN_MODULE.finditer(line):
                if m.group(1) in folders:
                    out.append(f"{rel}:{n}: runs -m {m.group(1)} by its folder name; use "
                               f"-m rmt.{_pkg_of_folder(contract, m.group(1))}")
    return out


def _pkg_of_folder(contract: Contract, folder: str) -> str:
    return next(p for p, f in contract.package_dir.items() if f == folder).removeprefix("rmt.")


def check(root: Path = ROOT) -> list[str]:
    contract = load_contract(root)
    mods = modules(contract, root)
    unparsed: list[str] = []
    imps = imports(mods, unparsed)
    problems = unparsed + (layer_violations(imps, contract, root) + folder_imports(contract, root)
                + folder_runs(contract, root) + path_edits(root))
    for comp in cycles(imps, mods):
        problems.append("import cycle: " + " -> ".join(comp + comp[:1]))
    return problems


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="repository to check")
    problems = check(ap.parse_args(argv).root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layer contract violation(s) (pyproject.toml [tool.rmt.layers])",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
