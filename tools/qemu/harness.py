#!/usr/bin/env python3
"""Run shell scripts inside a QEMU guest that boots Debian 12's own kernel (stdlib only).

The guest (see tools/qemu/init.sh) boots the kernel that `tools/qemu/setup.sh` unpacked from
Debian's `linux-image-amd64` dependency, mounts the host's root read-only over 9p, and runs the
script in a chroot of it, so host programs (python3, stress-ng, rmtctl, insmod of a module built
on the host) run unchanged against the 6.1 kernel. A second, read-write 9p share (``out_dir``) is
mounted in the guest at the same path as on the host: files the script writes there (JSON
results, traces, /sys/kernel/btf/vmlinux copies) are readable on the host afterwards. The
script's environment has ``RMT_OUT`` set to that path and ``RMT_GUEST=1``.

From Python::

    from rmt.qemu.harness import run_in_guest
    r = run_in_guest("python3 -c 'print(6*7)'", timeout=120)
    assert r.exit_status == 0 and "42" in r.output
    r.kernel_problems()                       # BUG:/WARNING:/Oops/RCU stall lines in dmesg

From a shell::

    python3 tools/qemu/harness.py --cmd 'uname -r; cat /proc/version'
    python3 tools/qemu/harness.py --shell     # interactive bash in the guest chroot

Exit statuses besides the script's own: 124 the guest-side timeout fired, 125 the guest's init
failed (message on the console), None (no end marker) QEMU was killed or the kernel died.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / "build" / "qemu"
SETUP_SCRIPT = Path(__file__).resolve().parent / "setup.sh"
CTL_DIR = ".rmt-guest"  # control subdirectory of the output share (see init.sh)
EXIT_MARKER = re.compile(r"RMT-GUEST-EXIT status=(\d+)")
START_MARKER = re.compile(r"RMT-GUEST-START uptime=([0-9.]+)")

# dmesg lines that mean the kernel is unhappy. Module-signature taint messages are expected
# (rmt.ko is unsigned) and are not listed.
KERNEL_PROBLEM = re.compile(
    r"BUG:|WARNING:|Oops|detected stall|self-detected stall|Kernel panic|"
    r"general protection fault|INFO: task .* blocked for more than|UBSAN:|KASAN:|"
    r"kernel BUG at|unable to handle"
)

# A path goes on the kernel command line (space-separated) and into -virtfs (comma-separated).
_SAFE_PATH = re.compile(r"^/[^\s,]*$")


class HarnessNotReady(RuntimeError):
    """tools/qemu/setup.sh has not been run (or its output is incomplete)."""


class GuestError(AssertionError):
    """Raised by GuestResult.check() when the guest run failed."""


@dataclass(frozen=True)
class HarnessEnv:
    """Paths resolved by setup.sh (read from <cache>/env.json)."""

    kernel_release: str
    vmlinuz: Path
    modules_dir: Path
    headers_dir: Path
    initramfs: Path
    qemu: Path
    image_package: str = ""
    image_version: str = ""
    system_map: Path | None = None
    config: Path | None = None

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> "HarnessEnv":
        cache = Path(cache_dir or os.environ.get("RMT_QEMU_CACHE") or DEFAULT_CACHE)
        env_file = cache / "env.json"
        if not env_file.is_file():
            raise HarnessNotReady(f"{env_file} not found: run `sudo {SETUP_SCRIPT}` first")
        raw = json.loads(env_file.read_text())
        try:
            env = cls(
                kernel_release=raw["kernel_release"],
                vmlinuz=Path(raw["vmlinuz"]),
                modules_dir=Path(raw["modules_dir"]),
                headers_dir=Path(raw["headers_dir"]),
                initramfs=Path(raw["initramfs"]),
                qemu=Path(raw["qemu"]),
                image_package=raw.get("image_package", ""),
                image_version=raw.get("image_version", ""),
                system_map=Path(raw["system_map"]) if raw.get("system_map") else None,
                config=Path(raw["config"]) if raw.get("config") else None,
            )
        except KeyError as e:
            raise HarnessNotReady(f"{env_file} lacks {e}: re-run {SETUP_SCRIPT}") from None
        for p in (env.vmlinuz, env.initramfs, env.qemu, env.modules_dir, env.headers_dir):
            if not p.exists():
                raise HarnessNotReady(f"{p} (from {env_file}) is missing: re-run {SETUP_SCRIPT}")
        return env


@dataclass
class GuestResult:
    """What one guest run produced."""

    output: str  # the script's stdout+stderr, exactly (from the share)
    console: str  # the whole serial console: kernel messages at loglevel<=4, markers, output
    exit_status: int | None  # None: no end marker (QEMU killed on timeout, or the kernel died)
    dmesg: str  # full kernel log at the end of the run ("" if the guest never got there)
    duration: float  # wall-clock seconds from starting QEMU to its exit
    boot_seconds: float | None  # guest uptime when the script started (boot cost)
    timed_out: bool  # the host-side timeout killed QEMU, or the guest-side one fired
    out_dir: Path  # the read-write share; the script's files are here
    command: list[str] = field(default_factory=list)  # the QEMU command line

    def kernel_problems(self) -> list[str]:
        """Kernel log lines showing BUG/WARNING/Oops/RCU stalls/panics (console if no dmesg)."""
        text = self.dmesg or self.console
        return [line for line in text.splitlines() if KERNEL_PROBLEM.search(line)]

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out and not self.kernel_problems()

    def check(self) -> "GuestResult":
        """Raise GuestError with the useful part of the log unless the run was clean."""
        if self.ok:
            return self
        why = []
        if self.timed_out:
            why.append("timed out")
        if self.exit_status != 0:
            why.append(f"exit status {self.exit_status}")
        problems = self.kernel_problems()
        if problems:
            why.append("kernel problems:\n  " + "\n  ".join(problems[:20]))
        tail = "\n".join(self.console.splitlines()[-40:])
        raise GuestError(f"guest run failed ({'; '.join(why)})\n--- console tail ---\n{tail}")


# ---------------------------------------------------------------- guest topology
# The guest's CPU and NUMA layout.
#
# QEMU under TCG emulates any `-smp sockets=S,cores=C,threads=T` layout and any NUMA layout
# (`-numa node` per memory backend, `-numa cpu` to place each socket, `-numa dist` for the
# SLIT distances), and the guest kernel builds its scheduling domains from them: SMT when
# T > 1, MC when C > 1, NUMA when there are two nodes or more. Here every socket belongs to
# exactly one node (``sockets`` must be a multiple of ``nodes``), and the guest's memory is
# split evenly over the nodes unless ``node_mem_mb`` says otherwise.
#
#     Topology.parse("2x2x2")          # 2 sockets (= 2 nodes) x 2 cores x 2 threads: 8 vCPUs
#     Topology.parse("2x2x1", distance=30)

LOCAL_DISTANCE = 10          # the ACPI SLIT value of a node to itself
_TOPO_SPEC = re.compile(r"^(\d+)x(\d+)x(\d+)$")


@dataclass(frozen=True)
class Topology:
    """sockets x cores x threads vCPUs over ``nodes`` NUMA nodes (0: no NUMA options)."""

    sockets: int = 1
    cores: int = 1
    threads: int = 1
    nodes: int = 0
    node_mem_mb: tuple[int, ...] = ()     # per node; () = the guest's memory split evenly
    distance: int = 20                    # between any two distinct nodes

    def __post_init__(self) -> None:
        for name in ("sockets", "cores", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"topology: {name} must be >= 1, not {getattr(self, name)}")
        if self.nodes < 0:
            raise ValueError(f"topology: nodes must be >= 0, not {self.nodes}")
        if self.nodes and self.sockets % self.nodes:
            raise ValueError(f"topology: {self.sockets} sockets cannot be split evenly over "
                             f"{self.nodes} nodes (each socket belongs to one node)")
        if self.node_mem_mb and len(self.node_mem_mb) != self.nodes:
            raise ValueError(f"topology: node_mem_mb has {len(self.node_mem_mb)} sizes for "
                             f"{self.nodes} nodes")
        if any(m < 1 for m in self.node_mem_mb):
            raise ValueError(f"topology: node memory sizes must be >= 1 MiB: {self.node_mem_mb}")
        if not LOCAL_DISTANCE < self.distance <= 255:
            raise ValueError(f"topology: the remote distance must be in "
                             f"{LOCAL_DISTANCE + 1}..255, not {self.distance}")

    @classmethod
    def parse(cls, spec: str, *, distance: int = 20) -> "Topology":
        """``NODESxCORESxTHREADS``: one socket per node (``1xCxT`` is a single node, no
        NUMA options). Raises ValueError with the reason on a malformed spec."""
        m = _TOPO_SPEC.match(spec.strip())
        if not m:
            raise ValueError(f"topology {spec!r}: expected NODESxCORESxTHREADS, e.g. 2x2x2")
        n, c, t = (int(g) for g in m.groups())
        return cls(sockets=n, cores=c, threads=t, nodes=n if n > 1 else 0, distance=distance)

    @property
    def cpus(self) -> int:
        return self.sockets * self.cores * self.threads

    def node_sizes(self, memory_mb: int) -> list[int]:
        """MiB per node; the even split gives the remainder to the last node."""
        if self.node_mem_mb:
            if sum(self.node_mem_mb) != memory_mb:
                raise ValueError(f"topology: node memory {list(self.node_mem_mb)} MiB does not "
                                 f"add up to the guest's {memory_mb} MiB")
            return list(self.node_mem_mb)
        each = memory_mb // self.nodes
        if each < 1:
            raise ValueError(f"topology: {memory_mb} MiB is too little for {self.nodes} nodes")
        return [each] * (self.nodes - 1) + [memory_mb - each * (self.nodes - 1)]

    def qemu_args(self, memory_mb: int) -> list[str]:
        """The -smp and (with nodes) -object/-numa arguments for this layout."""
        args = ["-smp", f"{self.cpus},sockets={self.sockets},cores={self.cores},"
                        f"threads={self.threads}"]
        if not self.nodes:
            return args
        per_node = self.sockets // self.nodes
        for i, mb in enumerate(self.node_sizes(memory_mb)):
            args += ["-object", f"memory-backend-ram,id=rmtmem{i},size={mb}M",
                     "-numa", f"node,nodeid={i},memdev=rmtmem{i}"]
        for s in range(self.sockets):
            args += ["-numa", f"cpu,node-id={s // per_node},socket-id={s}"]
        for a in range(self.nodes):
            for b in range(a + 1, self.nodes):
                args += ["-numa", f"dist,src={a},dst={b},val={self.distance}"]
        return args

    def cpu_model(self, base: str) -> str:
        """The -cpu model that shows the guest its SMT siblings. TCG's ``max`` CPU says
        AuthenticAMD, and a 6.1 guest reads AMD thread siblings only from the topoext leaves
        TCG lacks, so it sees ``threads=2`` as 1 thread per core (no SMT sched domain).
        With the Intel vendor string it reads leaf 0xB and builds SMT, MC and NUMA domains.
        Other models are left as the caller chose them."""
        if self.threads > 1 and base == "max":
            return "max,vendor=GenuineIntel"
        return base

    def describe(self) -> str:
        numa = f", {self.nodes} nodes (distance {self.distance})" if self.nodes else ""
        return f"{self.sockets}x{self.cores}x{self.threads} = {self.cpus} vCPUs{numa}"


def _check_path(p: Path, what: str) -> str:
    s = str(p)
    if not _SAFE_PATH.match(s):
        raise ValueError(f"{what} {s!r} must be absolute and contain no whitespace or commas "
                         "(it goes on the kernel command line and into -virtfs)")
    return s


def _default_env() -> dict[str, str]:
    # Put the running interpreter first on PATH so `python3` in the guest is the same Python
    # (and sees the same installed packages) as the host process that started the guest.
    bindir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bindir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",  # the host root is read-only in the guest
    }


def build_qemu_command(env: HarnessEnv, *, memory_mb: int, cpus: int, cmdline: str,
                       out_dir: Path | None, interactive: bool = False,
                       cpu_model: str = "max",
                       extra_qemu_args: Sequence[str] = (),
                       topology: Topology | None = None) -> list[str]:
    """The QEMU command line. ``topology`` (sockets/cores/threads, NUMA nodes with their
    memory and distances; rmt.qemu.topology) replaces the flat ``-smp cpus``; its vCPU count
    must then equal ``cpus``."""
    if topology is not None and topology.cpus != cpus:
        raise ValueError(f"topology {topology.describe()} does not have {cpus} vCPUs")
    smp = topology.qemu_args(memory_mb) if topology is not None else ["-smp", str(cpus)]
    if topology is not None:
        cpu_model = topology.cpu_model(cpu_model)
    cmd = [
        str(env.qemu),
        # KVM guests hang on these machines; TCG works. thread=multi: one host thread per vCPU.
        "-accel", "tcg,thread=multi",
        "-machine", "pc",
        "-cpu", cpu_model,
        *smp,
        "-m", str(memory_mb),
        "-nodefaults", "-no-user-config",  # no NIC/VGA/CD-ROM: less to emulate, faster boot
        "-display", "none",
        "-serial", "mon:stdio" if interactive else "stdio",
        "-no-reboot",  # kernel panic (panic=-1) or power-off ends QEMU
        "-kernel", str(env.vmlinuz),
        "-initrd", str(env.initramfs),
        "-append", cmdline,
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,"
                   "multidevs=remap",
        "-device", "virtio-rng-pci",  # entropy: crng is ready before the script starts
    ]
    if out_dir is not None:
        cmd += ["-virtfs", f"local,path={_check_path(out_dir, 'out_dir')},mount_tag=hostout,"
                           "security_model=none,multidevs=remap"]
    cmd += list(extra_qemu_args)
    return cmd


def build_cmdline(env: HarnessEnv, *, out_dir: Path | None, cwd: Path, guest_timeout: float | None,
                  load: Sequence[str], cmd64: str | None = None, shell: bool = False,
                  root_cache: str = "loose", extra_cmdline: Sequence[str] = ()) -> str:
    parts = [
        "console=ttyS0",
        "panic=-1",  # reboot at once on panic -> QEMU exits (-no-reboot)
        "loglevel=4",  # only warnings and worse on the console; dmesg.txt has everything
        # Under TCG on a loaded host the IO-APIC timer check can miss its window and panic
        # ("IO-APIC + timer doesn't work"); virtual machines skip it, as cloud images do.
        "no_timer_check",
        "rmtg.moddir=" + _check_path(env.modules_dir, "modules_dir"),
        "rmtg.cwd=" + _check_path(cwd, "cwd"),
        "rmtg.rootcache=" + root_cache,
    ]
    if out_dir is not None:
        parts.append("rmtg.out=" + _check_path(out_dir, "out_dir"))
    if guest_timeout is not None:
        parts.append(f"rmtg.timeout={max(1, int(guest_timeout))}")
    if load:
        parts.append("rmtg.load=" + ",".join(load))
    if cmd64:
        parts.append("rmtg.cmd64=" + cmd64)
    if shell:
        parts.append("rmtg.shell=1")
    # RMT_GUEST_BPF_JIT=0 (`make test-kernel-nojit`): the kernel's BPF JIT off from boot, so
    # rmt.ko runs every program on its interpreter (vm_kernel/kmod/rmt_kmod_jit.c).
    if os.environ.get("RMT_GUEST_BPF_JIT") == "0":
        parts.append("sysctl.net.core.bpf_jit_enable=0")
    parts += list(extra_cmdline)
    return " ".join(parts)


def run_in_guest(script: str, *, timeout: float = 120.0, memory_mb: int = 1024, cpus: int = 2,
                 out_dir: Path | str | None = None, env: Mapping[str, str] | None = None,
                 cwd: Path | str | None = None, load_modules: Sequence[str] = (),
                 extra_files: Mapping[str, str | bytes] | None = None,
                 extra_cmdline: Sequence[str] = (), extra_qemu_args: Sequence[str] = (),
                 disk_mb: int | None = None, extra_disks_mb: Sequence[int] = (),
                 cpu_model: str = "max", root_cache: str = "loose",
                 console_stream: IO[str] | None = None,
                 harness_env: HarnessEnv | None = None,
                 topology: Topology | None = None) -> GuestResult:
    """Boot the guest, run ``script`` (bash) in the host-root chroot, return the result.

    timeout: wall-clock seconds for the whole run including boot (QEMU is killed after it); the
        guest kills the script a little earlier (status 124) so that dmesg is still collected.
    out_dir: the read-write share (created if missing; a fresh temp dir if None, left in place
        for the caller). Its path is the same in the guest and is exported as $RMT_OUT.
    env: extra environment for the script (on top of PATH with this Python first).
    cwd: working directory of the script (default: this process's cwd; must exist on the host).
    load_modules: initramfs module groups to load before the chroot, e.g. ("zram",). Inside the
        chroot `modprobe <any module of the guest kernel>` also works.
    extra_files: name -> content written into out_dir before boot (e.g. inputs for the script).
    disk_mb: attach a sparse scratch disk of this size as virtio-blk /dev/vda (e.g. for swap on
        a block device: zram swap-ins skip readahead, see docs/kernel-harness.md). It lives in
        out_dir/.rmt-guest/disk.img and is deleted after the run.
    extra_disks_mb: more sparse scratch virtio-blk disks after it (/dev/vdb, /dev/vdc, ...;
        needs disk_mb), e.g. swap on one and a workload's files on another; deleted likewise.
    console_stream: where to echo the console live (e.g. sys.stdout), besides capturing it.
    topology: sockets/cores/threads and NUMA nodes (rmt.qemu.topology.Topology); its vCPU
        count overrides ``cpus``. None: ``-smp cpus``, one node.
    """
    if topology is not None:
        cpus = topology.cpus
    henv = harness_env or HarnessEnv.load()
    if out_dir is None:
        out = Path(tempfile.mkdtemp(prefix="rmt-guest-"))
    else:
        out = Path(out_dir).resolve()
        out.mkdir(parents=True, exist_ok=True)
    ctl = out / CTL_DIR
    if ctl.exists():
        shutil.rmtree(ctl)  # stale status/output of an earlier run must not be mistaken for ours
    ctl.mkdir()
    (ctl / "script.sh").write_text(script if script.endswith("\n") else script + "\n")
    merged = _default_env()
    merged.update(env or {})
    (ctl / "env.sh").write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in merged.items()))
    for name, content in (extra_files or {}).items():
        dst = out / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            dst.write_bytes(content)
        else:
            dst.write_text(content)

    load = list(load_modules)
    qemu_extra = list(extra_qemu_args)
    disk = ctl / "disk.img"
    if disk_mb:
        with open(disk, "wb") as f:
            f.truncate(disk_mb * 1024 * 1024)
        # cache=unsafe: the disk is scratch; never wait for the host to flush it.
        qemu_extra += ["-drive", f"file={_check_path(disk, 'disk')},if=virtio,format=raw,"
                                 "cache=unsafe,discard=unmap"]
        if "blk" not in load:
            load.append("blk")
    elif extra_disks_mb:
        raise ValueError("extra_disks_mb needs disk_mb (the first disk is /dev/vda)")
    extra_disks = [ctl / f"disk{i + 1}.img" for i in range(len(extra_disks_mb))]
    for path, mb in zip(extra_disks, extra_disks_mb):
        with open(path, "wb") as f:
            f.truncate(mb * 1024 * 1024)
        qemu_extra += ["-drive", f"file={_check_path(path, 'disk')},if=virtio,format=raw,"
                                 "cache=unsafe,discard=unmap"]

    # At (timeout - margin) the harness creates .rmt-guest/abort; the guest kills the script
    # (status 124), then has `margin` seconds to save dmesg and power off before QEMU is killed.
    margin = min(20.0, max(8.0, timeout * 0.15))
    cmdline = build_cmdline(henv, out_dir=out, cwd=Path(cwd or os.getcwd()).resolve(),
                            guest_timeout=None, load=load,
                            root_cache=root_cache, extra_cmdline=extra_cmdline)
    cmd = build_qemu_command(henv, memory_mb=memory_mb, cpus=cpus, cmdline=cmdline,
                             out_dir=out, cpu_model=cpu_model, extra_qemu_args=qemu_extra,
                             topology=topology)

    try:
        console, killed, duration = _run_qemu(cmd, timeout, console_stream,
                                              abort_file=ctl / "abort", abort_after=timeout - margin)
    finally:
        disk.unlink(missing_ok=True)
        for path in extra_disks:
            path.unlink(missing_ok=True)

    def read(name: str) -> str:
        p = ctl / name
        return p.read_text(errors="replace") if p.exists() else ""

    status: dict[str, str] = {}
    for line in read("status").splitlines():
        k, _, v = line.partition("=")
        status[k.strip()] = v.strip()
    exit_status: int | None = None
    if "status" in status:
        exit_status = int(status["status"])
    else:
        m = EXIT_MARKER.search(console)
        if m:
            exit_status = int(m.group(1))
    boot: float | None = None
    if "boot_seconds" in status:
        boot = float(status["boot_seconds"])
    else:
        m = START_MARKER.search(console)
        boot = float(m.group(1)) if m else None
    return GuestResult(
        output=read("output.txt"),
        console=console,
        exit_status=exit_status,
        dmesg=read("dmesg.txt"),
        duration=duration,
        boot_seconds=boot,
        timed_out=killed or exit_status == 124,
        out_dir=out,
        command=cmd,
    )


def _run_qemu(cmd: list[str], timeout: float, stream: IO[str] | None, *,
              abort_file: Path | None = None,
              abort_after: float | None = None) -> tuple[str, bool, float]:
    """Run QEMU capturing its console; kill it after ``timeout`` s. -> (console, killed, secs).

    If ``abort_file`` is given it is created after ``abort_after`` s: the guest's init polls for
    it and stops the script cleanly (collecting dmesg) before the hard kill."""
    chunks: list[str] = []
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None

    def pump() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            # The serial console emits \r\n; keep plain \n.
            line = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "")
            chunks.append(line)
            if stream is not None and not line.endswith("\n"):
                line += "\n"  # last line before power-off has no newline
            if stream is not None:
                stream.write(line)
                stream.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    killed = False
    try:
        if abort_file is not None and abort_after is not None and abort_after > 0:
            try:
                proc.wait(timeout=abort_after)
            except subprocess.TimeoutExpired:
                abort_file.touch()
        proc.wait(timeout=max(0.0, timeout - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        killed = True
        _kill(proc)
    except BaseException:  # KeyboardInterrupt: never leave a QEMU behind
        _kill(proc)
        raise
    reader.join(timeout=5)
    duration = time.monotonic() - start
    console = "".join(chunks)
    if console and not console.endswith("\n"):
        console += "\n"
    if killed:
        console += f"\n[harness] QEMU killed after {timeout:.0f} s timeout\n"
    elif proc.returncode not in (0, None) and not EXIT_MARKER.search(console):
        console += f"\n[harness] QEMU exited with status {proc.returncode}\n"
    return console, killed, duration


def _kill(proc: subprocess.Popen[bytes]) -> None:
    # QEMU runs in its own session (start_new_session); only that process group is signalled.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


KBUILD_OUTPUTS = ("*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "*.d", "modules.order",
                  "Module.symvers", ".tmp_versions")


def build_module(src_dir: Path | str, build_dir: Path | str, *,
                 harness_env: HarnessEnv | None = None, timeout: float = 300.0,
                 make_vars: Sequence[str] = ()) -> list[Path]:
    """Build an out-of-tree module (a Kbuild dir) against the guest kernel's headers.

    The sources are copied to ``build_dir`` first so the source tree stays clean. Returns the
    built .ko files. Raises RuntimeError with the compiler output on failure.
    """
    henv = harness_env or HarnessEnv.load()
    src, dst = Path(src_dir).resolve(), Path(build_dir).resolve()
    # the whole tree (rmt.ko includes uapi/), without another build's artefacts
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*KBUILD_OUTPUTS))
    proc = subprocess.run(["make", "-C", str(henv.headers_dir), f"M={dst}", *make_vars,
                           "modules"],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"building {src} against {henv.headers_dir} failed:\n"
                           f"{proc.stdout}\n{proc.stderr}")
    return sorted(dst.glob("*.ko"))


def build_rmt_ko(build_dir: Path | str, *, harness_env: HarnessEnv | None = None,
                 timeout: float = 600.0, test_build: bool = False) -> Path:
    """rmt.ko from a clean copy of the repo's vm_kernel/ (uapi/ included) against the guest
    kernel's headers; every kernel test and tool builds it this way. `test_build` compiles
    in the allocation fault injector (RMT_TEST_BUILD=y: the fail_alloc_* parameters), which
    a production module does not have. Raises RuntimeError with the compiler output on
    failure."""
    dst = Path(build_dir).resolve()
    if dst.exists():
        shutil.rmtree(dst)
    build_module(REPO_ROOT / "vm_kernel", dst, harness_env=harness_env, timeout=timeout,
                 make_vars=["RMT_TEST_BUILD=y"] if test_build else [])
    return dst / "rmt.ko"


def run_shell(*, memory_mb: int = 1024, cpus: int = 2, cwd: Path | str | None = None,
              load_modules: Sequence[str] = (), out_dir: Path | str | None = None,
              topology: Topology | None = None) -> int:
    """Interactive bash in the guest chroot on this terminal (Ctrl-A X quits QEMU)."""
    henv = HarnessEnv.load()
    out = Path(out_dir).resolve() if out_dir else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    cmdline = build_cmdline(henv, out_dir=out, cwd=Path(cwd or os.getcwd()).resolve(),
                            guest_timeout=None, load=load_modules, shell=True)
    cpus = topology.cpus if topology is not None else cpus
    cmd = build_qemu_command(henv, memory_mb=memory_mb, cpus=cpus, cmdline=cmdline,
                             out_dir=out, interactive=True, topology=topology)
    return subprocess.call(cmd)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--cmd", help="bash command(s) to run in the guest chroot")
    what.add_argument("--script", type=Path, help="bash script file to run in the guest chroot")
    what.add_argument("--shell", action="store_true", help="interactive bash in the guest")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds, boot included (300)")
    ap.add_argument("-m", "--memory", type=int, default=1024, help="guest RAM in MiB (1024)")
    ap.add_argument("--cpus", type=int, default=2, help="guest vCPUs (2)")
    ap.add_argument("--topology", help="NODESxCORESxTHREADS, e.g. 2x2x2: one socket per node "
                                       "(overrides --cpus)")
    ap.add_argument("--numa-distance", type=int, default=20,
                    help="SLIT distance between nodes (20)")
    ap.add_argument("--out", type=Path, help="read-write share (default: a new temp dir)")
    ap.add_argument("--load", action="append", default=[], help="module group, e.g. zram")
    ap.add_argument("--disk-mb", type=int, help="scratch virtio-blk disk /dev/vda of this size")
    ap.add_argument("--append", action="append", default=[], help="extra kernel cmdline arg")
    ap.add_argument("-q", "--quiet", action="store_true",
                    help="print only the script's output at the end, not the live console")
    ap.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    args = ap.parse_args(argv)
    try:
        topo = (Topology.parse(args.topology, distance=args.numa_distance)
                if args.topology else None)
    except ValueError as e:
        ap.error(str(e))
    try:
        if args.shell:
            return run_shell(memory_mb=args.memory, cpus=args.cpus, load_modules=args.load,
                             out_dir=args.out, topology=topo)
        script = args.cmd if args.cmd is not None else args.script.read_text()
        r = run_in_guest(script, timeout=args.timeout, memory_mb=args.memory, cpus=args.cpus,
                         out_dir=args.out, load_modules=args.load, extra_cmdline=args.append,
                         disk_mb=args.disk_mb, topology=topo,
                         console_stream=None if args.quiet else sys.stdout)
    except (HarnessNotReady, ValueError) as e:
        print(f"harness.py: error: {e}", file=sys.stderr)
        return 125
    if args.quiet:
        sys.stdout.write(r.output)
    problems = r.kernel_problems()
    summary = {
        "exit_status": r.exit_status, "timed_out": r.timed_out,
        "duration_s": round(r.duration, 2), "boot_s": r.boot_seconds,
        "out_dir": str(r.out_dir), "kernel_problems": problems,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"[harness] exit={r.exit_status} duration={r.duration:.1f}s boot={r.boot_seconds}s "
              f"out={r.out_dir} kernel_problems={len(problems)}",
              file=sys.stderr)
    if r.exit_status is None:
        return 125
    return r.exit_status


if __name__ == "__main__":
    sys.exit(main())
