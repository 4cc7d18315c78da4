// Shared pieces of the runtime tests: logits from both engines for the same
// tokens, and a 4-bit GPTQ copy of a checkpoint made with the quantize pass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model/model.h"
#include "runtime/decoder_model.h"
#include "runtime/kv_cache.h"

namespace slmkit::test {

// Runtime logits [T, vocab] for `tokens` fed from position 0 in chunks of max_chunk.
at::Tensor runtime_logits(const runtime::DecoderModel& m, const std::vector<int32_t>& tokens,
                          runtime::KvDType kv = runtime::KvDType::kF32, int64_t max_chunk = 256);

// LibTorch reference logits [T, vocab] (float32) for `tokens`.
at::Tensor torch_logits(const Model& m, const std::vector<int32_t>& tokens);

// max |a − b| / max |b|: 0 for identical logits, O(1) for a wrong layout.
double relative_error(const at::Tensor& a, const at::Tensor& b);

// Writes a copy of the checkpoint at `src` with every decoder linear quantized
// by RTN to `bits` (group `group_size`, symmetric) in the GPTQ format; returns its directory.
std::string write_rtn_copy(const std::string& src, int bits, int64_t group_size);

// `n` token ids in [0, vocab), fixed by `seed`.
std::vector<int32_t> random_tokens(int64_t vocab, int64_t n, uint64_t seed);

}  // namespace slmkit::test
