"""The QEMU harness's guest topology (rmt.qemu.harness.Topology): the command line it builds.
The guest side (the kernel sees SMT, MC and NUMA levels) is checked in
tests/kernel/test_kernel_traces.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from rmt.qemu import harness
from rmt.qemu.harness import Topology

ENV = harness.HarnessEnv(kernel_release="6.1.0-x-amd64", vmlinuz=Path("/k/vmlinuz"),
                         modules_dir=Path("/k/mod"), headers_dir=Path("/k/hdr"),
                         initramfs=Path("/k/initrd"), qemu=Path("/usr/bin/qemu-system-x86_64"))


def _cmd(**kw) -> list[str]:
    return harness.build_qemu_command(ENV, memory_mb=kw.pop("memory_mb", 1024),
                                      cpus=kw.pop("cpus", 2), cmdline="console=ttyS0",
                                      out_dir=None, **kw)


def _values(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == flag]


def test_default_is_flat_smp() -> None:
    cmd = _cmd()
    assert _values(cmd, "-smp") == ["2"]
    assert _values(cmd, "-numa") == [] and _values(cmd, "-object") == []
    assert _values(cmd, "-cpu") == ["max"]


def test_two_nodes_smt_mc() -> None:
    t = Topology.parse("2x2x2", distance=21)
    assert t.cpus == 8
    cmd = _cmd(cpus=8, topology=t, memory_mb=1000)
    assert _values(cmd, "-smp") == ["8,sockets=2,cores=2,threads=2"]
    assert _values(cmd, "-object") == ["memory-backend-ram,id=rmtmem0,size=500M",
                                       "memory-backend-ram,id=rmtmem1,size=500M"]
    assert _values(cmd, "-numa") == [
        "node,nodeid=0,memdev=rmtmem0", "node,nodeid=1,memdev=rmtmem1",
        "cpu,node-id=0,socket-id=0", "cpu,node-id=1,socket-id=1",
        "dist,src=0,dst=1,val=21"]
    # SMT siblings are only visible to a 6.1 guest with the Intel vendor string under TCG
    assert _values(cmd, "-cpu") == ["max,vendor=GenuineIntel"]
    assert _values(cmd, "-m") == ["1000"]


def test_uneven_memory_and_sockets_per_node() -> None:
    t = Topology(sockets=4, cores=1, threads=1, nodes=2, node_mem_mb=(300, 724), distance=30)
    cmd = _cmd(cpus=4, topology=t)
    assert _values(cmd, "-cpu") == ["max"]          # no SMT: the model is left alone
    numa = _values(cmd, "-numa")
    assert "cpu,node-id=0,socket-id=1" in numa and "cpu,node-id=1,socket-id=2" in numa
    assert "memory-backend-ram,id=rmtmem1,size=724M" in _values(cmd, "-object")
    assert Topology.parse("1x4x1").nodes == 0                 # one node: no -numa options
    assert _values(_cmd(cpus=4, topology=Topology.parse("1x4x1")), "-numa") == []


def test_odd_split_gives_the_remainder_to_the_last_node() -> None:
    assert Topology.parse("3x1x1").node_sizes(1000) == [333, 333, 334]


@pytest.mark.parametrize("spec,kw,why", [
    ("2x2", {}, "expected NODESxCORESxTHREADS"),
    ("0x2x2", {}, "sockets must be >= 1"),
    ("2x2x2", {"distance": 10}, "remote distance"),
])
def test_bad_specs(spec: str, kw: dict, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Topology.parse(spec, **kw)


def test_bad_layouts() -> None:
    with pytest.raises(ValueError, match="split evenly"):
        Topology(sockets=3, nodes=2)
    with pytest.raises(ValueError, match="2 nodes"):
        Topology(sockets=2, nodes=2, node_mem_mb=(512,))
    with pytest.raises(ValueError, match="add up"):
        _cmd(cpus=2, topology=Topology(sockets=2, nodes=2, node_mem_mb=(100, 100)))
    with pytest.raises(ValueError, match="does not have 4 vCPUs"):
        _cmd(cpus=4, topology=Topology.parse("2x1x1"))


def test_cli_rejects_a_bad_topology(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        harness.main(["--cmd", "true", "--topology", "2by2"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "NODESxCORESxTHREADS" in err and "Traceback" not in err
