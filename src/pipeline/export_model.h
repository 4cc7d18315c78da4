// `slmkit export --format gguf` as a pipeline step: reads the model's tokenizer
// files into GGUF vocabulary metadata, optionally collects per-input importance
// (mean x²) from calibration windows, runs the GGUF export pass and writes the
// file atomically. The recipe runner and the CLI both call export_model_gguf.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "export/gguf_export.h"
#include "model/model.h"
#include "pipeline/calibration.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

struct GgufExportRequest {
  GgufExportConfig config;
  std::string out_path;
  std::string tokenizer_path;  // tokenizer.model / tokenizer.json / llama2.c .bin / model dir ("" = the model's own)
  at::Tensor calibration_windows;  // int64 [N, L]; undefined = no importance (llama-quantize without an imatrix)
  int64_t chunk = 8;               // windows per forward call while collecting importance
};

struct GgufExportSummary {
  std::string path, arch;
  std::vector<GgufTensorReport> tensors;
  int64_t file_bytes = 0;
  int64_t weight_elements = 0;  // elements of the 2-D weights
  int64_t weight_bytes = 0;     // their bytes in the file
  double bits_per_weight = 0;   // over the 2-D weights
  int64_t exact = 0, quantized = 0, requantized = 0, float_tensors = 0, fallbacks = 0, with_importance = 0;
  double seconds = 0;
};

// GGUF vocabulary from a tokenizer path: a directory (tokenizer.json if it is
// byte-level BPE, else tokenizer.model, else tokenizer.bin), or one of those files.
GgufVocab load_gguf_vocab(const std::string& tokenizer_path, const ModelConfig& config);

// Mean x² of every block linear's inputs over the windows (the model's current
// weights), keyed by canonical linear name: llama.cpp's imatrix statistic.
ImportanceMap collect_importance(const Model& model, const at::Tensor& windows, int64_t chunk,
                                 const std::function<void(int64_t layer, int64_t layers)>& progress = {});

// Exports `model` (read from `model_path`, which locates the default tokenizer).
GgufExportSummary export_model_gguf(const Model& model, const std::string& model_path, const GgufExportRequest& request,
                                    const GgufExportProgress& progress = {});

nlohmann::json gguf_summary_json(const GgufExportSummary& summary);

}  // namespace slmkit
