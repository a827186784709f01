#!/usr/bin/env bash
# scripts/kernels/guest.sh OUT KDIR TIMESCALE HARNESS_PYTHON: runs INSIDE a virtme-ng guest, as root, in the checkout.
# The host's root fs is read-only 9p here with tmpfs/overlays on top; OUT is a host directory shared
# read-write (--rwdir), where every step leaves its output and steps.tsv its name, exit code and time.
set -u
out=$1 kdir=$2 timescale=${3:-1} harness_py=${4:-python3}
rel=$(uname -r)
cd "$(dirname "$0")/../.."
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CI=true EBPFTOP_TEST_TIMESCALE=$timescale PATH=/usr/sbin:/usr/bin:/sbin:/bin
py=.venv/bin/python
: > "$out/steps.tsv"

# This kernel's modules (veth, sch_*, ...) and its real headers: virtme leaves /lib/modules/<rel> a
# dangling link on a tmpfs; put the unpacked tree there so modprobe and bcc (build -> headers) find them.
if [ "$kdir" != - ]; then  # "-": not a guest (the host's own kernel row)
    rm -f "/lib/modules/$rel" 2>/dev/null; mkdir -p "/lib/modules/$rel"
    mount --bind "$kdir/lib/modules/$rel" "/lib/modules/$rel"
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null

step() {  # step NAME CMD...: run, record exit code and seconds, keep the output
    local name=$1; shift
    local t0 t1 rc
    t0=$(date +%s.%N)
    "$@" > "$out/$name.out" 2>&1 < /dev/null
    rc=$?
    t1=$(date +%s.%N)
    printf '%s\t%s\t%.1f\n' "$name" "$rc" "$(echo "$t1 - $t0" | bc)" >> "$out/steps.tsv"
    printf 'guest: %-16s rc=%s %.1fs\n' "$name" "$rc" "$(echo "$t1 - $t0" | bc)"
}

printf 'boot\t0\t%s\n' "$(cut -d' ' -f1 /proc/uptime)" >> "$out/steps.tsv"
echo "guest: $rel up $(cut -d' ' -f1 /proc/uptime)s, $(nproc) CPUs, headers: $(readlink "/lib/modules/$rel/build")"
step doctor "$py" -m ebpftop --doctor
cat "$out/doctor.out"
only=${EBPFTOP_MATRIX_ONLY:-}  # doctor / batch: a quick look; tests: no TUI smoke; tui: no matrix tests
if [ "$only" != doctor ]; then
    # One compile alone: what a bcc compile+load costs on this kernel under this emulation.
    step compile "$py" -m ebpftop --batch -n 1 --interval 0.1 --probes syscalls
    [ "$only" = batch ] || [ "$only" = tui ] || step pytest "$py" -m pytest -p no:cacheprovider -m matrix tests/kernel -v -rfE --durations=0 \
        --junitxml="$out/junit.xml" -o junit_family=xunit1 ${EBPFTOP_MATRIX_PYTEST:-}
    [ -f "$out/pytest.out" ] && tail -n 30 "$out/pytest.out"
    # Every pane's probe at once for two frames, in a network namespace of its own (XDP on its lo).
    step batch timeout 900 unshare -n sh -c 'ip link set lo up && exec "$@"' sh \
        "$py" -m ebpftop --batch -n 2 --probes files,syscalls,proctree,xdp --xdp lo
    # The TUI in a pty: every probe live, every pane drawn after `]`, q quits cleanly. Under TCG it takes
    # minutes (4 compiles, then a whole emulated CPU to draw); CI's guest (MATRIX_ONLY=tests) leaves it out.
    [ "$only" = batch ] || [ "$only" = tests ] || step tui timeout 1200 "$harness_py" scripts/kernels/tui_smoke.py "$py"
fi
echo "guest: done"
