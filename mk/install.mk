# Installing and packaging: `make install`, `make uninstall`, `make deb`,
# `make rpm`, `make set-version V=x.y.z`, and their test, `make check-pkg`.
#
# The version lives in VERSION only. The Makefile compiles it into the
# daemon; debian/changelog and rpm/vram-swap.spec carry copies because their
# tools read nothing else, so `make set-version` rewrites all three, and
# debian/rules and the spec refuse to build when their copy disagrees.

.PHONY: install-daemon install-man uninstall deb rpm dist set-version check-pkg

DOCS := $(wildcard README.md)

install: install-daemon install-scripts install-systemd install-man

install-daemon: $(BUILD)/vram-swapd
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(BUILD)/vram-swapd $(DESTDIR)$(SBINDIR)/vram-swapd

install-man:
	install -d $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
ifneq ($(DOCS),)
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
endif

# Removes what `make install` with the same settings puts in place: the
# list comes from a staged install, so it cannot drift from `install`. The
# defaults file stays when it differs from the shipped one (local edits);
# shared directories stay, ours go when empty.
uninstall:
	@set -e; stage=$$(mktemp -d); trap 'rm -rf "$$stage"' EXIT; \
	$(MAKE) -s install DESTDIR="$$stage" >/dev/null; \
	cd "$$stage"; \
	find . ! -type d | sort | while read -r f; do \
		t="$(DESTDIR)$${f#.}"; \
		if [ "$${t%/default/vram-swap}" != "$$t" ] && [ -f "$$t" ] && \
		   ! cmp -s "$$f" "$$t"; then \
			echo "uninstall: keeping $$t (changed locally)"; continue; \
		fi; \
		if [ -e "$$t" ] || [ -L "$$t" ]; then echo "rm $$t"; rm -f "$$t"; fi; \
	done; \
	find . -depth -type d \( -name 'vram-swap*' -o -path '*/vram-swap/lib' \
		-o -name sleep.target.requires \
		-o -name 'systemd-*.service.wants' \) | \
	while read -r d; do \
		rmdir "$(DESTDIR)$${d#.}" 2>/dev/null || true; \
	done

# Packages are built from HEAD (git archive), never from a dirty tree, so
# what is tested is what is committed.
TREE_EXPORT = if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git diff --quiet HEAD || echo "note: uncommitted changes are not packaged" >&2; \
		git archive --format=tar --prefix=vram-swap-$(VERSION)/ HEAD; \
	else \
		tar -c --exclude=./build --exclude='./build-*' --transform='s,^\.,vram-swap-$(VERSION),' .; \
	fi

dist: | $(BUILD)
	$(TREE_EXPORT) | gzip -n9 > $(BUILD)/vram-swap-$(VERSION).tar.gz

deb: | $(BUILD)
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb
	$(TREE_EXPORT) | tar -x -C $(BUILD)/deb
	cd $(BUILD)/deb/vram-swap-$(VERSION) && dpkg-buildpackage -us -uc -b
	mv $(BUILD)/deb/*.deb $(BUILD)/deb/*.buildinfo $(BUILD)/deb/*.changes $(BUILD)/
	@ls -l $(BUILD)/*.deb

# --nodeps: BuildRequires names Fedora packages, which Debian's rpm
# database does not know. __brp_compress: Debian's brp-compress needs bash
# but says #!/bin/sh, and with dash it leaves man pages uncompressed.
rpm: dist
	@s=$$(rpmspec -q --srpm --qf '%{VERSION}' rpm/vram-swap.spec) && [ "$$s" = "$(VERSION)" ] || \
	{ echo "VERSION says $(VERSION) but the spec says $$s; run 'make set-version V=$(VERSION)'" >&2; exit 1; }
	rm -rf $(BUILD)/rpm && mkdir -p $(BUILD)/rpm/SOURCES
	cp $(BUILD)/vram-swap-$(VERSION).tar.gz $(BUILD)/rpm/SOURCES/
	rpmbuild -bb --nodeps --define '_topdir $(abspath $(BUILD))/rpm' \
		--define '__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}' \
		rpm/vram-swap.spec
	mv $(BUILD)/rpm/RPMS/*/vram-swap-$(VERSION)-*.rpm $(BUILD)/
	@ls -l $(BUILD)/*.rpm

# Changelog entries are signed by whoever git says is committing.
SET_VERSION_NAME  = $(or $(shell git config user.name),$(USER))
SET_VERSION_EMAIL = $(or $(shell git config user.email),$(USER)@localhost)
set-version:
	@case "$(V)" in [0-9]*.[0-9]*.[0-9]*) ;; \
	*) echo "usage: make set-version V=MAJOR.MINOR.PATCH" >&2; exit 2;; esac
	echo '$(V)' > VERSION
	DEBFULLNAME="$(SET_VERSION_NAME)" DEBEMAIL="$(SET_VERSION_EMAIL)" \
		dch --newversion '$(V)' --distribution unstable --force-distribution \
		'New upstream version $(V).' < /dev/null
	sed -i 's/^Version:.*/Version:        $(V)/; s/^Release:.*/Release:        1%{?dist}/' \
		rpm/vram-swap.spec
	sed -i '/^%changelog/a * '"$$(LC_ALL=C date '+%a %b %d %Y') $(SET_VERSION_NAME) <$(SET_VERSION_EMAIL)> - $(V)-1"'\n- New upstream version $(V).\n' \
		rpm/vram-swap.spec
	@echo "VERSION, debian/changelog and rpm/vram-swap.spec now say $(V)"

check: check-pkg
check-pkg: check-deps
	tests/pkg/run.sh
