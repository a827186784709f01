#!/usr/bin/env bash
# scripts/kernels/fetch.sh SERIES CACHE: a Debian kernel (image + its real headers) unpacked under
# CACHE/kernels/<release>, ready for `vng --run`. Idempotent: a second run only checks the stamp.
# Prints the release (e.g. 6.1.0-57-amd64) on stdout; progress goes to stderr.
# Nothing is installed into /boot or /lib/modules of the host: `apt-get download` + `dpkg-deb -x`.
set -euo pipefail
series=$1 cache=$2
say() { printf 'test-kernels: %s\n' "$*" >&2; }
die() { printf 'test-kernels: %s\n' "$*" >&2; exit 2; }

# The series -> Debian's meta package, whose dependency names the current release.
case "$series" in
    6.1) meta=linux-image-amd64 ;;          # Debian 12's default kernel
    6.12) meta=linux-image-6.12-amd64 ;;    # Debian 12's 6.12 series (bookworm-backports line)
    *) die "unknown kernel series '$series' (known: 6.1 6.12)" ;;
esac
deps() { apt-cache depends "$1" 2>/dev/null | sed -n 's/^ *|\{0,1\}Depends: //p'; }
image=$(deps "$meta" | grep -E '^linux-image-[0-9]' | head -n 1)
if [ -z "$image" ]; then
    apt-get update -qq >&2
    image=$(deps "$meta" | grep -E '^linux-image-[0-9]' | head -n 1)
fi
[ -n "$image" ] || die "apt-cache names no kernel image for $meta"
release=${image#linux-image-}                       # 6.1.0-57-amd64
dir=$cache/kernels/$release
if [ -f "$dir/.ready" ]; then
    say "kernel $series: $release cached at $dir"
    echo "$release"; exit 0
fi

headers=linux-headers-$release
common=$(deps "$headers" | grep -E '^linux-headers-.*-common$' | head -n 1)
kbuild=$(deps "$headers" | grep -E '^linux-kbuild-' | head -n 1)
[ -n "$common" ] && [ -n "$kbuild" ] || die "apt-cache names no -common/-kbuild for $headers"
pkgs=("linux-image-$release-unsigned" "$headers" "$common" "$kbuild")

say "kernel $series: fetching ${pkgs[*]}"
debs=$cache/debs/$release
mkdir -p "$debs"
( cd "$debs" && for p in "${pkgs[@]}"; do ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" >&2; done )
tmp=$(mktemp -d "$cache/kernels/.unpack.XXXXXX" 2>/dev/null || { mkdir -p "$cache/kernels"; mktemp -d "$cache/kernels/.unpack.XXXXXX"; })
for p in "${pkgs[@]}"; do dpkg-deb -x "$(ls "$debs/${p}"_*.deb | head -n 1)" "$tmp"; done

# bcc in the guest finds headers through /lib/modules/<release>/{build,source}: point them (absolute,
# as the guest sees the host's root fs at the same paths) at the unpacked trees.
mods=$tmp/lib/modules/$release
[ -d "$mods" ] || die "the image package has no lib/modules/$release"
[ -d "$tmp/boot" ] && ls "$tmp/boot/vmlinuz-$release" >/dev/null || die "the image package has no boot/vmlinuz-$release"
common_dir=${common#linux-headers-}
rm -f "$mods/build" "$mods/source"
ln -s "$dir/usr/src/linux-headers-$release" "$mods/build"
ln -s "$dir/usr/src/linux-headers-$common_dir" "$mods/source"
depmod -a -b "$tmp" "$release"
echo "$release" > "$tmp/.ready"
rm -rf "$dir"
mv "$tmp" "$dir"
say "kernel $series: $release unpacked at $dir"
echo "$release"
