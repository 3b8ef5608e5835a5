# Benchmarks. `make bench` prints figures and writes BENCHMARKS.md plus
# plots from fresh raw results (about 14 minutes); it is not part of
# `make check`. check-bench-smoke runs the same harness for about a second
# per row on a small export to prove the scripts still produce well-formed
# CSV, a report and plots (about 20 s).

BENCH_OUT     ?= bench/results
BENCH_SECONDS ?= 2
BENCH_ROUNDS  ?= 2
BENCH_ARGS    ?=
BENCH_EXTRA   := --extra bench/profile.md --extra bench/changes.md
# The GPU run (bench/cuda-gpu.sh on a real GPU) the report leads with.
BENCH_GPU     ?= bench/results/gpu-h200-standard.log
BENCH_COMPRESS ?= bench/results/gpu-h100-compress.log
BENCH_ZRAM    ?= bench/results/zram-ratio.log
# The GPU e2e runs with fio in pairs, each an off run and then an lz4 run
# on one machine (bench/fiolog.py compares within a pair).
BENCH_FIO_RUN := tests/e2e/results/gpu-h200-fio
BENCH_FIO     ?= $(BENCH_FIO_RUN)-off-8e1b0af.log $(BENCH_FIO_RUN)-lz4-8e1b0af.log \
                 $(BENCH_FIO_RUN)-off-2071cbd-1.log $(BENCH_FIO_RUN)-lz4-2071cbd-1.log \
                 $(BENCH_FIO_RUN)-off-2071cbd-2.log $(BENCH_FIO_RUN)-lz4-2071cbd-2.log
# Built by mk/core.mk and mk/cuda.mk (the fake libcuda makes the cuda row).
BENCH_DEPS    := $(BUILD)/vram-swapd $(BUILD)/nbdtool $(BUILD)/nbdraw $(BUILD)/fakecuda/libcuda.so.1

.PHONY: bench bench-report bench-profile check-bench-smoke
check: check-bench-smoke

# The raw-socket load tool (the kernel client's way of talking NBD).
$(BUILD)/nbdraw: tests/tools/nbdraw.c | $(BUILD)
	$(CC) $(WARN) -O2 -g -o $@ $< -pthread

bench: $(BENCH_DEPS)
	$(PY) bench/run.py --out $(BENCH_OUT) --seconds $(BENCH_SECONDS) \
		--rounds $(BENCH_ROUNDS) --nbdraw $(BUILD)/nbdraw --nbdtool $(BUILD)/nbdtool \
		$(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-report

# Regenerates the report and plots from the CSV already there.
bench-report:
	$(PY) bench/report.py $(BENCH_OUT) BENCHMARKS.md --plots $(BENCH_OUT)/plots $(BENCH_EXTRA) \
		$(if $(wildcard $(BENCH_GPU)),--gpu $(BENCH_GPU)) \
		$(if $(wildcard $(BENCH_COMPRESS)),--compress $(BENCH_COMPRESS)) \
		$(if $(wildcard $(BENCH_ZRAM)),--zram $(BENCH_ZRAM)) \
		$(foreach f,$(wildcard $(BENCH_FIO)),--fio $(f))
	@sed -n '/^## Summary/,/^Target misses/p' BENCHMARKS.md

check-bench-smoke: $(BENCH_DEPS)
	$(PY) bench/test_report.py
	rm -rf $(BUILD)/bench-smoke
	$(PY) bench/run.py --plan smoke --seconds 1 --ramp 0 --size 67108864 \
		--out $(BUILD)/bench-smoke --nbdraw $(BUILD)/nbdraw --nbdtool $(BUILD)/nbdtool
	$(PY) bench/report.py $(BUILD)/bench-smoke $(BUILD)/bench-smoke/BENCHMARKS.md
	$(PY) bench/check_smoke.py $(BUILD)/bench-smoke

# Per-request profile (callgrind, strace, perf) into build/profile/; the
# written analysis is bench/profile.md. About a minute.
bench-profile: $(BUILD)/vram-swapd
	bench/profile.sh $(BUILD)/profile
