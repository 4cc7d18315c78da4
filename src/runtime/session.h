// One sequence being decoded: the KV cache, the RoPE tables and every buffer
// the forward pass needs, all allocated when the session is created, so feeding
// tokens allocates nothing. Prompts are processed in chunks of up to
// `max_chunk` tokens through the matmul kernels; single tokens through matvec.
// Threads: the OpenMP team size when the session is created
// (omp_set_num_threads / --threads); keep it unchanged while the session lives.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/attention.h"
#include "runtime/decoder_model.h"
#include "runtime/kv_cache.h"

namespace slmkit::runtime {

struct SessionOptions {
  int64_t capacity = 0;  // positions the cache holds; 0 = the model's max_position_embeddings
  KvDType kv_dtype = KvDType::kF32;
  int64_t max_chunk = 256;  // prompt tokens per forward step (bounds the scratch memory)
};

class Session {
 public:
  Session(const DecoderModel& model, const SessionOptions& options);

  // Feeds n tokens at the current position and returns the logits of the last
  // one ([vocab] floats, valid until the next call). Throws Error when the
  // tokens do not fit the capacity or an id is out of range.
  const float* forward(const int32_t* tokens, int64_t n);
  // The same, writing the logits of every position to all_logits [n, vocab].
  void forward_all(const int32_t* tokens, int64_t n, float* all_logits);

  int64_t position() const { return cache_.length(); }
  int64_t capacity() const { return cache_.capacity(); }
  void reset() { cache_.reset(); }
  const KvCache& cache() const { return cache_; }
  const DecoderModel& model() const { return model_; }
  // Bytes allocated by the session (cache + buffers).
  int64_t bytes() const;

 private:
  // One chunk of at most max_chunk tokens; logits for its last row only, or for
  // every row into all_logits.
  void run_chunk(const int32_t* tokens, int64_t n, float* all_logits);
  void attention_block(int64_t layer, int64_t n, int64_t pos0);
  void mlp_block(int64_t layer, int64_t n);
  void norm_rows(const NormWeights& w, const float* x, int64_t n, float* y) const;
  void linear(const RuntimeLinear& l, const float* x, int64_t n, float* y) const;

  const DecoderModel& model_;
  KvCache cache_;
  int64_t max_chunk_ = 0;
  std::vector<float> rope_cos_, rope_sin_;  // [capacity, head_dim/2]
  // Activations, max_chunk rows each: residual stream, normed input, q/k/v,
  // attention output, MLP gate/up (or GPT-2's hidden), projection output.
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, proj_;
  std::vector<float> logits_;
  AttentionScratch attention_scratch_;
};

}  // namespace slmkit::runtime
