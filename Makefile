# Entry points: `make demo` runs the main job on the simulator target, `make test` runs every
# test. Both create the virtual environment .venv from the repo's own files first.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
# The tests' helper folders (pytest's pythonpath in pyproject.toml), for the scripts outside
# tests/ that drive guests with those helpers (make stress, make bench-kmod-jit).
TEST_PYTHONPATH = $(shell python3 -c 'import tomllib; c = tomllib.load(open("pyproject.toml", "rb")); print(":".join(c["tool"]["pytest"]["ini_options"]["pythonpath"]))')
STAMP   := $(VENV)/.installed

.PHONY: setup demo test test-asan clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev,ml-test]'
	$(MAKE) man
	touch $@

# rmtctl's man page from its own argparse parser (argparse-manpage), also installed
# into the venv's share/man so that `man rmtctl` finds it with the venv on MANPATH.
.PHONY: man
man:
	mkdir -p build/man $(VENV)/share/man/man8
	$(VENV)/bin/argparse-manpage --module rmt.ctl.cli --function build_parser --prog rmtctl \
	    --project-name rmt --manual-section 8 --manual-title "RMT manual" \
	    --description "control inserted RMT programs" --output build/man/rmtctl.8
	cp build/man/rmtctl.8 $(VENV)/share/man/man8/rmtctl.8

demo: setup
	$(VENV)/bin/rmt-demo

test: setup test-asan
	$(VPY) -m pytest tests --durations=20

# The C VM under AddressSanitizer + UBSan, running the C-engine tests (vm_kernel/Makefile).
test-asan: setup
	$(MAKE) -C vm_kernel test-asan PY=$(abspath $(VPY))

# rmtctl's sim target killed at every filesystem write of every mutating command
# (tests/test_rmtctl_crash.py; `make test` runs two kill points per command).
.PHONY: test-crash
test-crash: setup
	RMT_CRASH_FULL=1 $(VPY) -m pytest tests/test_rmtctl_crash.py -q -s

clean:
	rm -rf $(VENV) build

# Case study 1 (docs/results.md): collect traces through the sim target, train, quantize,
# load, evaluate in the C VM, measure the veto policy; results/forced_migration/.
# The loop that keeps a model fresh (docs/results.md, "Keeping a model fresh"): `rmtctl model
# refresh` after each simulated epoch, cpu_bound then numa, a hand push rolled back; about
# 3 minutes.  docs/img/model_loop_accuracy.png and docs/img/model_loop.json.
.PHONY: loop-demo
loop-demo: setup
	$(VENV)/bin/rmt-loop-demo --out results/model_loop --img docs/img

.PHONY: forced-migration
forced-migration: setup
	$(VENV)/bin/rmt-forced-migration

# Case study 1 the way people bring models (docs/models.md): the same traces, scikit-learn
# models exported to ONNX, `rmtc model import`, run in the C VM; results/forced_migration_sklearn/.
.PHONY: forced-migration-sklearn
forced-migration-sklearn: setup
	$(VENV)/bin/rmt-forced-migration-sklearn

# Case study 2 (docs/results.md): every swap prefetcher (Linux readahead, Leap, the learned
# RMT program in the C VM) on every workload; table and plots in results/swap_prefetch/.
# Traces come from traces/ (regenerate: $(VPY) tools/swap_traces/capture.py).
.PHONY: prefetch-eval
prefetch-eval: setup
	$(VENV)/bin/rmt-prefetch-eval

# Case study 2 in the real kernel (docs/results.md): the real programs and the synthetic ones
# in Debian's 6.1 guest, swap on virtio-blk behind dm-delay, cgroup v2 memory.max at 25/50/75%
# of each working set, under readahead / readahead off / Leap / the learned program (rmt.ko's
# exact-page prefetch), interleaved in one boot; results/kernel_prefetch/. Hours under TCG:
# KPF_ARGS narrows it, e.g. KPF_ARGS='--only strided seq --fracs 0.5 --rounds 3'.
KPF_ARGS ?=
.PHONY: kernel-prefetch-eval
kernel-prefetch-eval: setup
	tools/qemu/prefetch-workloads-setup.sh
	$(VENV)/bin/rmt-kernel-prefetch-eval $(KPF_ARGS)

# Case study 2 on programs the model was not trained on: leave-one-program-out at 25/50/75%
# memory (docs/results.md); tables in results/swap_loo/MEM/ (loo.md, results.json). Long: run
# it alone. Any directory of traces: casestudies/prefetch_eval.py --eval-traces DIR [--json FILE].
.PHONY: prefetch-loo
prefetch-loo: setup
	for m in 0.25 0.5 0.75; do \
		$(VENV)/bin/rmt-prefetch-eval --loo --mem-frac $$m --no-plots \
			--out results/swap_loo/$$m --json results/swap_loo/$$m.json || exit 1; \
	done

# The adaptive prefetcher (examples/adaptive_prefetch.rmt: chain, tree and Leap's trend chosen
# per process) on programs it was not trained on: leave-one-program-out over traces/ and the
# new programs of traces/new/ (trained on traces/ only), at 25/50/75% memory, min_stable 20
# (docs/results.md); results/swap_adaptive/{loo,new}-MEM/. Long (a verification of the program
# per run, 4-11 min here, then the folds): run it alone.
.PHONY: prefetch-adaptive
prefetch-adaptive: setup
	for m in 0.25 0.5 0.75; do \
		$(VENV)/bin/rmt-prefetch-eval --program examples/adaptive_prefetch.rmt --min-stable 20 \
			--no-ablations --no-plots --loo --mem-frac $$m --out results/swap_adaptive/loo-$$m \
			--json results/swap_adaptive/loo-$$m.json || exit 1; \
		$(VENV)/bin/rmt-prefetch-eval --program examples/adaptive_prefetch.rmt --min-stable 20 \
			--no-ablations --no-plots --eval-traces traces/new --mem-frac $$m \
			--out results/swap_adaptive/new-$$m --json results/swap_adaptive/new-$$m.json || exit 1; \
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
	$(VENV)/bin/rmt-kernel-traces --out results/kernel_traces
	$(VENV)/bin/rmt-kernel-loop --traces results/kernel_traces

# Case study 1 on a multi-node guest (docs/results.md, "Case study 1 on a multi-node guest"):
# one boot with 2 nodes x 2 cores x 2 threads (SMT, MC and NUMA sched domains) under TCG,
# sysctl_sched_migration_cost 20 ms, NUMA-bound and imbalanced-pinned workloads in rounds
# until 200 forced migrations are traced or KT_NUMA_BUDGET guest seconds are spent (~45 min
# in all on the 2-core machine), then the same evaluation (`make forced-migration` first for
# the transfer columns).  The mechanism is tested in tests/kernel/test_kernel_traces.py.
KT_NUMA_BUDGET ?= 2400
KT_NUMA_WORKLOADS ?= numa_cross,numa_pinned,numa_remote,pinned_mix,yield,switch
.PHONY: kernel-traces-numa
kernel-traces-numa: setup
	$(VENV)/bin/rmt-kernel-traces --out results/kernel_traces_numa --topology 2x2x2 \
		--workloads $(KT_NUMA_WORKLOADS) --seconds 30 --migration-cost-ns 20000000 \
		--until-forced 200 --budget $(KT_NUMA_BUDGET)
	$(VENV)/bin/rmt-kernel-loop --traces results/kernel_traces_numa

# Concurrency stress of rmt.ko in the QEMU guest (docs/robustness.md): table writers and
# model swappers on /dev/rmt alone until 100,000 swaps (kernel memory compared), then
# STRESS_SECONDS while sched.can_migrate_task and mm.swap_fault check every entry and
# inference; rmmod with the programs attached. About 7-8 minutes; JSON in build/stress/.
STRESS_SECONDS ?= 300
.PHONY: stress
stress: setup
	PYTHONPATH=$(TEST_PYTHONPATH) $(VPY) tools/stress_kmod.py --seconds $(STRESS_SECONDS) --min-swaps 100000 \
		--json build/stress/stress.json

# The committed ioctl fuzz corpus (tests/fuzz/ioctl_corpus/) replayed on rmt.ko in the guest,
# compared call by call with the userspace build (docs/robustness.md); `make fuzz` grows it.
.PHONY: fuzz-ioctl-replay
fuzz-ioctl-replay: setup
	$(VPY) -m pytest tests/kernel/test_kmod_ioctl_replay.py -q -s

# rmt.ko's interpreter vs its JIT (vm_kernel/kmod/rmt_kmod_jit.c) in the QEMU guest, one boot:
# every example program attached to its hook in turn, BENCH_KMOD_JIT_ROUNDS interleaved rounds,
# the hooks' own ns_total / ns_vm / runs (docs/benchmarks.md, "rmt.ko: interpreter vs JIT").
# BENCH_KMOD_JIT_CLOCK=tsc reads the guest's TSC instead of the HPET.  About 15 minutes on an
# idle host; JSON in build/bench_kmod_jit.json.
BENCH_KMOD_JIT_ROUNDS ?= 3
BENCH_KMOD_JIT_CLOCK ?= hpet
.PHONY: bench-kmod-jit
bench-kmod-jit: setup
	PYTHONPATH=$(TEST_PYTHONPATH) $(VPY) bench/bench_kmod_jit.py --rounds $(BENCH_KMOD_JIT_ROUNDS) \
		--clock $(BENCH_KMOD_JIT_CLOCK) --out build/bench_kmod_jit_$(BENCH_KMOD_JIT_CLOCK).json

# rmt.ko's MLP engine at the hooks: rmt.model_isa=scalar vs avx2 (in a kernel FPU
# section), interleaved in one boot (docs/benchmarks.md).
BENCH_KMOD_SIMD_ROUNDS ?= 5
.PHONY: bench-kmod-simd
bench-kmod-simd: setup
	PYTHONPATH=$(TEST_PYTHONPATH) $(VPY) bench/bench_kmod_simd.py --rounds $(BENCH_KMOD_SIMD_ROUNDS) \
		--out build/bench_kmod_simd.json

# The QEMU suite with net.core.bpf_jit_enable=0 set at boot: rmt.ko's programs then run on
# its interpreter (counted in /sys/module/rmt/parameters/jit_stats); `make test` runs it
# with the JIT on.
.PHONY: test-kernel-nojit
test-kernel-nojit: setup
	RMT_GUEST_BPF_JIT=0 $(VPY) -m pytest tests/kernel -q

# Mutation testing (docs/robustness.md, "Mutation testing"): not part of `make test`.
# The C safety checks of tools/mutate_c.py, each removed in turn (mutate-c), then mutmut over
# the Python modules that decide accept/reject (mutate-py: tools/mutate_py.py's sets, each
# against its fast corpus categories; validator + taint + bounds took 62 minutes on the loaded
# 2-core host (nice 0; the validator at 10)).  Empty MUTATE_PY_SETS: the tool's DEFAULT_SETS
# (the one list); MUTATE_PY_SETS="taint static" picks others.
MUTATE_PY_SETS ?=
MUTATE_PY_NICE ?= 10
.PHONY: mutate mutate-c mutate-py
mutate: mutate-c mutate-py
mutate-c: setup
	$(VPY) tools/mutate_c.py --json build/mutate_c.json
mutate-py: setup
	$(VPY) tools/mutate_py.py run $(if $(strip $(MUTATE_PY_SETS)),--set $(MUTATE_PY_SETS)) --nice $(MUTATE_PY_NICE) \
		--json build/mutate_py.json
