// Speed measurements of the native runtime (what `slmkit bench` reports):
// prefill tokens/s at given prompt lengths and batch-1 decode tokens/s, medians
// of repeats, with the bytes each decoded token reads and the fraction of a
// measured memory bandwidth that achieves. Prints nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/decoder_model.h"
#include "runtime/kv_cache.h"

namespace slmkit::runtime {

struct BenchConfig {
  std::vector<int64_t> prefill_tokens = {128, 512};
  int64_t decode_tokens = 128;   // tokens decoded per repeat
  int64_t decode_context = 16;   // prompt tokens before decoding starts
  int repeats = 5;               // timed repeats (after one warm-up)
  KvDType kv_dtype = KvDType::kF32;
  uint64_t seed = 0;             // for the random prompt tokens
};

struct PrefillResult {
  int64_t tokens = 0;
  double seconds_median = 0;
  double tokens_per_second = 0;
  // 2·tokens·Σ(out·in) over the decoder linears, per second (attention not counted).
  double linear_gflops = 0;
};

struct DecodeResult {
  int64_t tokens = 0;
  double seconds_per_token_median = 0;  // median over repeats of (run time / tokens)
  double tokens_per_second = 0;
  int64_t weight_bytes_per_token = 0;
  int64_t kv_bytes_per_token = 0;       // mean over the decoded positions
  double achieved_gbs = 0;              // (weights + KV bytes) / seconds per token
};

struct BenchResult {
  std::vector<PrefillResult> prefill;
  DecodeResult decode;
  int64_t rss_bytes_after_decode = 0;  // resident memory while the session is alive
};

// FLOPs of one token through the decoder linears (2·Σ out·in), lm_head excluded.
double decoder_linear_flops_per_token(const DecoderModel& model);

// Runs the measurements with the current OpenMP team size.
BenchResult run_benchmark(const DecoderModel& model, const BenchConfig& config);

}  // namespace slmkit::runtime
