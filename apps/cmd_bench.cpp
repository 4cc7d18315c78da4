// slmkit bench MODEL: speed of the native runtime — prefill tokens/s, batch-1
// decode tokens/s, peak RSS, bytes read per decoded token and the fraction of
// the machine's memory bandwidth (built-in STREAM triad at the same thread
// count) — and, in the same process, LibTorch's fp32 GEMM rate on the model's
// prefill shapes as the yardstick for prefill.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "io/atomic_file.h"
#include "runtime/benchmark.h"
#include "runtime/cpu_features.h"
#include "runtime/kernels_bandwidth.h"

namespace slmkit::cli {
namespace {

std::string first_line_with(const char* path, const std::string& key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (key.empty() || line.rfind(key, 0) == 0) return line;
  return "";
}

std::string cpu_name() {
  const std::string line = first_line_with("/proc/cpuinfo", "model name");
  const size_t colon = line.find(':');
  return colon == std::string::npos ? "unknown" : line.substr(colon + 2);
}

// 1-minute load average: how busy the machine was (noise in the numbers).
double load_average() {
  std::ifstream f("/proc/loadavg");
  double l = 0;
  f >> l;
  return l;
}

// LibTorch's fp32 GEMM rate on the decoder linears of a `tokens`-token prefill:
// one at::mm per distinct [out, in] shape (median of repeats), weighted by how
// often the shape occurs. GFLOP/s.
double torch_gemm_gflops(const runtime::DecoderModel& m, int64_t tokens, int repeats) {
  c10::InferenceMode guard;
  std::map<std::pair<int64_t, int64_t>, int64_t> shapes;  // (out, in) → count
  for (const auto& l : m.layers)
    for (const auto* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      if (lin->weight.out_features > 0) ++shapes[{lin->weight.out_features, lin->weight.in_features}];
  double seconds = 0, flops = 0;
  for (const auto& [shape, count] : shapes) {
    const auto [out, in] = shape;
    const at::Tensor x = at::randn({tokens, in}, at::kFloat);
    const at::Tensor w = at::randn({out, in}, at::kFloat);
    std::vector<double> t;
    for (int rep = 0; rep <= repeats; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      const at::Tensor y = at::linear(x, w);
      if (rep > 0) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    seconds += t[t.size() / 2] * static_cast<double>(count);
    flops += 2.0 * static_cast<double>(tokens * out * in * count);
  }
  return flops / seconds * 1e-9;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, prefill_list, kv_dtype, json_path;
  runtime::BenchConfig config;
  bool no_torch = false;
  po::options_description desc("bench options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "checkpoint directory or file")
      ("prefill", po::value<std::string>(&prefill_list)->default_value("128,512"), "prompt lengths for prefill")
      ("decode-tokens", po::value<int64_t>(&config.decode_tokens)->default_value(128), "tokens decoded per repeat")
      ("decode-context", po::value<int64_t>(&config.decode_context)->default_value(16),
       "prompt tokens before decoding starts")
      ("reps", po::value<int>(&config.repeats)->default_value(5), "timed repeats (median reported)")
      ("kv-dtype", po::value<std::string>(&kv_dtype)->default_value("f32"), "KV cache f32 or f16")
      ("no-torch-gemm", po::bool_switch(&no_torch), "skip the LibTorch fp32 GEMM reference")
      ("json", po::value<std::string>(&json_path), "write the results as JSON to this file");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit bench MODEL [--threads N] [--prefill 128,512] [--decode-tokens N] [--json PATH]",
                  desc, "model", 1, vm))
    return 0;
  SLMKIT_CHECK(vm["dtype"].defaulted(), "--dtype does not apply to bench: the native runtime keeps each weight in ",
               "its stored type and computes in float32");
  config.prefill_tokens.clear();
  for (const std::string& p : split_commas(prefill_list)) {
    try {
      config.prefill_tokens.push_back(std::stoll(p));
    } catch (const std::exception&) {
      throw Error(cat("--prefill \"", prefill_list, "\": expected comma-separated token counts"));
    }
  }
  SLMKIT_CHECK(!config.prefill_tokens.empty(), "--prefill needs at least one length");
  config.kv_dtype = runtime::parse_kv_dtype(kv_dtype);
  apply_threads(common);
  const int threads = at::get_num_threads();

  const double load_before = load_average();
  const auto t0 = std::chrono::steady_clock::now();
  const runtime::DecoderModel model = runtime::load_decoder_model(model_path);
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double triad = runtime::measure_triad_bandwidth_gbs(threads);
  const runtime::BenchResult r = runtime::run_benchmark(model, config);
  const double triad_after = runtime::measure_triad_bandwidth_gbs(threads);
  const double fraction = r.decode.achieved_gbs / triad;
  const int64_t peak_rss = peak_rss_bytes();  // before LibTorch's GEMM buffers
  // The reference rate at the longest prefill, against the runtime's rate there.
  const auto longest = std::max_element(r.prefill.begin(), r.prefill.end(),
                                        [](const auto& a, const auto& b) { return a.tokens < b.tokens; });
  const int64_t gemm_tokens = longest->tokens;
  double gemm = 0;
  if (!no_torch) gemm = torch_gemm_gflops(model, gemm_tokens, config.repeats);

  std::printf("model     %s\n          %s\n", model_path.c_str(), model.describe_weights().c_str());
  std::printf("machine   %s, %d threads, kernels %s, load average %.2f before / %.2f after\n", cpu_name().c_str(),
              threads, runtime::simd_path_name(runtime::active_simd_path()), load_before, load_average());
  std::printf("weights   %.1f MB in memory, %.1f MB read per token; loaded in %.2f s\n",
              model.weight_bytes_total() * 1e-6, r.decode.weight_bytes_per_token * 1e-6, load_seconds);
  for (const auto& p : r.prefill)
    std::printf("prefill   %5lld tokens: %8.1f tok/s  (%.3f s, decoder linears %.1f GFLOP/s)\n",
                static_cast<long long>(p.tokens), p.tokens_per_second, p.seconds_median, p.linear_gflops);
  if (!no_torch) {
    const double ours = longest->linear_gflops;
    std::printf("          LibTorch fp32 GEMM on the same shapes (%lld tokens): %.1f GFLOP/s -> runtime at %.0f%%\n",
                static_cast<long long>(gemm_tokens), gemm, 100.0 * ours / gemm);
  }
  std::printf("decode    %lld tokens after %lld: %.2f tok/s (%.2f ms/token), %.1f MB/token (KV %.2f MB)\n",
              static_cast<long long>(r.decode.tokens), static_cast<long long>(config.decode_context),
              r.decode.tokens_per_second, r.decode.seconds_per_token_median * 1e3,
              (r.decode.weight_bytes_per_token + r.decode.kv_bytes_per_token) * 1e-6, r.decode.kv_bytes_per_token * 1e-6);
  std::printf("bandwidth %.1f GB/s achieved, triad %.1f GB/s (%.1f after) -> %.0f%% of measured bandwidth\n",
              r.decode.achieved_gbs, triad, triad_after, 100.0 * fraction);
  std::printf("memory    peak RSS %.1f MB, RSS during decoding %.1f MB\n", peak_rss * 1e-6,
              r.rss_bytes_after_decode * 1e-6);

  if (!json_path.empty()) {
    nlohmann::json j;
    j["model"] = model_path;
    j["weights"] = model.describe_weights();
    j["machine"] = {{"cpu", cpu_name()},
                    {"threads", threads},
                    {"kernels", runtime::simd_path_name(runtime::active_simd_path())},
                    {"load_average_before", load_before},
                    {"load_average_after", load_average()}};
    j["kv_dtype"] = runtime::kv_dtype_name(config.kv_dtype);
    j["weight_bytes_total"] = model.weight_bytes_total();
    j["load_seconds"] = load_seconds;
    for (const auto& p : r.prefill)
      j["prefill"].push_back({{"tokens", p.tokens},
                              {"seconds_median", p.seconds_median},
                              {"tokens_per_second", p.tokens_per_second},
                              {"decoder_linear_gflops", p.linear_gflops}});
    j["decode"] = {{"tokens", r.decode.tokens},
                   {"context", config.decode_context},
                   {"repeats", config.repeats},
                   {"seconds_per_token_median", r.decode.seconds_per_token_median},
                   {"tokens_per_second", r.decode.tokens_per_second},
                   {"weight_bytes_per_token", r.decode.weight_bytes_per_token},
                   {"kv_bytes_per_token", r.decode.kv_bytes_per_token},
                   {"achieved_gbs", r.decode.achieved_gbs},
                   {"triad_gbs", triad},
                   {"triad_gbs_after", triad_after},
                   {"bandwidth_fraction", fraction}};
    if (!no_torch)
      j["torch_gemm"] = {{"tokens", gemm_tokens},
                         {"gflops", gemm},
                         {"runtime_prefill_fraction", longest->linear_gflops / gemm}};
    j["memory"] = {{"peak_rss_bytes", peak_rss}, {"rss_during_decode_bytes", r.rss_bytes_after_decode}};
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace slmkit::cli
