"""casestudies/kernel_traces.py's command line: bad arguments get a one-line error (no guest
is booted, no traceback), and the NUMA workloads' templates fill from a guest's node lists."""
from __future__ import annotations

import pytest

from rmt.casestudies import kernel_traces as kt


@pytest.mark.parametrize("argv,why", [
    (["--topology", "2by2"], "NODESxCORESxTHREADS"),
    (["--topology", "3x1x1", "--workloads", "nosuch"], "unknown workload"),
    (["--workloads", "numa_cross"], "need --topology with two nodes"),
    (["--topology", "1x4x1", "--workloads", "numa_remote"], "need --topology with two nodes"),
    (["--until-forced", "-1"], "--until-forced"),
    (["--seconds", "0"], "--seconds"),
])
def test_bad_arguments(argv: list[str], why: str, capsys: pytest.CaptureFixture[str],
                       tmp_path) -> None:
    with pytest.raises(SystemExit) as e:
        kt.main(["--out", str(tmp_path), *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err
    assert not (tmp_path / "kbuild").exists()          # nothing was built or booted


def test_numa_templates_fill_from_the_guest_topology() -> None:
    topo = {"ncpu": 8, "nodes": {"node0": "0-3", "node1": "4-7"}}
    v = kt.workload_vars(topo)
    assert v == {"ncpu": "8", "half": "4", "all": "0-7", "n0": "0-3", "n1": "4-7"}
    for name, tmpl in kt.NUMA_WORKLOADS.items():
        cmd = tmpl.format(t=5, **v)
        assert "{" not in cmd.replace("{ for", "").replace("; }", ""), (name, cmd)
        assert "--timeout 5s" in cmd
    assert "taskset -c 0-3 stress-ng --cpu 4" in kt.NUMA_WORKLOADS["numa_pinned"].format(t=5, **v)
