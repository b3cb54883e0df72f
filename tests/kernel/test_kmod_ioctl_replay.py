"""The fuzz_ioctl corpus replayed against the real rmt.ko in Debian's 6.1 kernel under QEMU.

tools/fuzz/fuzz_ioctl.c fuzzes /dev/rmt's ioctl parser in userspace: the module's own
rmt_kmod_dev.c compiled against fake kernel headers, user memory modelled as an arena at a
fixed user address.  Here the committed minimized corpus (tests/fuzz/ioctl_corpus/) and every
regression input (tests/fuzz/regressions/fuzz_ioctl/) run on the real module:

- on the host, fuzz_ioctl.c built as a plain program (`make -C tools/fuzz expect`, gcc)
  records each input's return codes and the digest of its arena at the end;
- in one guest boot (2 vCPUs, as the userspace build models), rmt.ko is inserted and
  tests/kernel/replay_helpers/rmt_ioctl_replay.c issues the same calls as real ioctl() and
  read() system calls on an arena mapped at the same address (read-only last page, unmapped
  guard pages), decoding the inputs with the fuzzer's own decoder (tools/fuzz/fuzz_ioctl.h);
- the return codes and arena digests must be the same input by input (same code, same
  answer), the kernel log clean (no BUG/WARNING/Oops/KASAN), and the module must unload.

What may legitimately differ between the two builds is taken out of the comparison by both
sides alike, in fuzz_ioctl.h: wall-clock load times, the CPU count and hooks ABI that
RMT_IOC_VERSION reports are zeroed after the call; hook commands (not in the userspace build)
are renumbered to unknown commands; command types other than rmt's (the kernel's generic
FIONBIO and co.) are not generated.  CAP_SYS_ADMIN is held on both sides.
Budget: one boot, well under 2 minutes of TCG time for the replay itself.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rmt.qemu import harness

ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).parent / "replay_helpers"
CORPUS = ROOT / "tests" / "fuzz" / "ioctl_corpus"
REGRESSIONS = ROOT / "tests" / "fuzz" / "regressions" / "fuzz_ioctl"
GUEST_CPUS = 2          # fuzz_kernel.h: fuzz_nr_online


def _inputs() -> list[Path]:
    files = [p for d in (CORPUS, REGRESSIONS) if d.is_dir()
             for p in sorted(d.iterdir()) if p.is_file() and p.suffix != ".md"]
    names = [p.name for p in files]
    assert len(set(names)) == len(names), "an input name is both in the corpus and a regression"
    return files


def _parse(text: str) -> tuple[dict[str, str], dict[str, tuple[str, list[int]]]]:
    """Header fields ('# key value ...') and name -> (digest, return codes)."""
    head: dict[str, str] = {}
    rows: dict[str, tuple[str, list[int]]] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            words = line[1:].split()
            head.update(zip(words[::2], words[1::2]))
            continue
        name, digest, n, *rcs = line.split()
        assert int(n) == len(rcs), line
        rows[name] = (digest, [int(x) for x in rcs])
    return head, rows


@pytest.fixture(scope="module")
def replay(qemu_env: harness.HarnessEnv, rmt_ko: Path,
           tmp_path_factory: pytest.TempPathFactory) -> dict:
    inputs = _inputs()
    assert len(inputs) >= 100, f"only {len(inputs)} inputs in {CORPUS} and {REGRESSIONS}"
    work = tmp_path_factory.mktemp("ioctl_replay")
    ko = rmt_ko
    share = work / "share"
    share.mkdir()
    replayer = share / "rmt_ioctl_replay"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-I", str(ROOT / "vm_kernel"),
                    "-I", str(ROOT / "tools" / "fuzz"), "-o", str(replayer),
                    str(HELPERS / "rmt_ioctl_replay.c")], check=True)
    out = work / "fuzzbuild"
    subprocess.run(["make", "-s", "-C", str(ROOT / "tools" / "fuzz"), f"OUT={out}", "expect"],
                   check=True)
    expect = subprocess.run([str(out / "fuzz_ioctl_expect"), *map(str, inputs)],
                            capture_output=True, text=True, check=True, timeout=300).stdout
    listing = share / "inputs.txt"
    listing.write_text("".join(f"{p}\n" for p in inputs))
    r = harness.run_in_guest(
        f"""
        set -e
        insmod {ko}
        test -c /dev/rmt
        start=$(date +%s.%N)
        {replayer} {listing} "$RMT_OUT/replay.txt"
        end=$(date +%s.%N)
        echo "$start $end" > "$RMT_OUT/replay_time.txt"
        rmmod rmt
        test ! -e /dev/rmt
        """,
        timeout=600, cpus=GUEST_CPUS, out_dir=share, cwd=ROOT, harness_env=qemu_env)
    got = share / "replay.txt"
    times = share / "replay_time.txt"
    return {"r": r, "expect": _parse(expect)[1], "inputs": inputs,
            "got": _parse(got.read_text()) if got.exists() else None,
            "seconds": (lambda a, b: float(b) - float(a))(*times.read_text().split())
            if times.exists() else None}


def test_module_replays_the_corpus_and_unloads_cleanly(replay: dict) -> None:
    r = replay["r"]
    r.check()           # exit 0 (insmod, replay, rmmod), no BUG/WARNING/Oops/KASAN in dmesg
    assert "rmt: unloaded" in r.dmesg
    assert replay["got"] is not None
    head, rows = replay["got"]
    assert int(head["nr_cpus"]) == GUEST_CPUS, head
    assert set(rows) == {p.name for p in replay["inputs"]}


def test_return_codes_and_user_memory_match_the_userspace_build(replay: dict) -> None:
    replay["r"].check()
    head, got = replay["got"]
    exp = replay["expect"]
    rc_diff = [n for n in exp if exp[n][1] != got[n][1]]
    mem_diff = [n for n in exp if exp[n][0] != got[n][0] and n not in rc_diff]
    calls = sum(len(v[1]) for v in got.values())
    refused = sum(rc < 0 for v in got.values() for rc in v[1])
    assert int(head["ioctls"]) + int(head["reads"]) == calls
    assert int(head["refused"]) == refused
    print(f"\nioctl replay on rmt.ko: {len(got)} inputs, {head['ioctls']} ioctls and "
          f"{head['reads']} reads ({refused} refused), "
          f"{replay['seconds'] and round(replay['seconds'], 1)} s in the guest")

    def show(name: str) -> str:
        e, g = exp[name][1], got[name][1]
        at = next((i for i, (a, b) in enumerate(zip(e, g)) if a != b), min(len(e), len(g)))
        return f"{name}: call {at}: userspace {e[at:at + 3]} kernel {g[at:at + 3]}"
    assert not rc_diff, f"{len(rc_diff)} inputs return differently:\n" + \
        "\n".join(show(n) for n in rc_diff[:10])
    assert not mem_diff, f"{len(mem_diff)} inputs leave different user memory: {mem_diff[:10]}"
    # The replay really exercised the module: many calls, most of them refused, some not.
    assert calls >= 1000 and 0 < refused < calls
