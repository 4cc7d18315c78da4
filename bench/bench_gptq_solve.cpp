// GPTQ's per-layer solve alone (Hessian given): what the reference Python
// implementation's `fasterquant` does, timed on the same shape.
//
//   bench_gptq_solve [--out 576] [--in 1536] [--tokens 4096] [--bits 4] [--group 128]
//                    [--act-order 0|1] [--reps 5] [--threads 2]
//
// Inputs: W ~ N(0, 0.02²) [out, in]; H = XᵀX over `tokens` rows of X whose
// channels have log-normal scales (outlier channels, as real activations have).
// Prints the median seconds of quantize_gptq and the relative output error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include "core/blas_setup.h"
#include "quantize/gptq.h"

int main(int argc, char** argv) {
  slmkit::ensure_fast_blas(argc, argv);
  int64_t out = 576, in = 1536, tokens = 4096, group = 128;
  int bits = 4, reps = 5, threads = 2, act_order = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const long long v = std::stoll(argv[i + 1]);
    if (a == "--out") out = v;
    else if (a == "--in") in = v;
    else if (a == "--tokens") tokens = v;
    else if (a == "--bits") bits = static_cast<int>(v);
    else if (a == "--group") group = v;
    else if (a == "--act-order") act_order = static_cast<int>(v);
    else if (a == "--reps") reps = static_cast<int>(v);
    else if (a == "--threads") threads = static_cast<int>(v);
    else { std::fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  at::set_num_threads(threads);
  c10::InferenceMode guard;
  at::manual_seed(0);
  const at::Tensor w = at::randn({out, in}) * 0.02;
  const at::Tensor x = at::randn({tokens, in}) * at::exp(at::randn({in}) * 0.5);
  const at::Tensor h = at::mm(x.t(), x);
  slmkit::GptqConfig cfg;
  cfg.grid.bits = bits;
  cfg.grid.group_size = group;
  cfg.act_order = act_order != 0;

  std::vector<double> t;
  slmkit::IntegerWeights q;
  for (int r = 0; r <= reps; ++r) {  // r = 0 is a warm-up
    const auto t0 = std::chrono::steady_clock::now();
    q = slmkit::quantize_gptq(w, h, cfg);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) t.push_back(s);
  }
  std::sort(t.begin(), t.end());
  const at::Tensor d = w - q.dequantize();
  const double err = (at::mm(d, h) * d).sum().item<double>() / (at::mm(w, h) * w).sum().item<double>();
  std::printf("gptq solve [%lld x %lld] %d-bit g%lld act_order %d, %d threads: median %.4f s (min %.4f, max %.4f) "
              "over %d reps; relative output error %.4e\n",
              static_cast<long long>(out), static_cast<long long>(in), bits, static_cast<long long>(group), act_order,
              threads, t[t.size() / 2], t.front(), t.back(), reps, err);
  return 0;
}
