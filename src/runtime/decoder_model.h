// The edge runtime's model: every weight in the form its kernel reads, loaded
// without LibTorch from the checkpoints slmkit reads (Hugging Face safetensors
// directories, sharded or not, torch.save pytorch_model.bin, llama2.c .bin),
// including GPTQ-format quantized linears and per-layer dims of pruned models.
// Architectures: the Llama family (Llama incl. GQA, tied embeddings, llama3 /
// linear RoPE scaling; Mistral's sliding window; Qwen2's q/k/v biases) and GPT-2.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/config.h"
#include "runtime/linear_kernels.h"

namespace slmkit::runtime {

// A linear layer: packed weight plus an optional float32 bias (empty: none).
struct RuntimeLinear {
  PackedLinear weight;
  std::vector<float> bias;

  const float* bias_or_null() const { return bias.empty() ? nullptr : bias.data(); }
  int64_t bytes() const { return weight.weight_bytes() + static_cast<int64_t>(bias.size() * sizeof(float)); }
};

// A lookup table [rows, cols] kept in its storage dtype (F32, F16 or BF16).
struct EmbeddingTable {
  int64_t rows = 0, cols = 0;
  DType dtype = DType::F32;
  const uint8_t* data = nullptr;
  std::shared_ptr<const void> owner;

  // Row `i` as float32 into out[cols].
  void row(int64_t i, float* out) const;
  int64_t row_bytes() const { return cols * static_cast<int64_t>(dtype_size(dtype)); }
};

// Norm parameters as float32; bias only for GPT-2's LayerNorm.
struct NormWeights {
  std::vector<float> weight, bias;
  int64_t bytes() const { return static_cast<int64_t>((weight.size() + bias.size()) * sizeof(float)); }
};

struct LayerWeights {
  NormWeights attn_norm, mlp_norm;
  RuntimeLinear q, k, v, o;
  RuntimeLinear gate, up, down;  // gate is empty (out_features 0) for GPT-2
};

struct DecoderModel {
  ModelConfig config;
  std::string source;  // the weights file that was read
  std::string format;  // as RawCheckpoint::format
  EmbeddingTable tokens;
  EmbeddingTable positions;  // GPT-2's learned positions; empty for RoPE models
  std::vector<LayerWeights> layers;
  NormWeights final_norm;
  RuntimeLinear lm_head;

  bool quantized() const;  // whether any linear holds integer codes
  // Weight bytes read to decode one token: every linear and norm once, one row
  // of each embedding table (the KV cache comes on top: KvCache::bytes_read_at).
  int64_t weight_bytes_per_token() const;
  // Bytes the model's weights occupy in memory (embedding tables whole, tied
  // tables counted once).
  int64_t weight_bytes_total() const;
  // "4-bit GPTQ (g32, sym), lm_head dense f32" or "dense f32".
  std::string describe_weights() const;
};

// Loads a checkpoint (see model/raw_checkpoint.h for the layouts found). Dense
// weights are used in place from the file mapping (no copy; an embedding
// table's pages become resident only for the tokens used); GPTQ linears are
// repacked and their file pages handed back (madvise MADV_PAGEOUT), so the
// resident set holds each weight once. Throws Error naming the file, tensor,
// expected and found shapes/dtypes.
DecoderModel load_decoder_model(const std::string& path);

}  // namespace slmkit::runtime
