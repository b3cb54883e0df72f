"""Userspace learning for RMT programs: numpy only (matplotlib for plots).

Small generic modules, each usable on its own:
* `mlp`      dense ReLU MLP with sigmoid heads, Adam, class weights, progress;
* `tree`     CART over integer features, multi-output, per-output sample
             weights (variance reduction; on 0/1 targets this is Gini);
* `quantize` float MLP / tree -> `rmt.contract.weights` blobs in the VM's fixed
             point, and an exact integer emulation of the VM's inference;
* `metrics`  accuracy / precision / recall / F1 / confusion matrices;
* `plots`    PNG figures (matplotlib, imported lazily);
* `features` the forced-migration features: trace records <-> model inputs.
"""
