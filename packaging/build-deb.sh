#!/usr/bin/env bash
# Builds the Debian package from this checkout:
#   packaging/build-deb.sh [--install-deps] [OUTDIR]     (OUTDIR default: build-deb/)
# dpkg-buildpackage wants debian/ at the top of the source tree, so this copies the tree (git's
# view of it: tracked and new files, nothing ignored such as build*/ and var/) into a temporary
# directory, with packaging/debian/ as debian/, runs `dpkg-buildpackage -us -uc -b` there and
# leaves netd_VERSION_ARCH.deb, the -dbgsym package, .buildinfo and .changes in OUTDIR.
# --install-deps: apt-get install the missing build dependencies first (as root).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
install_deps=false
if [ "${1:-}" = "--install-deps" ]; then
    install_deps=true
    shift
fi
out=${1:-$src/build-deb}

missing=$(cd "$src/packaging" && dpkg-checkbuilddeps 2>&1 >/dev/null |
          sed -n 's/.*Unmet build dependencies: //p' | sed 's/([^)]*)//g') || true
if [ -n "$missing" ]; then
    if ! $install_deps; then
        echo "build-deb.sh: missing build dependencies: $missing (--install-deps installs them)" >&2
        exit 2
    fi
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # dh-sequence-* are virtual packages that debhelper provides.
    pkgs=$(echo "$missing" | tr ' ' '\n' | sed 's/^dh-sequence-.*/debhelper/' | sort -u)
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $pkgs
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/netd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/netd
mkdir -p "$tree"
cd "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Files deleted in the work tree but not yet in git's index are skipped.
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
        tar --null -T - -cf - | tar -C "$tree" -xf -
else
    tar --exclude='./build*' --exclude=./var --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi
rm -rf "$tree/debian"
cp -a "$tree/packaging/debian" "$tree/debian"

cd "$tree"
DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc)"
export DEB_BUILD_OPTIONS
dpkg-buildpackage -us -uc -b

mkdir -p "$out"
cp "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes "$out"/ 2>/dev/null || true
ls "$out"/netd_*.deb
