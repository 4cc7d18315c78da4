#include "pipeline/export_model.h"

#include <chrono>
#include <filesystem>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "core/strings.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "model/raw_checkpoint.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/bpe_tokenizer.h"

namespace slmkit {
namespace fs = std::filesystem;
GgufVocab load_gguf_vocab(const std::string& tokenizer_path, const ModelConfig& config) {
  std::error_code ec;
  std::string path = tokenizer_path;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    const fs::path json_path = dir / "tokenizer.json", model_path = dir / "tokenizer.model";
    if (fs::is_regular_file(json_path, ec) && BpeTokenizer::is_byte_level_bpe(read_json_file(json_path.string())))
      path = json_path.string();
    else if (fs::is_regular_file(model_path, ec))
      path = model_path.string();
    else if (fs::is_regular_file(dir / "tokenizer.bin", ec))
      path = (dir / "tokenizer.bin").string();
    else
      throw Error(cat("no tokenizer found in ", dir.string(), " for the GGUF vocabulary: looked for tokenizer.json ",
                      "(byte-level BPE), tokenizer.model, tokenizer.bin; pass --tokenizer PATH"));
  }
  SLMKIT_CHECK(fs::is_regular_file(path, ec), path, ": no such tokenizer file");
  if (ends_with(path, ".model"))
    return vocab_from_sentencepiece(parse_spm_model(read_text_file(path, Limits{}.side_file_bytes), path));
  if (ends_with(path, ".gguf")) return vocab_from_gguf(read_gguf(path));
  if (ends_with(path, ".bin")) {
    const Llama2cTokenizer tok(path);
    std::vector<std::string> pieces;
    std::vector<float> scores;
    for (int32_t id = 0; id < tok.vocab_size(); ++id) {
      pieces.push_back(tok.piece(id));
      scores.push_back(tok.score(id));
    }
    return vocab_from_llama2c(pieces, scores);
  }
  if (ends_with(path, ".json")) {
    const BpeTokenizer tok(path);  // what slmkit itself tokenizes with: its BOS/EOS and BOS convention
    return vocab_from_tokenizer_json(read_json_file(path), config.model_type, tok.bos_id(), tok.eos_id(),
                                     tok.add_bos_by_default(), path);
  }
  throw Error(cat(path, ": cannot tell the tokenizer format from the extension (expected .model, .json, .bin ",
                  "or .gguf)"));
}

ImportanceMap collect_importance(const Model& model, const at::Tensor& windows, int64_t chunk,
                                 const std::function<void(int64_t, int64_t)>& progress) {
  c10::InferenceMode guard;
  std::map<std::string, at::Tensor> sums;  // Σ x² per input, float64
  std::map<std::string, int64_t> counts;
  const LinearTap tap = [&](const std::string& name, const at::Tensor& x) {
    const at::Tensor flat = x.reshape({-1, x.size(-1)}).to(at::kDouble);
    at::Tensor& s = sums[name];
    if (!s.defined()) s = at::zeros({flat.size(1)}, at::kDouble);
    s.add_(flat.square().sum(0));
    counts[name] += flat.size(0);
  };
  BlockRunner runner(model, windows, chunk);
  const int64_t layers = model.config.num_layers();
  for (int64_t i = 0; i < layers; ++i) {
    at::Tensor outputs = runner.run(&tap, i + 1 < layers);
    if (i + 1 < layers) runner.advance(std::move(outputs));
    if (progress) progress(i + 1, layers);
  }
  ImportanceMap out;
  for (auto& [name, s] : sums) out[name] = (s / static_cast<double>(counts[name])).to(at::kFloat);
  return out;
}

GgufExportSummary export_model_gguf(const Model& model, const std::string& model_path, const GgufExportRequest& request,
                                    const GgufExportProgress& progress) {
  const auto start = std::chrono::steady_clock::now();
  SLMKIT_CHECK(!request.out_path.empty(), "GGUF export: no output path");
  const std::string tokenizer_path =
      request.tokenizer_path.empty() ? default_tokenizer_path(model_path) : request.tokenizer_path;
  SLMKIT_CHECK(!tokenizer_path.empty(), model_path, ": no tokenizer found beside this checkpoint; pass --tokenizer PATH");
  GgufVocab vocab = load_gguf_vocab(tokenizer_path, model.config);
  ImportanceMap importance;
  if (request.calibration_windows.defined())
    importance = collect_importance(model, request.calibration_windows, request.chunk);
  GgufExport file = export_gguf(model, std::move(vocab), request.config, importance, progress);
  write_gguf(request.out_path, file.metadata, file.tensors);

  GgufExportSummary s;
  s.path = request.out_path;
  s.arch = file.metadata.front().value.as_string();
  s.tensors = file.reports;
  s.file_bytes = static_cast<int64_t>(fs::file_size(request.out_path));
  for (const GgufTensorReport& r : file.reports) {
    if (r.shape.size() == 2 && r.name != "position_embd.weight") {
      s.weight_elements += r.shape[0] * r.shape[1];
      s.weight_bytes += r.bytes;
    }
    s.exact += r.origin == TensorOrigin::kExact;
    s.quantized += r.origin == TensorOrigin::kQuantized;
    s.requantized += r.origin == TensorOrigin::kRequantized;
    s.float_tensors += r.origin == TensorOrigin::kCopied || r.origin == TensorOrigin::kConverted;
    s.fallbacks += r.fallback;
    s.with_importance += r.importance;
  }
  s.bits_per_weight = s.weight_elements > 0 ? 8.0 * static_cast<double>(s.weight_bytes) / s.weight_elements : 0.0;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

nlohmann::json gguf_summary_json(const GgufExportSummary& s) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const GgufTensorReport& r : s.tensors)
    tensors.push_back({{"name", r.name},
                       {"shape", r.shape},
                       {"type", std::string(ggml_type_name(r.type))},
                       {"origin", std::string(tensor_origin_name(r.origin))},
                       {"fallback", r.fallback},
                       {"importance", r.importance},
                       {"note", r.note},
                       {"bytes", r.bytes}});
  return {{"path", s.path},
          {"arch", s.arch},
          {"file_bytes", s.file_bytes},
          {"weight_elements", s.weight_elements},
          {"weight_bytes", s.weight_bytes},
          {"bits_per_weight", s.bits_per_weight},
          {"exact", s.exact},
          {"quantized", s.quantized},
          {"requantized", s.requantized},
          {"float", s.float_tensors},
          {"fallbacks", s.fallbacks},
          {"with_importance", s.with_importance},
          {"seconds", s.seconds},
          {"tensors", tensors}};
}

}  // namespace slmkit
