"""The QEMU harness itself: Debian's 6.1 kernel boots, the host-root chroot runs host programs,
the read-write share round-trips files, and a module built against the Debian headers can
kretprobe can_migrate_task under load without upsetting the kernel. ~30-40 s under TCG."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from rmt.qemu import harness

SMOKE_MODULES = Path(__file__).parent / "fixtures" / "smoke_modules"


def test_chroot_runs_host_python_and_share_round_trips(
        run_guest: Callable[..., harness.GuestResult], qemu_env: harness.HarnessEnv) -> None:
    r = run_guest(
        r"""
        set -e
        python3 -c 'print(6*7)'
        cat "$RMT_OUT/from_host.txt"
        uname -r > "$RMT_OUT/uname.txt"
        echo written-in-guest > "$RMT_OUT/sub/from_guest.txt"
        touch /tmp/writable && test ! -w /usr/bin/python3 -o ! -e /usr/bin/python3
        """,
        timeout=90,
        extra_files={"from_host.txt": "hello from the host\n", "sub/.keep": ""},
    )
    r.check()
    assert "42" in r.output.split()
    assert "hello from the host" in r.output
    assert (r.out_dir / "sub" / "from_guest.txt").read_text() == "written-in-guest\n"
    assert (r.out_dir / "uname.txt").read_text().strip() == qemu_env.kernel_release
    assert r.boot_seconds is not None and r.boot_seconds > 0
    assert "Linux version" in r.dmesg


def test_exit_status_propagates(run_guest: Callable[..., harness.GuestResult]) -> None:
    r = run_guest("echo before; exit 3", timeout=60)
    assert r.exit_status == 3 and not r.timed_out
    assert "before" in r.output


def test_kretprobe_on_can_migrate_task_under_load(
        run_guest: Callable[..., harness.GuestResult],
        build_kmod: Callable[[Path], list[Path]]) -> None:
    mods = {m.stem: m for m in build_kmod(SMOKE_MODULES)}
    ko = mods["rmt_smoke_kretprobe"]
    r = run_guest(
        f"""
        set -e
        cd /tmp
        insmod {ko} symbols=can_migrate_task
        # 3 CPU hogs on 2 vCPUs keep the load balancer migrating tasks.
        stress-ng --cpu 3 --timeout 6s --quiet
        cat /sys/module/rmt_smoke_kretprobe/parameters/counts > "$RMT_OUT/counts.txt"
        rmmod rmt_smoke_kretprobe
        """,
        timeout=120,
    )
    r.check()  # exit 0, and no BUG/WARNING/Oops/RCU stall in dmesg
    counts = (r.out_dir / "counts.txt").read_text()
    m = re.search(r"can_migrate_task hits=(\d+) ret_nonzero=(\d+) ret_zero=(\d+)", counts)
    assert m, counts
    hits, nonzero, zero = map(int, m.groups())
    assert hits > 0, f"no can_migrate_task calls under stress-ng: {counts}"
    assert nonzero + zero <= hits
    assert "rmt_smoke_kretprobe: kretprobe on can_migrate_task" in r.dmesg
