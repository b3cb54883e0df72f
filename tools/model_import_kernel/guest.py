"""Guest side of `forced_migration_sklearn.py --kernel`: run the imported models in rmt.ko.

    python3 guest.py FILES OUT.json

FILES holds prog.rmtb, predictor.bin, tree_predictor.bin and ctxs.bin (contexts of the
hook's size, back to back).  The program is loaded into /dev/rmt, both blobs with
RMT_IOC_MODEL_LOAD, every context run once (RMT_IOC_PROG_RUN on CPU 0), and the trace
records (the models' raw outputs among them) are written to OUT.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rmt.contract import objfile
from rmt.ctl.kernel import KernelEngine, RmtDevice


def main(files: Path, out: Path) -> int:
    obj = (files / "prog.rmtb").read_bytes()
    prog = objfile.read(obj)
    raw = (files / "ctxs.bin").read_bytes()
    size = prog.hook.ctx_size
    ctxs = [raw[i:i + size] for i in range(0, len(raw), size)]
    cap = 1 << max(6, len(ctxs).bit_length())
    with RmtDevice() as dev:
        eng = KernelEngine.load(dev, obj, trace_capacity=cap)
        try:
            for i, m in enumerate(prog.models):
                eng.model_load(i, (files / f"{m.name}.bin").read_bytes())
            for c in ctxs:
                eng.run(c)
            recs = eng.trace_drain()
        finally:
            eng.unload()
    out.write_text(json.dumps({"runs": len(ctxs),
                               "records": [[r.fmt, list(r.values)] for r in recs]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
