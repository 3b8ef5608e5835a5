# The boot test: Debian 12 with systemd as PID 1 under qemu, the project's
# .deb installed with dpkg, the user's whole path from install to purge
# (tests/boot/, docs/boot-e2e.md). `make boot-e2e` runs it alone; `make
# check` too. The package is built from HEAD: commit before running it.
.PHONY: boot-e2e check-boot

BOOT_SH := tests/boot/run.sh tests/boot/mkrootfs.sh tests/boot/guest.sh tests/boot/envfiles.sh \
	tests/boot/image/boot-e2e-start

boot-e2e: deb
	tests/boot/run.sh

check: check-boot
check-boot: check-deps
	shellcheck -x $(BOOT_SH)
	$(MAKE) boot-e2e
