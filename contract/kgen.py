"""Generate rmt.ko's part of vm_kernel/core/rmt_hooks.h from the hooks' kernel sides
(contract/hooks.py).

Per hook rmt.ko probes (HookSpec.kernel): the attach payload's C struct
(`struct rmt_<offsets>_offsets`: struct sizes, member offsets and values, as rmtctl packs
them from BTF), and the module's check of a payload, `rmt_<offsets>_offsets_check()`:
public structs' sizes and member offsets against this build's sizeof/offsetof (under the
member's CONFIG_ option), private structs' sizes against their bound, every member inside
its struct (optional ones may be RMT_OFF_NONE), values against the module's own #defines.
Also the X-macro list of probed hooks and the union of their payloads that
struct rmt_hook_bind carries.  Nothing here is written by hand in C any more.
"""
from __future__ import annotations

from rmt.contract.hooks import HOOKS, HookSpec, KernelSide

_HEAD = ("\n/*\n * rmt.ko's probes (HookSpec.kernel): the hooks' attach payloads and their\n"
         " * checks.  Compiled where RMT_KMOD_HOOKS is defined, after uapi/rmt_hooks.h\n"
         " * (kmod/rmt_hooks_kern.h).  A hook's check needs the kernel headers of its\n"
         " * public structs: its probe file defines RMT_HOOK_OFFSETS_CHECK_<OFFSETS>\n"
         " * before including rmt_hooks_kern.h.\n */\n")


_OFF_OK = """/**
 * rmt_off_ok() - is a member of @width bytes at @off inside a struct of @size?
 * @off: offset from BTF (RMT_OFF_NONE: absent)
 * @width: bytes the hook reads
 * @size: the struct's BTF size
 */
static inline bool rmt_off_ok(u32 off, u32 width, u32 size)
{
	return off != RMT_OFF_NONE && (u64)off + width <= size;
}

"""


def probed() -> list[HookSpec]:
    """The hooks rmt.ko probes, in id order."""
    return sorted((h for h in HOOKS.values() if h.kernel), key=lambda h: h.id)


def _id_macro(h: HookSpec) -> str:
    return f"RMT_HOOK_{h.name.replace('.', '_').upper()}_ID"


def _struct(h: HookSpec, k: KernelSide) -> str:
    doc = {f"{s.label}_size": f"sizeof(struct {s.name})" for s in k.structs}
    for m in k.members:
        w = f", {m.width} bytes" if m.width else ""
        doc[m.field] = (f"struct {k.struct(m.struct).name}: {m.path}{w}"
                        f"{', optional' if m.optional else ''}")
    for c in k.consts:
        what = {"btf-enum": f"BTF enumerator {c.name}", "fixed": "fixed",
                "ksym": f"address of {c.name}", "file": f"read from {c.name}"}[c.source]
        doc[c.field] = f"{what} (default {c.default:#x})"
    doc["pad0"] = "must be 0"
    out = [f"/* {h.name}: the payload of RMT_IOC_HOOK_ATTACH (struct rmt_hook_attach.offsets) */\n",
           f"struct rmt_{k.offsets}_offsets {{\n"]
    for f in k.u32_fields:
        out.append(f"\t/* {doc[f]} */\n\t__u32 {f};\n")
    for f in k.u64_fields:
        out.append(f"\t/* {doc[f]} */\n\t__u64 {f};\n")
    out.append("};\n\n")
    out.append(f"#define RMT_{k.offsets.upper()}_OFFSETS_SIZE {k.size}\n")
    out.append(f"_Static_assert(sizeof(struct rmt_{k.offsets}_offsets) == "
               f"RMT_{k.offsets.upper()}_OFFSETS_SIZE, \"the spec's size (rmtctl packs it)\");\n")
    for st in k.structs:
        if not st.public:
            out.append(f"#define RMT_{k.offsets.upper()}_{st.label.upper()}_MAX {st.max_size}\n")
    out.append("\n")
    return "".join(out)


def _err(fmt: str, *args: str) -> str:
    a = f",\n\t\t\t\t{', '.join(args)}" if args else ""
    return f"\t\treturn rmt_errf(err, len, -EINVAL,\n\t\t\t\t\"{fmt}\"{a});\n"


def _check(k: KernelSide) -> str:
    up = k.offsets.upper()
    out = [f"#ifdef RMT_HOOK_OFFSETS_CHECK_{up}\n",
           f"/**\n * rmt_{k.offsets}_offsets_check() - is a {k.offsets} payload this kernel's?\n"
           f" * @o: the payload\n * @err: out: the first reason it is not\n"
           f" * @len: size of @err\n *\n * Return: 0 or -EINVAL.\n */\n",
           f"static inline int rmt_{k.offsets}_offsets_check(const struct rmt_{k.offsets}_offsets *o,\n"
           f"\t\t\t\t\t\tchar *err, size_t len)\n{{\n"]
    for s in k.structs:
        f = f"{s.label}_size"
        if s.public:
            out.append(f"\tif (o->{f} != sizeof(struct {s.name}))\n")
            out.append(_err(f"{f} = %u but this kernel's {s.name} is %zu bytes: "
                            f"BTF of another kernel?", f"o->{f}", f"sizeof(struct {s.name})"))
        else:
            lo = 0 if s.optional else 1
            cap = f"RMT_{k.offsets.upper()}_{s.label.upper()}_MAX"
            cond = f"o->{f} > {cap}" if s.optional else f"!o->{f} || o->{f} > {cap}"
            out.append(f"\tif ({cond})\n")
            out.append(_err(f"{f} = %u: want {lo}..%u", f"o->{f}", f"{cap}"))
    for m in k.members:
        s = k.struct(m.struct)
        if s.public:
            if m.config:
                out.append(f"#ifdef {m.config}\n")
            out.append(f"\tif (o->{m.field} != offsetof(struct {s.name}, {m.path}))\n")
            out.append(_err(f"{m.field} = %u but this kernel has %zu: BTF of another kernel?",
                            f"o->{m.field}", f"offsetof(struct {s.name}, {m.path})"))
            if m.config and m.optional:
                # built without the option: the member is absent, and so must its offset be
                out.append("#else\n")
                out.append(f"\tif (o->{m.field} != RMT_OFF_NONE)\n")
                out.append(_err(f"{m.field} = %u but this kernel has no {m.path} "
                                f"({m.config} unset)", f"o->{m.field}"))
            if m.config:
                out.append("#endif\n")
            if not m.config:
                continue        # equal to this build's offsetof() in a struct of its size
        w = m.width or 1
        inside = f"rmt_off_ok(o->{m.field}, {w}, o->{s.label}_size)"
        cond = (f"o->{m.field} != RMT_OFF_NONE && !{inside}" if m.optional else f"!{inside}")
        out.append(f"\tif ({cond})\n")
        out.append(_err(f"{m.field} = %u: not inside {s.name} (%u bytes)",
                        f"o->{m.field}", f"o->{s.label}_size"))
    for c in k.consts:
        if c.check:
            out.append(f"\tif (o->{c.field} != ({c.check}))\n")
            out.append(_err(f"{c.field} = %#x, this kernel's is %#x", f"o->{c.field}",
                            f"(unsigned int)({c.check})"))
    if "pad0" in k.u32_fields:
        out.append("\tif (o->pad0)\n")
        out.append(_err("pad0 must be 0"))
    out.append("\treturn 0;\n}\n")
    out.append(f"#endif /* RMT_HOOK_OFFSETS_CHECK_{up} */\n\n")
    return "".join(out)


def render() -> str:
    """The rmt.ko part of vm_kernel/core/rmt_hooks.h (contract/cgen.py appends it): compiled
    only where RMT_KMOD_HOOKS is defined (kmod/rmt_hooks_kern.h, after uapi/rmt_hooks.h), so
    the VM core and the userspace library never see it, and a new hook still changes one
    generated header."""
    hooks = probed()
    out = [_HEAD, "#if defined(RMT_KMOD_HOOKS) && !defined(_RMT_HOOKS_KMOD_PART)\n"
           "#define _RMT_HOOKS_KMOD_PART\n\n"]
    for h in hooks:
        out.append(_struct(h, h.kernel))
    out.append(f"#define RMT_HOOK_OFFSETS_MAX {max(h.kernel.size for h in hooks)}\n\n")
    out.append("/* What struct rmt_hook_bind carries: one hook's payload, as copied in. */\n")
    out.append("union rmt_hook_offsets {\n")
    out.append("".join(f"\tstruct rmt_{h.kernel.offsets}_offsets {h.kernel.offsets};\n"
                       for h in hooks))
    out.append("\t__u8 raw[RMT_HOOK_OFFSETS_MAX];\n};\n\n")
    out.append("/* Every hook rmt.ko probes, each defined by its probe file (rmt_kmod_hook_<name>.c) */\n")
    out.append("struct rmt_hook;\n")
    out.append("".join(f"extern struct rmt_hook rmt_hook_{h.kernel.offsets};\n" for h in hooks))
    out.append("#define RMT_KERNEL_HOOK_LIST { "
               + ", ".join(f"&rmt_hook_{h.kernel.offsets}" for h in hooks) + " }\n\n")
    out.append(_OFF_OK)
    for h in hooks:
        out.append(_check(h.kernel))
    out.append("#endif /* RMT_KMOD_HOOKS */\n")
    return "".join(out)
