# The cuda backend's tests: the fake libcuda, the backend driven
# directly (betest), the daemon on the fake through real NBD clients
# (conformance suite again, fault and start-up tests), the libnbd load tool,
# and the Driver API declarations held to a real cuda.h where one exists.
# About 40 s in all.

FAKECUDA_DIR := $(BUILD)/fakecuda
CUDA_H ?= $(firstword $(wildcard /usr/local/cuda/include/cuda.h /usr/include/cuda.h))
LIBNBD_H ?= $(wildcard /usr/include/libnbd.h)
PY ?= /usr/bin/python3

.PHONY: check-cuda check-cuda-api check-cuda-nbd check-cuda-faults check-cuda-asan
check: check-cuda
check-cuda: check-cuda-api check-cuda-nbd check-cuda-faults check-cuda-asan

# Test-only: never installed (no install rule names it).
$(FAKECUDA_DIR)/libcuda.so.1: tests/fakecuda/fakecuda.c src/cuda_api.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -fPIC -shared -fvisibility=hidden \
		-Wl,-soname,libcuda.so.1 -o $@ $< -pthread

$(BUILD)/betest: tests/cuda/betest.c $(BUILD)/libvs.a
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< $(BUILD)/libvs.a $(LDLIBS)

$(BUILD)/copybench: tests/cuda/copybench.c src/cuda_api.h | $(BUILD)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< -ldl

$(BUILD)/gapbench: tests/cuda/gapbench.c src/cuda_api.h | $(BUILD)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< -ldl -pthread

# gcc and libnbd.so.0 alone: no libnbd-dev needed (the GPU machines lack it).
$(BUILD)/nbdtool: tests/tools/nbdtool.c | $(BUILD)
	$(CC) $(WARN) -O2 -g -o $@ $< -pthread -ldl

check-cuda-api: $(BUILD)/copybench $(BUILD)/gapbench
ifneq ($(CUDA_H),)
	$(CC) $(CPPFLAGS) $(WARN) -I$(dir $(CUDA_H)) -fsyntax-only tests/cuda/apicheck.c
	@echo "  CUDA src/cuda_api.h matches $(CUDA_H)"
else
	@echo "  SKIP src/cuda_api.h vs cuda.h: no cuda.h on this machine (checked on the GPU machine; docs/cuda.md)"
endif
ifneq ($(LIBNBD_H),)
	$(CC) $(WARN) -DNBDTOOL_CHECK_HEADER -fsyntax-only tests/tools/nbdtool.c
	@echo "  NBDTOOL declarations match $(LIBNBD_H)"
else
	@echo "  SKIP nbdtool vs libnbd.h: no libnbd.h (install libnbd-dev)"
endif

# The core's conformance suite, this time with --backend cuda on the fake
# (whose exported "VRAM" is a memfd), and once more where the GPU cannot
# export its memory (cuMemAlloc, not crash-safe).
check-cuda-nbd: $(BUILD)/vram-swapd $(BUILD)/vram-swap-holder $(FAKECUDA_DIR)/libcuda.so.1
	LD_LIBRARY_PATH=$(CURDIR)/$(FAKECUDA_DIR) VS_TEST_BACKEND=cuda \
	VS_DAEMON=$(CURDIR)/$(BUILD)/vram-swapd $(PY) -m unittest \
		tests/nbd/test_protocol.py tests/nbd/test_lifecycle.py tests/nbd/test_edges.py \
		tests/nbd/test_handover.py
	LD_LIBRARY_PATH=$(CURDIR)/$(FAKECUDA_DIR) VS_TEST_BACKEND=cuda FAKECUDA_VMM=0 \
	VS_DAEMON=$(CURDIR)/$(BUILD)/vram-swapd $(PY) -m unittest \
		tests/nbd/test_protocol.py tests/nbd/test_handover.py

check-cuda-faults: $(BUILD)/vram-swapd $(FAKECUDA_DIR)/libcuda.so.1 $(BUILD)/betest $(BUILD)/nbdtool
	VS_DAEMON=$(CURDIR)/$(BUILD)/vram-swapd VS_FAKECUDA_DIR=$(CURDIR)/$(FAKECUDA_DIR) \
	VS_BETEST=$(CURDIR)/$(BUILD)/betest VS_NBDTOOL=$(CURDIR)/$(BUILD)/nbdtool \
		$(PY) -m unittest -v tests/cuda/test_cuda.py tests/cuda/test_elastic.py

# The fault tests again with the daemon and betest under AddressSanitizer and
# UndefinedBehaviorSanitizer (the error paths are where memory bugs hide);
# `asan` (mk/core.mk) builds them.
check-cuda-asan: asan $(FAKECUDA_DIR)/libcuda.so.1 $(BUILD)/nbdtool
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	VS_DAEMON=$(CURDIR)/build-asan/vram-swapd VS_FAKECUDA_DIR=$(CURDIR)/$(FAKECUDA_DIR) \
	VS_BETEST=$(CURDIR)/build-asan/betest VS_NBDTOOL=$(CURDIR)/$(BUILD)/nbdtool \
		$(PY) -m unittest tests/cuda/test_cuda.py tests/cuda/test_elastic.py
