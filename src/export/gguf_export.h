// GGUF export of a Model (the pass; no I/O: the pipeline reads the tokenizer,
// collects calibration statistics and writes the file).
//
// Tensor types follow llama-quantize for the requested file type (gguf_types.h).
// Quantized linears whose grid fits a 32-element ggml type are stored exactly
// (gguf_encode.h) whatever the file type, unless `requantize` is set or the file
// type is a K-quant mix; other weights are quantized from their float values,
// importance-weighted when calibration statistics are given. Every 2-D tensor
// gets a report saying what was done and why.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "export/gguf_types.h"
#include "tokenizer/gguf_vocab.h"
#include "io/gguf.h"
#include "model/model.h"

namespace slmkit {

struct GgufExportConfig {
  GgufFileType file_type = GgufFileType::kQ4_0;
  // token_embd / output type; nullopt = llama-quantize's choice (Q6_K for the
  // 4-bit file types when the head is tied or separate, Q8_0 when rows are not
  // a multiple of 256). F32 keeps float embeddings bit for bit.
  std::optional<GgmlType> embedding_type;
  // Re-quantize quantized linears even where their grid fits a ggml type exactly.
  bool requantize = false;
  std::string name;  // general.name ("" = not written)
};

// Per-linear input statistics from calibration: canonical linear name → float
// [in_features], the mean of x² of each input (what llama.cpp's imatrix holds).
using ImportanceMap = std::map<std::string, at::Tensor>;

enum class TensorOrigin {
  kCopied,       // 1-D tensors and float tensors kept in their precision (F32)
  kConverted,    // float → another float type (F16/BF16)
  kExact,        // a GPTQ/AWQ grid stored code for code
  kQuantized,    // float weights quantized to a ggml block type
  kRequantized,  // quantized weights dequantized and quantized again (grid did not fit / was asked)
};
std::string_view tensor_origin_name(TensorOrigin o);  // "copied", "converted", "exact", ...

struct GgufTensorReport {
  std::string name;                 // GGUF name
  std::vector<int64_t> shape;       // PyTorch order [rows, cols]
  GgmlType type = GgmlType::F32;
  TensorOrigin origin = TensorOrigin::kCopied;
  bool fallback = false;            // a wider type than planned because rows do not fit its blocks
  bool importance = false;          // quantized with calibration importance
  std::string note;                 // why: "GPTQ 4-bit sym g128 → q4_0", "row length 172 not a multiple of 32", ...
  int64_t bytes = 0;
};

struct GgufExport {
  std::vector<GgufKeyValue> metadata;
  std::vector<GgufTensor> tensors;             // data points into `storage`
  std::vector<std::vector<uint8_t>> storage;   // one buffer per tensor
  std::vector<GgufTensorReport> reports;       // one per tensor, file order
};

using GgufExportProgress = std::function<void(const GgufTensorReport& report, int64_t done, int64_t total)>;

// Builds the whole file in memory. Throws Error for models llama.cpp cannot run
// (naming why) and for a vocabulary larger than the embedding.
GgufExport export_gguf(const Model& model, GgufVocab vocab, const GgufExportConfig& config,
                       const ImportanceMap& importance, const GgufExportProgress& progress = {});

}  // namespace slmkit
