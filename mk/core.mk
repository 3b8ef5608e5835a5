# The daemon's own tests: C unit tests, conformance through real NBD
# clients, a bounded fuzzing run, and the conformance suite again under
# AddressSanitizer and UndefinedBehaviorSanitizer.

PY ?= /usr/bin/python3
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/%,$(wildcard tests/unit/test_*.c))
FUZZ_TIME ?= 30

.PHONY: check-unit check-nbd check-fuzz check-asan fuzz asan
check: check-unit check-nbd check-fuzz check-asan

$(BUILD)/test_%: tests/unit/test_%.c $(BUILD)/libvs.a tests/unit/check.h
	$(CC) $(CPPFLAGS) $(WARN) -Wno-missing-prototypes $(CFLAGS) -o $@ $< $(BUILD)/libvs.a $(LDLIBS)

check-unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "  UNIT $$t"; $$t; done

check-nbd: $(BUILD)/vram-swapd $(BUILD)/vram-swap-holder
	VS_DAEMON=$(CURDIR)/$(BUILD)/vram-swapd $(PY) -m unittest -v \
		tests/nbd/test_protocol.py tests/nbd/test_lifecycle.py tests/nbd/test_edges.py \
		tests/nbd/test_chunks.py tests/nbd/test_slots.py tests/nbd/test_control.py \
		tests/nbd/test_handover.py

# libFuzzer needs clang. The corpus in the tree seeds each run; what a run
# finds new stays in build-fuzz/ (commit interesting inputs by hand). Each
# harness links the sources it drives: the handshake over the chunks' NBD
# names on a real chunk table, the request checks alone.
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
build-fuzz/fuzz_handshake: tests/fuzz/fuzz_handshake.c src/handshake.c src/nbd_exports.c \
	src/chunks.c src/store.c src/pack.c src/codec.c src/log.c
build-fuzz/fuzz_request: tests/fuzz/fuzz_request.c src/request.c
build-fuzz/fuzz_%: $(wildcard src/*.h)
	@mkdir -p build-fuzz
	clang $(CPPFLAGS) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) -pthread -ldl

fuzz: build-fuzz/fuzz_handshake build-fuzz/fuzz_request

check-fuzz: fuzz
	@set -e; for f in handshake request; do \
		mkdir -p build-fuzz/corpus-$$f; \
		echo "  FUZZ $$f for $(FUZZ_TIME)s"; \
		build-fuzz/fuzz_$$f -max_total_time=$(FUZZ_TIME) -max_len=16384 \
			-print_final_stats=1 build-fuzz/corpus-$$f tests/fuzz/corpus/$$f \
			2>build-fuzz/$$f.log || { tail -50 build-fuzz/$$f.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|cov:' build-fuzz/$$f.log | tail -2; \
	done

# `make asan`: the daemon, its unit tests and betest under AddressSanitizer
# and UndefinedBehaviorSanitizer in build-asan/. One rule builds the tree,
# so check-asan and check-cuda-asan never build it at the same time.
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_BINS := build-asan/vram-swapd build-asan/vram-swap-holder build-asan/betest $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_TESTS))
asan:
	$(MAKE) BUILD=build-asan CC=clang CFLAGS="$(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" $(ASAN_BINS)

check-asan: asan
	@set -e; for t in $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_TESTS)); do $$t; done
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	VS_DAEMON=$(CURDIR)/build-asan/vram-swapd $(PY) -m unittest \
		tests/nbd/test_protocol.py tests/nbd/test_lifecycle.py tests/nbd/test_edges.py \
		tests/nbd/test_chunks.py tests/nbd/test_slots.py tests/nbd/test_control.py \
		tests/nbd/test_handover.py
