#!/bin/bash
# make check-pkg: builds the .deb and the .rpm from a clean clone of HEAD
# (what is committed is what is tested), checks that one version flows
# everywhere, checks both packages' contents, runs the .deb's maintainer
# scripts and the .rpm's scriptlets for real in throwaway roots, and runs
# install.sh there and back. Needs root (dpkg and rpm chroot into those
# roots to run package scripts). Takes under a minute.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/pkg/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/pkg/chroot.sh
. "$HERE/chroot.sh"

missing=""
for t in git make cc dpkg-buildpackage dpkg-deb dpkg-query dpkg-architecture \
         dh lintian rpmbuild rpm rpmspec rpmlint rpm2cpio cpio shellcheck \
         pkg-config ldd dch; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
[ -z "$missing" ] || { echo "check-pkg: missing tools:$missing (tests/install-deps.sh installs them)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "check-pkg: needs root: dpkg runs the maintainer scripts chrooted into a throwaway root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/vram-swap-pkg.XXXXXX)
if [ -n "${KEEP:-}" ]; then echo "check-pkg: keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
SRC=$WORK/src

section "build both packages from a clean clone of HEAD"
git -C "$REPO" diff --quiet HEAD 2>/dev/null ||
	echo "  note: uncommitted changes are not tested (packages are built from HEAD)"
git clone -q --no-checkout "$REPO" "$SRC"
git -C "$SRC" checkout -q "$(git -C "$REPO" rev-parse HEAD)"
if make -C "$SRC" deb rpm > "$WORK/build.log" 2>&1; then
	ok "make deb rpm"
else
	fail "make deb rpm; the end of its log:"; tail -30 "$WORK/build.log" | sed 's/^/       /'
	exit 1
fi
VERSION=$(cat "$SRC/VERSION")
DEB=$(echo "$SRC"/build/vram-swap_"$VERSION"_*.deb)
RPM=$(echo "$SRC"/build/vram-swap-"$VERSION"-*.rpm)
check "the .deb is in build/" test -f "$DEB"
check "the .rpm is in build/" test -f "$RPM"

# From here on every check reports and counts its own failure.
set +e
# shellcheck source=tests/pkg/version.sh
. "$HERE/version.sh"
# shellcheck source=tests/pkg/deb-contents.sh
. "$HERE/deb-contents.sh"
# shellcheck source=tests/pkg/rpm-contents.sh
. "$HERE/rpm-contents.sh"
# shellcheck source=tests/pkg/deb-lifecycle.sh
. "$HERE/deb-lifecycle.sh"
# shellcheck source=tests/pkg/rpm-lifecycle.sh
. "$HERE/rpm-lifecycle.sh"
# shellcheck source=tests/pkg/install-sh.sh
. "$HERE/install-sh.sh"

echo
if [ "$FAILS" -eq 0 ]; then echo "check-pkg: all passed"; else echo "check-pkg: $FAILS FAILED"; exit 1; fi
