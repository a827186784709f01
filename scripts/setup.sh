#!/usr/bin/env bash
# make setup: everything ebpftop needs on a fresh Debian machine, idempotent.
# A second run installs nothing and changes nothing; it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "must run as root: sudo make setup"
command -v apt-get >/dev/null || die "needs a Debian-family system (apt-get); install bcc's Python bindings, bpftool and kernel headers by hand"

HEADERS_DIR=/usr/local/share/ebpftop/kernel-headers
VENV=.venv
RELEASE=$(uname -r)
ARCH=$(dpkg --print-architecture)

# python3-bpfcc: bcc's Python bindings (not on PyPI) for /usr/bin/python3;
# bpfcc-tools/bpftrace: the peers bench/ compares against; bpftool/iproute2:
# what the tests use to ask the kernel what is attached; gcc: bench/loops.c;
# libcairo2: SVG -> PNG for make screenshots.
PKGS=(python3-bpfcc bpfcc-tools bpftrace bpftool libbpf1 iproute2 python3-venv util-linux procps gcc libc6-dev libcairo2)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_updated=0
apt_install() {
    if [ $apt_updated = 0 ]; then
        say "apt-get update"
        apt-get update -qq
        apt_updated=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
[ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"

# prometheus: the real server tests/kernel/test_metrics_prometheus.py starts (on a loopback port of
# its own) to scrape `ebpftop --metrics`. Only its binary is wanted: no recommended node exporter,
# and its packaged service is neither started (a policy-rc.d saying 101 while it installs, unless
# the machine has its own) nor left enabled to start at the next boot.
if ! installed prometheus; then
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    rc=0
    apt_install --no-install-recommends prometheus || rc=$?
    [ $own_policy = 0 ] || rm -f "$policy"
    [ $rc = 0 ] || die "could not install Debian's prometheus package"
    if [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
fi

# Kernel headers for bcc: the running kernel's if it has them (or the distro
# ships them), else the distro's newest headers merged into one tree that
# ebpftop points BCC_KERNEL_SOURCE at (see ebpftop/env/headers.py).
if [ -d "/lib/modules/$RELEASE/build/include" ] || [ -e /sys/kernel/kheaders.tar.xz ]; then
    say "kernel headers: running kernel's ($RELEASE)"
else
    if ! installed "linux-headers-$RELEASE"; then
        if apt-cache show "linux-headers-$RELEASE" >/dev/null 2>&1 || { [ $apt_updated = 1 ] || { apt-get update -qq; apt_updated=1; }; apt-cache show "linux-headers-$RELEASE" >/dev/null 2>&1; }; then
            apt_install "linux-headers-$RELEASE"
        fi
    fi
    if [ -d "/lib/modules/$RELEASE/build/include" ]; then
        say "kernel headers: linux-headers-$RELEASE"
    else
        installed "linux-headers-$ARCH" || apt_install "linux-headers-$ARCH"
        arch_dir=$(ls -d /usr/src/linux-headers-*-"$ARCH" 2>/dev/null | sort -V | tail -n 1)
        [ -n "$arch_dir" ] || die "linux-headers-$ARCH installed no /usr/src/linux-headers-*-$ARCH"
        version=$(basename "$arch_dir"); version=${version#linux-headers-}; version=${version%-"$ARCH"}
        common_dir=/usr/src/linux-headers-$version-common
        [ -d "$common_dir" ] || die "missing $common_dir next to $arch_dir"
        if [ "$(cat "$HEADERS_DIR/.version" 2>/dev/null)" != "$version-$ARCH" ]; then
            say "kernel headers: no headers for $RELEASE; building fallback from $version into $HEADERS_DIR"
            tmp=$(mktemp -d "$(dirname "$HEADERS_DIR")/.kh.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$HEADERS_DIR")"; mktemp -d "$(dirname "$HEADERS_DIR")/.kh.XXXXXX"; })
            cp -as "$common_dir/." "$tmp/"
            cp -asf "$arch_dir/." "$tmp/"
            echo "$version-$ARCH" > "$tmp/.version"
            chmod 755 "$tmp"
            rm -rf "$HEADERS_DIR"
            mv "$tmp" "$HEADERS_DIR"
        else
            say "kernel headers: fallback $version-$ARCH at $HEADERS_DIR"
        fi
    fi
fi

# tracefs: bcc reads tracepoint formats from it.
if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ]; then
    say "mounting tracefs at /sys/kernel/tracing"
    mount -t tracefs nodev /sys/kernel/tracing || die "cannot mount tracefs at /sys/kernel/tracing"
fi

# The venv: made by the interpreter that can import bcc, seeing its site-packages.
if ! "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("bcc") is None)' >/dev/null 2>&1; then
    say "creating $VENV with /usr/bin/python3 (--system-site-packages, for bcc)"
    rm -rf "$VENV"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    say "installing ebpftop and its test and lint tools into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,docs]'
    touch "$stamp"
fi
say "ready"
