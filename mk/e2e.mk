# The end-to-end test: a Debian kernel in qemu swapping into vram-swapd
# (tests/e2e/, docs/e2e.md). `make e2e` runs it alone; `make check` too.
# e2e-gpu-bundle packs the GPU variant for a machine without packages.
.PHONY: check-e2e e2e-build e2e-gpu-bundle

e2e-build: $(BUILD)/vram-swapd
	tests/e2e/build.sh

e2e: e2e-build
	tests/e2e/run.sh

E2E_SH := $(wildcard tests/e2e/*.sh) tests/e2e/guest/init tests/e2e/guest/e2e-guest.sh

check: check-e2e
check-e2e: check-deps
	shellcheck -x $(E2E_SH)
	$(MAKE) e2e

# The GPU variant runs no local-mode step: its image holds no workloads.
e2e-gpu-bundle: $(BUILD)/vram-swapd
	E2E_WORKLOADS=0 tests/e2e/build.sh
	tests/e2e/gpu-bundle.sh
