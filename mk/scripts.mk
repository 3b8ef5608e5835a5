# Shell front (scripts/), systemd units and the defaults file; their tests.
# install-scripts: the programs in SBINDIR; in LIBEXECDIR the library's
# loader, its parts in lib/ (the loader finds them next to itself), the
# interlock helper (vram-swap-excl) and the keeper of the daemon's pages
# where systemd is not used (vram-swap-holder).
# install-systemd: the units (paths substituted), the sleep units' links and
# /etc/default/vram-swap (kept if it already exists: it is the user's).
.PHONY: install-scripts install-systemd check-bats check-shellcheck

VS_SCRIPTS := vram-swap-setup vram-swap-teardown vram-swap-status vram-swap-resize \
              vram-swap-yield
VS_LIBPARTS := $(notdir $(wildcard scripts/lib/*.sh))
VS_UNITS   := vram-swap.service vram-swap-sleep.service vram-swap-resume.service \
              vram-swap-watch.service
VS_SLEEPS  := systemd-suspend systemd-hibernate systemd-hybrid-sleep \
              systemd-suspend-then-hibernate
VS_SUBST    = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
                  -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

install-scripts: $(BUILD)/vram-swap-excl $(BUILD)/vram-swap-holder
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/lib
	install -m 0755 $(BUILD)/vram-swap-excl $(DESTDIR)$(LIBEXECDIR)/vram-swap-excl
	install -m 0755 $(BUILD)/vram-swap-holder $(DESTDIR)$(LIBEXECDIR)/vram-swap-holder
	for s in $(VS_SCRIPTS); do \
		$(VS_SUBST) scripts/$$s > $(DESTDIR)$(SBINDIR)/$$s.tmp && \
		chmod 0755 $(DESTDIR)$(SBINDIR)/$$s.tmp && \
		mv -f $(DESTDIR)$(SBINDIR)/$$s.tmp $(DESTDIR)$(SBINDIR)/$$s || exit 1; \
	done
	$(VS_SUBST) scripts/vram-swap-lib.sh > $(DESTDIR)$(LIBEXECDIR)/vram-swap-lib.sh
	chmod 0644 $(DESTDIR)$(LIBEXECDIR)/vram-swap-lib.sh
	for p in $(VS_LIBPARTS); do \
		$(VS_SUBST) scripts/lib/$$p > $(DESTDIR)$(LIBEXECDIR)/lib/$$p && \
		chmod 0644 $(DESTDIR)$(LIBEXECDIR)/lib/$$p || exit 1; \
	done

install-systemd:
	install -d $(DESTDIR)$(UNITDIR)/sleep.target.requires $(DESTDIR)$(SYSCONFDIR)/default
	for u in $(VS_UNITS); do \
		$(VS_SUBST) systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	ln -sfn ../vram-swap-sleep.service \
		$(DESTDIR)$(UNITDIR)/sleep.target.requires/vram-swap-sleep.service
	for s in $(VS_SLEEPS); do \
		install -d $(DESTDIR)$(UNITDIR)/$$s.service.wants && \
		ln -sfn ../vram-swap-resume.service \
			$(DESTDIR)$(UNITDIR)/$$s.service.wants/vram-swap-resume.service || exit 1; \
	done
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/default/vram-swap ]; then \
		echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/default/vram-swap"; \
	else \
		install -m 0644 systemd/vram-swap.default $(DESTDIR)$(SYSCONFDIR)/default/vram-swap; \
	fi

check: check-bats
# The tests are checked too (a bare "! cmd" in bats asserts nothing); stub
# bodies are single-quoted on purpose, the rest is bats' own scoping.
check-shellcheck: check-deps
	shellcheck -x scripts/vram-swap-lib.sh $(addprefix scripts/,$(VS_SCRIPTS)) \
		tests/bats/*.bash tests/bats/gpu-smoke.sh
	shellcheck -x -e SC2016,SC2030,SC2031,SC2153 tests/bats/*.bats
# The integration tests drive the real daemon (host backend).
check-bats: check-shellcheck $(BUILD)/vram-swapd $(BUILD)/vram-swap-excl
	bats tests/bats
