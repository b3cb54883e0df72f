"""The layering of vm_kernel/, checked on its #include lines.

- core/ (the VM) includes nothing from kmod/ (rmt.ko only) or uapi/;
- the module glue in kmod/ reaches the VM only through its public API:
  rmt_vm.h, plus the helpers every layer uses (rmt_compat.h, rmt_alloc.h)
  and the generated hook contexts (rmt_hooks.h).  The one exception is
  rmt.ko's eBPF JIT (kmod/rmt_kmod_jit.c), an engine, which includes
  rmt_engine.h as the core's engines do;
- the engines see the instance layout (rmt_inst.h), not the runtime's API
  (rmt_vm.h), and the layout does not include the API: no header cycle
  between the runtime and the engines it calls;
- the include graph of core/ and kmod/ has no cycle.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VM = ROOT / "vm_kernel"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

# What kmod/ glue may include from core/ (directly or through its own headers).
PUBLIC = {"rmt_vm.h", "rmt_run.h", "rmt_compat.h", "rmt_alloc.h", "rmt_hooks.h",
          "rmt_model_isa.h",      # the MLP engine's choice (rmt.model_isa)
          # rmt_vm.h's own includes: the types its calls take
          "rmt_isa.h", "rmt_format.h", "rmt_table.h", "rmt_ring.h", "rmt_jit.h"}
ENGINES = {"core/rmt_interp.c", "core/rmt_jit.c", "kmod/rmt_kmod_jit.c"}


def _files() -> dict[str, Path]:
    return {str(p.relative_to(VM)): p for d in ("core", "kmod") for p in sorted((VM / d).glob("*.[ch]"))}


def _resolve(name: str, including: str) -> str | None:
    """A quoted include as the compiler finds it: next to the including file, then core/."""
    for cand in (str(Path(including).parent / name), f"core/{name}", name):
        if (VM / cand).exists():
            return cand
    return None


def _graph() -> dict[str, list[str]]:
    g = {}
    for rel, p in _files().items():
        g[rel] = [r for n in INCLUDE.findall(p.read_text()) if (r := _resolve(n, rel))]
    return g


def _closure(g: dict[str, list[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for n in g.get(todo.pop(), []):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_core_includes_nothing_from_kmod_or_uapi() -> None:
    g = _graph()
    bad = {f: [n for n in inc if not n.startswith("core/")]
           for f, inc in g.items() if f.startswith("core/")}
    assert {f: v for f, v in bad.items() if v} == {}


def test_module_glue_uses_the_public_api_only() -> None:
    g = _graph()
    bad = {}
    for f in g:
        if not f.startswith("kmod/") or f in ENGINES:
            continue
        core = {Path(n).name for n in _closure(g, f) if n.startswith("core/")}
        if core - PUBLIC:
            bad[f] = sorted(core - PUBLIC)
    assert bad == {}, f"kmod/ reaches the VM's internals: {bad}"


def test_engines_see_the_layout_not_the_runtime_api() -> None:
    g = _graph()
    assert "core/rmt_vm.h" not in _closure(g, "core/rmt_inst.h")
    for f in ENGINES:
        reach = _closure(g, f)
        assert "core/rmt_inst.h" in reach, f
        assert "core/rmt_vm.h" not in reach, f"{f} includes the runtime's API"
    # and the runtime's API declares no engine entry point
    api = (VM / "core" / "rmt_vm.h").read_text()
    for fn in ("rmt_interp_run", "rmt_jit_compile", "rmt_jit_run", "rmt_kjit_compile"):
        assert f"{fn}(" not in api, fn


def test_the_include_graph_has_no_cycle() -> None:
    g = _graph()
    for f in g:
        assert f not in _closure(g, f), f"{f} includes itself through {sorted(_closure(g, f))}"
