#!/usr/bin/env bash
# make test-kernels: boot stock Debian kernels in qemu (virtme-ng) on this machine's root fs and run
# ebpftop --doctor, the kernel tests marked `matrix`, a --batch smoke of every probe and the TUI in a
# pty inside each. KERNELS="6.1 6.12" (default both). Idempotent like scripts/setup.sh: a second run
# installs and downloads nothing. Everything downloaded lives under $EBPFTOP_CACHE, outside the repo.
#
#   KERNELS            series to run (6.1 = Debian 12's default kernel, 6.12 = its 6.12 line)
#   EBPFTOP_CACHE      download/unpack cache (default /var/cache/ebpftop)
#   MATRIX_TIMEOUT     minutes for the whole matrix; past it the guest is killed and the run fails
#                      with a message saying so (default 40: CI's 90 minutes hold `make test` + 6.1)
#   MATRIX_TIMESCALE   EBPFTOP_TEST_TIMESCALE inside the guest (default 10 under TCG, 2 under KVM)
#   MATRIX_ONLY        a part only: doctor | batch (doctor, compile, --batch) | tests (no TUI smoke) |
#                      tui (no matrix tests); RESULTS.md takes each column from the latest run that ran it
#   MATRIX_PYTEST      extra pytest arguments inside the guest (e.g. "-k commit")
#   MATRIX_RESULTS     the results table (default tests/kernels/RESULTS.md)
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

say() { printf 'test-kernels: %s\n' "$*"; }
die() { printf 'test-kernels: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "must run as root: sudo make test-kernels"
command -v apt-get >/dev/null || die "needs a Debian-family system (apt-get) to fetch Debian's kernels"
[ "$(dpkg --print-architecture)" = amd64 ] || die "the matrix boots Debian's amd64 kernels; this is $(dpkg --print-architecture)"
[ -x .venv/bin/python ] || die "no .venv: run \`sudo make setup\` first (the guests use this checkout's .venv)"

KERNELS=${KERNELS:-6.1 6.12}
CACHE=${EBPFTOP_CACHE:-/var/cache/ebpftop}
TIMEOUT_MIN=${MATRIX_TIMEOUT:-40}
RESULTS=${MATRIX_RESULTS:-tests/kernels/RESULTS.md}
VNG_VERSION=1.42
VENV=$CACHE/vng-venv
started=$(date +%s)

# Host packages: qemu (the machine), busybox-static + kmod (virtme's initramfs: virtio, 9p and overlay
# are modules), udev (without it the guest's console ports, hence its output and exit code, are lost).
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in qemu-system-x86 busybox-static kmod udev python3-venv bc; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "could not install ${missing[*]}"
fi

# virtme-ng (pinned) and pyte (the TUI smoke reads the screen with it) in their own venv.
mkdir -p "$CACHE"
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys, pyte; sys.exit(m.version("virtme-ng") != sys.argv[1])' "$VNG_VERSION" 2>/dev/null; then
    say "installing virtme-ng $VNG_VERSION into $VENV"
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV" || die "cannot create $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "virtme-ng==$VNG_VERSION" "pyte==0.8.2" 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -c 'import virtme_ng, pyte' || die "virtme-ng $VNG_VERSION did not install into $VENV"
fi
export PATH=$VENV/bin:$PATH   # vng runs virtme-run by name

# Fetch every kernel first: a download failure stops the run before any guest is booted.
declare -A release
for k in $KERNELS; do
    if [ "$k" = host ]; then release[$k]=$(uname -r); continue; fi
    release[$k]=$(scripts/kernels/fetch.sh "$k" "$CACHE") || die "cannot fetch kernel $k"
done

# KVM only where it really runs a stock kernel (here /dev/kvm is paravirtualised and qemu aborts on
# an MSR): one tiny boot decides, else TCG.
# Under TCG, 6.1 finds the emulated TSC unstable and falls back to the emulated HPET: every clock read
# traps into qemu (100k time.monotonic(): 0.77 s against 0.27 s on the TSC), which starved the TUI smoke
# (q not answered within 300 s). qemu's TCG TSC follows the host clock, so it is declared reliable.
accel=(--disable-kvm --append "tsc=reliable")
accel_name=TCG
if [ -w /dev/kvm ] && [ -z "${MATRIX_NO_KVM:-}" ]; then
    first=$(printf '%s\n' $KERNELS | grep -vx host | head -n 1); rel=${release[$first]:-}
    if [ -n "$rel" ] && timeout -s KILL 90 vng --run "$CACHE/kernels/$rel/boot/vmlinuz-$rel" -m 1G --exec "echo kvm-works" 2>&1 </dev/null | cat | grep -q kvm-works; then
        accel=() accel_name=KVM
    fi
fi
timescale=${MATRIX_TIMESCALE:-$([ $accel_name = KVM ] && echo 2 || echo 10)}
say "accelerator: $accel_name (tests' time scale x$timescale); budget ${TIMEOUT_MIN} min for: $KERNELS"

runs=$CACHE/runs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$runs"
failed=()
for k in $KERNELS; do
    rel=${release[$k]}
    out=$runs/$rel
    mkdir -p "$out"
    printf 'kernel=%s\nrelease=%s\naccel=%s\ntimescale=%s\nhost=%s\nhost_cpus=%s\nloadavg=%s\ncommit=%s\n' "$k" "$rel" "$accel_name" \
        "$timescale" "$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD 2>/dev/null)" > "$out/meta"
    left=$(( TIMEOUT_MIN * 60 - ($(date +%s) - started) ))
    if [ $left -le 60 ]; then
        echo "timeout" > "$out/status"
        say "TIMEOUT: the matrix budget of ${TIMEOUT_MIN} min is spent before kernel $k ($rel) could run"
        failed+=("$k"); continue
    fi
    t0=$(date +%s)
    if [ "$k" = host ]; then
        # The machine's own kernel, no guest: here headers come from `make setup`'s fallback when the
        # kernel has none (the headers-absent path); the time scale is 1, as in `make test`.
        sed -i 's/^accel=.*/accel=none/; s/^timescale=.*/timescale=1/' "$out/meta"
        say "kernel host: $rel, no guest"
        timeout -s KILL "$left" scripts/kernels/guest.sh "$out" - 1 "$VENV/bin/python" </dev/null 2>&1 | tee "$out/console.log"
        rc=${PIPESTATUS[0]}
    else
        say "kernel $k: booting $rel ($accel_name, 2 CPUs, 4 GiB), up to ${left}s left"
        # vng reopens stdout and stderr separately: one pipe through cat keeps them in order.
        # Environment variables do not reach the guest: guest.sh gets everything as arguments.
        # virtme mounts a tmpfs over /var/cache in the guest: the unpacked kernels (its modules and the
        # headers its build link points at) and the harness venv come back in read-only, at the same paths.
        timeout -s KILL "$left" vng --run "$CACHE/kernels/$rel/boot/vmlinuz-$rel" "${accel[@]}" --cpus 2 -m 4G \
            --rodir="$CACHE/kernels" --rodir="$VENV" --rwdir="$out" --exec "EBPFTOP_MATRIX_PYTEST='${MATRIX_PYTEST:-}' EBPFTOP_MATRIX_ONLY='${MATRIX_ONLY:-}' $repo/scripts/kernels/guest.sh '$out' '$CACHE/kernels/$rel' '$timescale' '$VENV/bin/python'" \
            </dev/null 2>&1 | cat | tee "$out/console.log"
        rc=${PIPESTATUS[0]}
    fi
    echo $(( $(date +%s) - t0 )) > "$out/seconds"
    if [ "$rc" = 137 ] || [ "$rc" = 124 ]; then
        echo "timeout" > "$out/status"
        say "TIMEOUT: kernel $k ($rel) was still running when the matrix budget of ${TIMEOUT_MIN} min (MATRIX_TIMEOUT) ran out; killed. Its output so far: $out"
        failed+=("$k")
    elif ! grep -q '^doctor' "$out/steps.tsv" 2>/dev/null; then
        echo "no-result" > "$out/status"
        say "kernel $k ($rel): the guest ended (exit $rc) without running the tests; see $out/console.log"
        failed+=("$k")
    else
        echo "done" > "$out/status"
        if awk -F'\t' '$1 != "boot" && $2 != 0 {bad=1} END {exit bad}' "$out/steps.tsv" \
            && { [ -n "${MATRIX_ONLY:-}" ] || grep -q '^tui' "$out/steps.tsv"; }; then
            say "kernel $k ($rel): every step passed in $(cat "$out/seconds")s"
        else
            say "kernel $k ($rel): FAILED steps: $(awk -F'\t' '$1 != "boot" && $2 != 0 {printf "%s(exit %s) ", $1, $2}' "$out/steps.tsv")(outputs in $out)"
            failed+=("$k")
        fi
    fi
done

mkdir -p "$(dirname "$RESULTS")"
"$VENV/bin/python" scripts/kernels/results.py "$CACHE/runs" > "$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
cat "$RESULTS"
say "outputs of every step: $runs"
if [ ${#failed[@]} -gt 0 ]; then
    say "FAILED on: ${failed[*]}"
    exit 1
fi
say "all kernels passed in $(( $(date +%s) - started ))s"
