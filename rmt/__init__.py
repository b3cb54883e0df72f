"""RMT: a reconfigurable match-action VM for learned, verified Linux kernel decisions.

Everything the project installs lives under this one namespace; the repository keeps one
top-level folder per stage and pyproject.toml maps each to its name here:

    rmt.contract     ISA, object and weights formats, hook specs, engine protocol (the bottom)
    rmt.lang         the .rmt language: parser, checker          (rmt_lang/)
    rmt.compiler     .rmt -> bytecode object; rmtc               (compiler/)
    rmt.verifier     Z3-backed proofs over an object             (verifier/)
    rmt.semantics    the reference engine                        (semantics/)
    rmt.vm           the C VM as a userspace library (cffi)      (rmt_vm/)
    rmt.ctl          rmtctl: sim and kernel targets              (rmtctl/)
    rmt.learn, rmt.model_import, rmt.sched_sim, rmt.swap_sim, rmt.casestudies
"""
