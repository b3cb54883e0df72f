# Entry points: `make demo` runs the main job on the simulator target, `make test` runs every
# test. Both create the virtual environment .venv from the repo's own files first.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: setup demo test test-asan clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(VPY) tools/demo.py

test: setup test-asan
	$(VPY) -m pytest tests

# The C VM under AddressSanitizer + UBSan, running the C-engine tests (vm_kernel/Makefile).
test-asan: setup
	$(MAKE) -C vm_kernel test-asan PY=$(abspath $(VPY))

clean:
	rm -rf $(VENV) build

# Case study 1 (docs/results.md): collect traces through the sim target, train, quantize,
# load, evaluate in the C VM, measure the veto policy; results/forced_migration/.
.PHONY: forced-migration
forced-migration: setup
	$(VPY) tools/forced_migration_loop.py

# Case study 2 (docs/results.md): every swap prefetcher (Linux readahead, Leap, the learned
# RMT program in the C VM) on every workload; table and plots in results/swap_prefetch/.
# Traces come from traces/ (regenerate: $(VPY) tools/swap_traces/capture.py).
.PHONY: prefetch-eval
prefetch-eval: setup
	$(VPY) tools/prefetch_eval.py

# Case study 2 on programs the model was not trained on: leave-one-program-out at 25/50/75%
# memory (docs/results.md); tables in results/swap_loo/MEM/ (loo.md, results.json). Long: run
# it alone. Any directory of traces: tools/prefetch_eval.py --eval-traces DIR [--json FILE].
.PHONY: prefetch-loo
prefetch-loo: setup
	for m in 0.25 0.5 0.75; do \
		$(VPY) tools/prefetch_eval.py --loo --mem-frac $$m --no-plots \
			--out results/swap_loo/$$m --json results/swap_loo/$$m.json || exit 1; \
	done

# Coverage-guided fuzzing (docs/robustness.md, "Fuzzing"): the libFuzzer targets of tools/fuzz/
# (loader/validator/interpreter vs JIT, tables, weight blobs) under ASan+UBSan, FUZZ_SECONDS
# each, one at a time under nice; then llvm-cov coverage of vm_kernel/, the C-vs-Python loader
# differential on the whole corpus, and the verifier's soundness oracle with coverage.py.
# Figures go to build/fuzz/*.json; crashes to build/fuzz/artifacts/ (add each to
# tests/fuzz/regressions/<target>/ once fixed).
FUZZ_SECONDS ?= 600
.PHONY: fuzz
fuzz: setup
	$(VPY) tools/fuzz/run.py --seconds $(FUZZ_SECONDS) --cov --json build/fuzz/c.json
	nice -n 19 $(VPY) tools/fuzz/loader_diff.py --verifier build/fuzz/corpus/fuzz_load
	nice -n 19 $(VPY) tools/fuzz/verifier_fuzz.py --seconds $(FUZZ_SECONDS) --cov \
		--json build/fuzz/verifier.json

# Case study 1 on a real kernel (docs/results.md, "Case study 1 on real-kernel traces"): one
# QEMU boot of Debian's 6.1 kernel, rmt.ko + forced_migration.rmt in shadow mode under five
# real workloads (~6 min of guest time), traces drained with `rmtctl --target kernel trace`
# into results/kernel_traces/traces/; then the sim-trained models on those calls and models
# trained on them, leave one workload out.  Uses results/forced_migration/models/ when present
# (`make forced-migration` first), all-zero weights otherwise.
.PHONY: kernel-traces
kernel-traces: setup
	$(VPY) tools/kernel_traces.py --out results/kernel_traces
	$(VPY) tools/kernel_loop.py --traces results/kernel_traces

# Concurrency stress of rmt.ko in the QEMU guest (docs/robustness.md): table writers and
# model swappers on /dev/rmt alone until 100,000 swaps (kernel memory compared), then
# STRESS_SECONDS while sched.can_migrate_task and mm.swap_fault check every entry and
# inference; rmmod with the programs attached. About 7-8 minutes; JSON in build/stress/.
STRESS_SECONDS ?= 300
.PHONY: stress
stress: setup
	$(VPY) tools/stress_kmod.py --seconds $(STRESS_SECONDS) --min-swaps 100000 \
		--json build/stress/stress.json

# The committed ioctl fuzz corpus (tests/fuzz/ioctl_corpus/) replayed on rmt.ko in the guest,
# compared call by call with the userspace build (docs/robustness.md); `make fuzz` grows it.
.PHONY: fuzz-ioctl-replay
fuzz-ioctl-replay: setup
	$(VPY) -m pytest tests/kernel/test_kmod_ioctl_replay.py -q -s
