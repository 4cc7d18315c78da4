#include "runtime/benchmark.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/process_stats.h"
#include "runtime/session.h"

namespace slmkit::runtime {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<int32_t> random_tokens(int64_t vocab, int64_t n, uint64_t seed) {
  std::vector<int32_t> out(static_cast<size_t>(n));
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& t : out) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    t = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(vocab));
  }
  return out;
}

}  // namespace

double decoder_linear_flops_per_token(const DecoderModel& model) {
  double flops = 0;
  for (const LayerWeights& l : model.layers)
    for (const auto* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      flops += 2.0 * static_cast<double>(lin->weight.out_features) * static_cast<double>(lin->weight.in_features);
  return flops;
}

BenchResult run_benchmark(const DecoderModel& model, const BenchConfig& config) {
  SLMKIT_CHECK(config.repeats > 0, "--reps must be positive, found ", config.repeats);
  SLMKIT_CHECK(config.decode_tokens > 0 && config.decode_context > 0,
               "--decode-tokens and the decode context must be positive");
  const ModelConfig& c = model.config;
  int64_t capacity = config.decode_context + config.decode_tokens;
  for (int64_t p : config.prefill_tokens) {
    SLMKIT_CHECK(p > 0, "--prefill lengths must be positive, found ", p);
    capacity = std::max(capacity, p);
  }
  SLMKIT_CHECK(capacity <= c.max_positions, "the benchmark needs ", capacity, " positions, the model has ",
               c.max_positions, " (max_position_embeddings); use shorter --prefill or --decode-tokens");
  SessionOptions options;
  options.capacity = capacity;
  options.kv_dtype = config.kv_dtype;
  options.max_chunk = std::max<int64_t>(256, *std::max_element(config.prefill_tokens.begin(),
                                                                config.prefill_tokens.end()));
  options.max_chunk = std::min(options.max_chunk, capacity);
  Session session(model, options);
  BenchResult result;
  const double flops_per_token = decoder_linear_flops_per_token(model);

  for (int64_t p : config.prefill_tokens) {
    const std::vector<int32_t> tokens = random_tokens(c.vocab_size, p, config.seed + static_cast<uint64_t>(p));
    std::vector<double> times;
    for (int rep = 0; rep <= config.repeats; ++rep) {  // rep 0 warms up
      session.reset();
      const auto t0 = std::chrono::steady_clock::now();
      session.forward(tokens.data(), p);
      if (rep > 0) times.push_back(seconds_since(t0));
    }
    PrefillResult r;
    r.tokens = p;
    r.seconds_median = median(times);
    r.tokens_per_second = static_cast<double>(p) / r.seconds_median;
    r.linear_gflops = flops_per_token * static_cast<double>(p) / r.seconds_median * 1e-9;
    result.prefill.push_back(r);
  }

  const std::vector<int32_t> prompt = random_tokens(c.vocab_size, config.decode_context, config.seed);
  std::vector<double> per_token;
  for (int rep = 0; rep <= config.repeats; ++rep) {
    session.reset();
    const float* logits = session.forward(prompt.data(), config.decode_context);
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < config.decode_tokens; ++i) {
      // Greedy, as generation would: the next input depends on these logits.
      const int32_t next = static_cast<int32_t>(std::max_element(logits, logits + c.vocab_size) - logits);
      logits = session.forward(&next, 1);
    }
    if (rep > 0) per_token.push_back(seconds_since(t0) / static_cast<double>(config.decode_tokens));
  }
  result.rss_bytes_after_decode = current_rss_bytes();
  DecodeResult& d = result.decode;
  d.tokens = config.decode_tokens;
  d.seconds_per_token_median = median(per_token);
  d.tokens_per_second = 1.0 / d.seconds_per_token_median;
  d.weight_bytes_per_token = model.weight_bytes_per_token();
  int64_t kv = 0;
  for (int64_t i = 0; i < config.decode_tokens; ++i) kv += session.cache().bytes_read_at(config.decode_context + i);
  d.kv_bytes_per_token = kv / config.decode_tokens;
  d.achieved_gbs =
      static_cast<double>(d.weight_bytes_per_token + d.kv_bytes_per_token) / d.seconds_per_token_median * 1e-9;
  return result;
}

}  // namespace slmkit::runtime
