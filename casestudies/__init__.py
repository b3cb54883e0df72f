"""The case-study pipelines users run, each a module with a `main()` and a console script:

    rmt-demo                       the main job on the simulator target (`make demo`)
    rmt-forced-migration           case study 1 on the sim target: collect, train, quantize, load,
                                   evaluate (forced_migration_loop.py; `make forced-migration`)
    rmt-forced-migration-sklearn   the same with scikit-learn models imported (`make forced-migration-sklearn`)
    rmt-kernel-traces              case study 1's traces from rmt.ko in a QEMU guest (`make kernel-traces`)
    rmt-kernel-loop                the sim-trained models on those kernel traces
    rmt-loop-demo                  `rmtctl model refresh` after each simulated epoch, across a
                                   workload change (model_loop_demo.py; `make loop-demo`)
    rmt-loop-train                 the demo's trainer: case study 1's MLP on the latest records
    rmt-example-weights            placeholder (all-zero) weights for every model of an object
    rmt-prefetch-eval              case study 2: every swap prefetcher on every trace, the learned
                                   ones loaded with rmtctl (`make prefetch-eval`, `--loo`, `--eval-traces`)
    rmt-kernel-prefetch-eval       case study 2 in rmt.ko under QEMU, interleaved in one boot
                                   (`make kernel-prefetch-eval`; the guest half is kernel_prefetch_guest.py)

They read examples/, traces/ and vm_kernel/ from a source checkout and write under its
results/ (rmt.contract.project: $RMT_HOME, the package's own checkout, or the one holding the
current directory); `@project.cli` turns a missing checkout into one line and exit 2.

Developer tooling (fuzzers, the QEMU harness scripts, trace capture helpers) stays in tools/.
"""
