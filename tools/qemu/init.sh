#!/bin/busybox sh
# /init of the RMT test guest (PID 1, busybox ash; built into the initramfs by build-initramfs.sh).
#
# 1. mounts proc/sys/dev, loads the Debian kernel's own virtio/9p modules in modules.dep order;
# 2. mounts the host root read-only over 9p (mount tag "hostroot") at /newroot and prepares it as
#    a chroot: guest /proc, /sys (+debugfs, tracefs, bpffs, cgroup2), /dev, and tmpfs on /tmp,
#    /var/tmp, /run, /dev/shm, so host programs (python3, stress-ng, rmtctl) run unchanged;
# 3. mounts the optional read-write share (mount tag "hostout") at its host path inside the chroot,
#    so one path names the same directory on host and guest;
# 4. runs the command in the chroot, then writes output, dmesg and status to the share, prints
#    "RMT-GUEST-EXIT status=N" on the console and powers off.
#
# Parameters (kernel command line; dotted names so the kernel ignores them and does not pass
# them to init as environment; "rmtg" is not a module name, so no module ever receives them):
#   rmtg.out=<host path>    the read-write share; control files in <path>/.rmt-guest/
#                           (script.sh, env.sh in; output.txt, dmesg.txt, status out)
#   rmtg.cmd64=<base64>     a command to run when there is no share (harness CLI fallback)
#   rmtg.cwd=<path>         working directory in the chroot (default /)
#   rmtg.moddir=<path>      host path of the unpacked kernel's /lib/modules/<release>; bind-
#                           mounted at /lib/modules/$(uname -r) in the chroot so modprobe works
#   rmtg.load=a,b           extra module groups to load before the chroot (e.g. zram)
#   rmtg.timeout=<seconds>  guest-side timeout for the command (exit status 124) when there is
#                           no share; with a share the harness creates .rmt-guest/abort instead,
#                           a few seconds before it kills QEMU, so dmesg is still collected
#   rmtg.rootcache=<mode>   9p cache mode of the host root (default loose: it is read-only and
#                           the run is short; "none" if host files change during the run)
#   rmtg.shell=1            interactive bash in the chroot instead of a script (humans)
# Exit statuses besides the command's own: 124 guest timeout, 125 harness/init failure.

/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /run /tmp
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
export HOME=/ TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts

R=/newroot
CTL=
STATUS_EXTRA=

# Clean shutdown: save the kernel log and status to the share (if any), print the end marker
# the harness waits for, power off. Never returns.
finish() {
    rc=$1
    end=$(cut -d' ' -f1 /proc/uptime)
    if [ -n "$CTL" ] && [ -d "$CTL" ]; then
        dmesg > "$CTL/dmesg.txt" 2>/dev/null
        printf 'status=%s\nboot_seconds=%s\nend_seconds=%s\n%s' \
            "$rc" "$BOOT" "$end" "$STATUS_EXTRA" > "$CTL/status"
    fi
    sync
    echo "RMT-GUEST-EXIT status=$rc uptime=$end"
    poweroff -f
    sleep 5
    echo o > /proc/sysrq-trigger
}

fail() {
    echo "RMT-GUEST-ERROR: $*"
    finish 125
}

OUT= CMD64= CWD=/ MODDIR= LOAD= TIMEOUT= ROOTCACHE=loose SHELLMODE=0
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        rmtg.out=*)       OUT=${arg#*=} ;;
        rmtg.cmd64=*)     CMD64=${arg#*=} ;;
        rmtg.cwd=*)       CWD=${arg#*=} ;;
        rmtg.moddir=*)    MODDIR=${arg#*=} ;;
        rmtg.load=*)      LOAD=${arg#*=} ;;
        rmtg.timeout=*)   TIMEOUT=${arg#*=} ;;
        rmtg.rootcache=*) ROOTCACHE=${arg#*=} ;;
        rmtg.shell=*)     SHELLMODE=${arg#*=} ;;
    esac
done

REL=$(uname -r)

# Load one module group (a list written by build-initramfs.sh, dependencies first). A module
# already present in /sys/module (loaded, or built in with parameters) is skipped.
load_group() {
    list=/etc/rmt/$1.modules
    [ -f "$list" ] || fail "unknown module group '$1' (have: $(ls /etc/rmt | sed 's/\.modules//' | tr '\n' ' '))"
    while read -r ko; do
        name=$(basename "$ko" .ko | tr - _)
        [ -d "/sys/module/$name" ] && continue
        insmod "$ko" || fail "insmod $ko failed"
    done < "$list"
}

load_group boot
for g in $(echo "$LOAD" | tr , ' '); do load_group "$g"; done

# --- host root, read-only ---------------------------------------------------------------------
mkdir -p $R
# msize: bigger 9p messages make reads of python/stress-ng binaries much faster than the 8 KiB
# default; the kernel caps it at what the virtio transport allows.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=$ROOTCACHE hostroot $R \
    || fail "cannot mount the host root (9p tag hostroot)"
[ -x $R/bin/sh ] || fail "host root mounted but $R/bin/sh is missing"

mount -t proc proc $R/proc || fail "mount proc in chroot"
mount -t sysfs sysfs $R/sys || fail "mount sysfs in chroot"
mount -o bind /dev $R/dev || fail "bind /dev in chroot"
mount -o bind /dev/pts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
# /tmp: writable, but still showing the host's /tmp (modules or inputs a test prepared there):
# an overlay with the read-only 9p /tmp below and a tmpfs on top. Plain tmpfs if that fails.
mkdir -p /run/tmpov && mount -t tmpfs -o mode=0755 tmpfs /run/tmpov \
    && mkdir -p /run/tmpov/upper /run/tmpov/work && chmod 1777 /run/tmpov/upper
if mount -t overlay -o lowerdir=$R/tmp,upperdir=/run/tmpov/upper,workdir=/run/tmpov/work \
        overlay $R/tmp 2>/dev/null; then
    TMPKIND=overlay
else
    mount -t tmpfs -o mode=1777 tmpfs $R/tmp || fail "tmpfs on /tmp in chroot"
    TMPKIND=tmpfs
fi
mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
mount -t tmpfs -o mode=0755 tmpfs $R/run
# Kernel interfaces the tests use (absence is not fatal: they depend on the config).
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
mount -t bpf bpf $R/sys/fs/bpf 2>/dev/null
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null

# The guest kernel's modules inside the chroot (the host's /lib/modules/<release> holds at most
# the `build` link of the headers package). If the directory does not exist on the read-only
# host root, put a tmpfs over /lib/modules so it can be created.
if [ -n "$MODDIR" ]; then
    [ -d "$R$MODDIR" ] || fail "rmtg.moddir=$MODDIR does not exist on the host root"
    if [ ! -d "$R/lib/modules/$REL" ]; then
        mount -t tmpfs tmpfs $R/lib/modules && mkdir -p "$R/lib/modules/$REL" \
            || fail "cannot create /lib/modules/$REL in chroot"
    fi
    mount -o bind "$R$MODDIR" "$R/lib/modules/$REL" || fail "bind $MODDIR in chroot"
fi

# --- read-write share, mounted at its own host path ---------------------------------------------
if [ -n "$OUT" ]; then
    # The path exists on the host root (harness created it), or lies under a tmpfs mounted above.
    mkdir -p "$R$OUT" 2>/dev/null
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none hostout "$R$OUT" \
        || fail "cannot mount the output share (9p tag hostout) at $OUT"
    CTL=$R$OUT/.rmt-guest
    mkdir -p "$CTL" || fail "output share $OUT is not writable"
fi

# --- the command ----------------------------------------------------------------------------
if [ -n "$CTL" ] && [ -f "$CTL/script.sh" ]; then
    SCRIPT=$OUT/.rmt-guest/script.sh
    ENVFILE=$OUT/.rmt-guest/env.sh
    LOG=$CTL/output.txt
elif [ -n "$CMD64" ]; then
    echo "$CMD64" | base64 -d > $R/tmp/.rmt-cmd.sh || fail "rmtg.cmd64 is not valid base64"
    SCRIPT=/tmp/.rmt-cmd.sh
    ENVFILE=/dev/null
    LOG=/run/rmt-output.txt
elif [ "$SHELLMODE" != 1 ]; then
    fail "nothing to run: no $OUT/.rmt-guest/script.sh and no rmtg.cmd64"
fi

BOOT=$(cut -d' ' -f1 /proc/uptime)
echo "RMT-GUEST-START uptime=$BOOT kernel=$REL tmp=$TMPKIND"

# A clean environment: the host's may name things that do not exist in the guest.
GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ "$SHELLMODE" = 1 ]; then
    # cttyhack gives bash a controlling tty (the serial console), so ^C works.
    setsid cttyhack chroot $R /usr/bin/env -i PATH=$GUEST_PATH HOME=/tmp TERM=linux \
        /bin/bash -c "cd '$CWD' 2>/dev/null; exec /bin/bash -i"
    finish $?
fi

# Output goes to the console (live, for humans) and to $LOG (exact, for the harness) through a
# fifo, so that leftover background processes of the script cannot hold the pipe open.
mkfifo /run/rmt.fifo
tee "$LOG" < /run/rmt.fifo &
TEE=$!
chroot $R /usr/bin/env -i PATH=$GUEST_PATH HOME=/tmp TERM=dumb LANG=C.UTF-8 \
    RMT_GUEST=1 RMT_OUT="$OUT" \
    /bin/bash -c 'if [ -f "$1" ]; then . "$1"; fi; cd "$2" || exit 125; exec /bin/bash "$3"' \
    rmt-guest "$ENVFILE" "$CWD" "$SCRIPT" > /run/rmt.fifo 2>&1 < /dev/null &
CMD=$!
# Watchdog: the harness asks for an abort by creating .rmt-guest/abort in the share a few
# seconds before its own deadline (host wall clock: the guest's clock lags under a loaded TCG
# host, and a slow boot must not be charged twice). rmtg.timeout is the fallback without a share.
if [ -n "$CTL" ] || [ -n "$TIMEOUT" ]; then
    ( t=0
      while [ -d /proc/$CMD ]; do
          if [ -n "$CTL" ] && [ -e "$CTL/abort" ]; then why="the harness asked to abort"; break; fi
          if [ -n "$TIMEOUT" ] && [ $t -ge "$TIMEOUT" ]; then why="rmtg.timeout=${TIMEOUT}s"; break; fi
          sleep 1; t=$((t + 1))
      done
      if [ -d /proc/$CMD ]; then
          echo "RMT-GUEST: command still running, killing it ($why)"
          touch /run/rmt.timedout
          kill -KILL $CMD
      fi ) &
fi
wait $CMD
rc=$?
[ -f /run/rmt.timedout ] && rc=124

# Kill whatever the script left running (user processes only: kernel threads have an empty
# cmdline), except ourselves and tee, then let tee drain the fifo and exit. Repeat until a sweep
# finds nothing: a leftover may fork after the /proc listing was taken.
sweep() {
    n=0
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" = 1 ] || [ "$pid" = "$TEE" ] && continue
        # The `read` builtin, not a command substitution: a fork per process is slow under TCG.
        # (test -s does not work on /proc files: they all report size 0.)
        c=
        read -r c < "$p/cmdline" 2>/dev/null
        [ -n "$c" ] || continue
        kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
    done
    return $((n == 0 ? 0 : 1))
}
i=0
until sweep || [ $i -ge 50 ]; do i=$((i + 1)); sleep 0.1; done
# A survivor still holding the fifo must not hang the run: bound the wait for tee.
( sleep 5; kill -KILL $TEE 2>/dev/null ) &
wait $TEE
finish $rc
