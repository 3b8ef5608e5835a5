# shellcheck shell=bash
# One version, set in VERSION, in the binary, the .deb and the .rpm; and
# the build guards that refuse a copy that disagrees. Sourced by run.sh.
section "one version: $VERSION"

dpkg-deb -x "$DEB" "$WORK/debx"
mkdir -p "$WORK/rpmx" && (cd "$WORK/rpmx" && rpm2cpio "$RPM" | cpio -idm --quiet)
same_text ".deb Version" "$VERSION" "$(dpkg-deb -f "$DEB" Version)"
same_text ".rpm VERSION" "$VERSION" "$(rpm -qp --nosignature --qf '%{VERSION}' "$RPM")"
check "vram-swapd --version from the .deb says $VERSION" \
	has_re "$("$WORK/debx/usr/sbin/vram-swapd" --version 2>&1)" "(^|[^0-9.])${VERSION//./\\.}([^0-9.]|$)"
check "vram-swapd --version from the .rpm says $VERSION" \
	has_re "$("$WORK/rpmx/usr/sbin/vram-swapd" --version 2>&1)" "(^|[^0-9.])${VERSION//./\\.}([^0-9.]|$)"

# A VERSION changed by hand, without `make set-version`: both builds refuse.
V=$WORK/vguard
git clone -q "$SRC" "$V"
echo 99.0.0 > "$V/VERSION"
git -C "$V" -c user.name=t -c user.email=t@t.invalid commit -qam "hand-edited VERSION"
if out=$(make -C "$V" deb 2>&1); then
	fail "make deb built although debian/changelog disagrees"
else
	check "make deb refuses a debian/changelog that disagrees" has_re "$out" 'VERSION says 99.0.0 but debian/changelog says'
fi
if out=$(make -C "$V" rpm 2>&1); then
	fail "make rpm built although the spec disagrees"
else
	check "make rpm refuses a spec that disagrees" has_re "$out" 'VERSION says 99.0.0 but the spec says'
fi

# `make set-version` updates all three copies.
git -C "$V" config user.name "Test"; git -C "$V" config user.email "test@example.org"
make -C "$V" -s set-version V=99.0.0 > /dev/null 2>&1
same_text "after set-version: VERSION" "99.0.0" "$(cat "$V/VERSION")"
same_text "after set-version: debian/changelog" "99.0.0" "$(cd "$V" && dpkg-parsechangelog -SVersion)"
same_text "after set-version: spec" "99.0.0" "$(rpmspec -q --srpm --qf '%{VERSION}' "$V/rpm/vram-swap.spec" 2>/dev/null)"
check "after set-version: spec %changelog entry" grep -q -- '- 99.0.0-1$' "$V/rpm/vram-swap.spec"
