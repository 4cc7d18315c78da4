// Prefill throughput of the LibTorch forward pass against the rate LibTorch's
// own matrix multiply reaches on the same GEMM shapes, in one process (so the
// machine's noise affects both alike).
//
//   bench_prefill [--preset smollm2-135m] [--tokens 512] [--reps 5] [--threads 2]
//
// ratio = (linear FLOPs of one prefill / prefill time) / (same FLOPs / time of
// the bare GEMMs): how much of the achievable GEMM rate the whole forward keeps.
// Attention's own matrix products are not counted as useful FLOPs: conservative.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include "core/blas_setup.h"
#include "model/forward.h"
#include "model/synthetic.h"

namespace {

template <typename F>
double median_seconds(int reps, F&& f) {
  f();  // warm-up: allocator, BLAS buffers, page faults
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  slmkit::ensure_fast_blas(argc, argv);
  std::string preset = "smollm2-135m";
  int64_t tokens = 512;
  int reps = 9, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--preset")) preset = argv[i + 1];
    else if (!std::strcmp(argv[i], "--tokens")) tokens = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
  }
  at::set_num_threads(threads);
  c10::InferenceMode guard;
  const slmkit::Model model = slmkit::synthesize_model(slmkit::preset_config(preset), 0);

  // Linear shapes (out, in) → how many layers use them.
  std::map<std::pair<int64_t, int64_t>, int> shapes;
  double linear_flops = 0;
  for (const auto& [name, l] : model.linears) {
    shapes[{l.out_features(), l.in_features()}]++;
    linear_flops += 2.0 * static_cast<double>(tokens) * static_cast<double>(l.out_features() * l.in_features());
  }
  // Bare GEMMs with the same shapes and counts as the model's linears.
  std::vector<std::pair<at::Tensor, at::Tensor>> gemms;
  std::vector<int> counts;
  for (const auto& [shape, count] : shapes) {
    gemms.emplace_back(at::randn({tokens, shape.second}), at::randn({shape.first, shape.second}) * 0.02);
    counts.push_back(count);
  }
  auto run_gemms = [&] {
    for (size_t i = 0; i < gemms.size(); ++i)
      for (int c = 0; c < counts[i]; ++c) at::linear(gemms[i].first, gemms[i].second);
  };
  const at::Tensor ids = at::randint(0, model.config.vocab_size, {1, tokens}, at::kLong);
  auto run_prefill = [&] { slmkit::forward(model, ids); };

  // The machine is shared and noisy: alternate the two measurements round by
  // round and report medians, so drifts in machine speed hit both alike.
  std::vector<double> gemm_t, prefill_t, ratio;
  run_gemms();
  run_prefill();
  for (int r = 0; r < reps; ++r) {
    const double g = median_seconds(1, run_gemms), p = median_seconds(1, run_prefill);
    gemm_t.push_back(g);
    prefill_t.push_back(p);
    ratio.push_back(g / p);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double gemm_seconds = median(gemm_t), prefill_seconds = median(prefill_t);
  const double gemm_rate = linear_flops / gemm_seconds / 1e9;
  const double prefill_rate = linear_flops / prefill_seconds / 1e9;
  std::printf("preset %s, %lld tokens, %d threads, BLAS core %s, %d interleaved rounds (medians)\n", preset.c_str(),
              static_cast<long long>(tokens), at::get_num_threads(), slmkit::blas_core_name(), reps);
  std::printf("bare GEMMs:  %.3f s  %.1f GFLOP/s\n", gemm_seconds, gemm_rate);
  std::printf("prefill:     %.3f s  %.1f GFLOP/s (linear FLOPs only)  %.1f tokens/s\n", prefill_seconds, prefill_rate,
              static_cast<double>(tokens) / prefill_seconds);
  std::printf("ratio prefill/GEMM rate: %.1f%% (median of per-round ratios; min %.1f%%, max %.1f%%)\n",
              100.0 * median(ratio), 100.0 * *std::min_element(ratio.begin(), ratio.end()),
              100.0 * *std::max_element(ratio.begin(), ratio.end()));
  return 0;
}
