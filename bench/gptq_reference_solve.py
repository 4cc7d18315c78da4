#!/usr/bin/env python3
"""Times the reference GPTQ solve (IST-DASLab gptq.py `fasterquant`, CPU) on the
shape and inputs bench_gptq_solve uses, for the issue-3 speed comparison.

The reference code is not part of slmkit: clone https://github.com/IST-DASLab/gptq
anywhere and pass its directory. Needs Debian's python3-torch (or any PyTorch).

  /usr/bin/python3 bench/gptq_reference_solve.py --gptq-dir /tmp/gptq [--out 576 --in 1536 ...]
"""
import argparse
import statistics
import sys
import time
import types

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--gptq-dir", required=True)
ap.add_argument("--out", type=int, default=576)
ap.add_argument("--in", dest="inp", type=int, default=1536)
ap.add_argument("--tokens", type=int, default=4096)
ap.add_argument("--bits", type=int, default=4)
ap.add_argument("--group", type=int, default=128)
ap.add_argument("--act-order", type=int, default=0)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

# gptq.py imports transformers only for isinstance(layer, transformers.Conv1D).
sys.modules.setdefault("transformers", types.SimpleNamespace(Conv1D=type("Conv1D", (), {})))
sys.path.insert(0, a.gptq_dir)
import gptq as ref  # noqa: E402

# fasterquant ends with torch.cuda.synchronize(); a CPU-only torch has nothing to wait for.
torch.cuda.synchronize = lambda *args, **kwargs: None
torch.set_num_threads(a.threads)
torch.manual_seed(0)
w = torch.randn(a.out, a.inp) * 0.02
x = torch.randn(a.tokens, a.inp) * torch.exp(torch.randn(a.inp) * 0.5)
h = x.t() @ x

times = []
for r in range(a.reps + 1):  # r = 0 is a warm-up
    layer = torch.nn.Linear(a.inp, a.out, bias=False)
    layer.weight.data = w.clone()
    g = ref.GPTQ(layer)
    g.H = h.clone()
    g.nsamples = a.tokens
    g.quantizer = ref.Quantizer()
    g.quantizer.configure(a.bits, perchannel=True, sym=False, mse=False)
    t0 = time.perf_counter()
    g.fasterquant(blocksize=128, percdamp=0.01, groupsize=a.group, actorder=bool(a.act_order))
    if r > 0:
        times.append(time.perf_counter() - t0)
print(f"reference gptq.py solve [{a.out} x {a.inp}] {a.bits}-bit g{a.group} act_order {a.act_order}, "
      f"{a.threads} threads, torch {torch.__version__}: median {statistics.median(times):.4f} s "
      f"(min {min(times):.4f}, max {max(times):.4f}) over {a.reps} reps")
