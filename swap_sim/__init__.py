"""A page-fault simulator for swap prefetchers (the `mm.swap_fault` hook on the sim target).

A page-access trace is replayed through an LRU memory limit; evicted pages go
to a swap device with modelled latency; on a major swap fault a pluggable
prefetcher (Linux 6.1 readahead, Leap, or an RMT program in a VM engine)
chooses pages to read into a bounded prefetch buffer (the swap cache).  The
simulator counts faults, prefetches issued / used / evicted unused and models
run time; `swap_sim.metrics` turns the counts into coverage, accuracy and
pollution.

Modules: `trace` (trace files, synthetic patterns), `simulator` (memory,
swap, buffer, counters), `prefetch` (the prefetcher protocol and the
no-prefetch baseline), `readahead` (Linux 6.1 cluster and VMA readahead),
`leap` (Leap), `rmt_prefetcher` (an RMT program through an Engine),
`metrics` (derived figures and the run-time model), `experiment` (split, training
faults, loading the program with `rmtctl`, evaluation; used by casestudies/prefetch_eval.py).
"""
from rmt.swap_sim.simulator import Counters, SimConfig, Simulator, simulate

__all__ = ["Counters", "SimConfig", "Simulator", "simulate"]
