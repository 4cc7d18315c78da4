// slmkit export MODEL --format gguf --type TYPE --out FILE: a GGUF file llama.cpp
// runs, with GPTQ/AWQ grids that fit a ggml type carried over exactly.
#include <cstdio>
#include <filesystem>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "eval/perplexity.h"
#include "io/atomic_file.h"
#include "pipeline/export_model.h"
#include "tokenizer/text_input.h"

namespace slmkit::cli {
namespace {

std::string file_types_help() {
  std::string s = "tensor types, as llama-quantize names them:";
  for (GgufFileType t : {GgufFileType::kF32, GgufFileType::kF16, GgufFileType::kBF16, GgufFileType::kQ8_0,
                         GgufFileType::kQ4_0, GgufFileType::kQ4_1, GgufFileType::kQ4_K_M})
    s += cat(" ", gguf_file_type_name(t));
  return s + ". Quantized linears whose grid fits q4_0/q4_1/q8_0 keep it exactly (see --requantize)";
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

}  // namespace

int run_export(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, out_path, format, type_name, embed_type, json_path, name;
  CalibrationConfig calib;
  int64_t chunk = 8;
  bool requantize = false, force = false, quiet = false;
  po::options_description desc("export options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "checkpoint directory or file")
      ("out,o", po::value<std::string>(&out_path)->required(), "output file")
      ("format", po::value<std::string>(&format)->default_value("gguf"), "gguf (llama.cpp)")
      ("type", po::value<std::string>(&type_name)->default_value("f16"), file_types_help().c_str())
      ("embed-type", po::value<std::string>(&embed_type),
       "type of token_embd/output (default: llama-quantize's choice; f32 keeps them bit for bit)")
      ("requantize", po::bool_switch(&requantize),
       "re-quantize GPTQ/AWQ grids into --type even where they fit a ggml type exactly")
      ("chunk", po::value<int64_t>(&chunk)->default_value(8), "calibration windows per forward call")
      ("name", po::value<std::string>(&name), "general.name (default: the model's folder or file name)")
      ("force", po::bool_switch(&force), "overwrite an existing output file")
      ("json", po::value<std::string>(&json_path), "write the per-tensor report and summary as JSON")
      ("quiet,q", po::bool_switch(&quiet), "no per-tensor lines");
  add_calibration_options(desc, calib,
                          "calibration text: quantize with per-input importance (mean x², llama.cpp's imatrix statistic)");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit export MODEL --format gguf --type q4_0|q4_1|q8_0|q4_k_m|f16 --out FILE",
                  desc, "model", 1, vm))
    return 0;
  apply_threads(common);
  SLMKIT_CHECK(format == "gguf", "--format ", format, " is not supported (gguf). GPTQ safetensors for ",
               "transformers/vLLM are what `slmkit quantize` writes");
  GgufExportRequest request;
  request.out_path = out_path;
  request.tokenizer_path = common.tokenizer;
  request.chunk = chunk;
  const auto type = gguf_file_type_from_name(type_name);
  SLMKIT_CHECK(type.has_value(), "--type ", type_name, " is not supported; ", file_types_help());
  request.config.file_type = *type;
  request.config.requantize = requantize;
  if (!embed_type.empty()) {
    const auto t = ggml_type_from_name(embed_type);
    SLMKIT_CHECK(t && ggml_type_info(*t).has_codec, "--embed-type ", embed_type, " is not a type slmkit can write ",
                 "(f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q4_K, q6_K)");
    request.config.embedding_type = *t;
  }
  namespace fs = std::filesystem;
  const fs::path model_fs = fs::path(model_path).lexically_normal();
  request.config.name = !name.empty() ? name
                        : model_fs.has_filename() ? model_fs.filename().string()
                                                  : model_fs.parent_path().filename().string();
  SLMKIT_CHECK(force || !fs::exists(out_path), out_path, " exists; pass --force to overwrite it");
  SLMKIT_CHECK(fs::absolute(out_path).lexically_normal() != fs::absolute(model_path).lexically_normal(),
               "--out is the input model itself; write the export to another file");

  auto model = load_model_for_cli(model_path, common);
  if (!calib.text_path.empty()) {
    auto tokenizer = load_tokenizer_for_cli(model_path, common);
    request.calibration_windows = cli_calibration_windows(calib, *tokenizer, model->config);
    if (!quiet)
      std::fprintf(stderr, "importance from %s\n", describe_calibration(calib).c_str());
  }
  const GgufExportSummary s = export_model_gguf(
      *model, model_path, request, [&](const GgufTensorReport& r, int64_t done, int64_t total) {
        if (quiet) return;
        std::fprintf(stderr, "[%4lld/%lld] %-28s %-6s %-12s %-13s %9.1f KiB%s%s%s\n", static_cast<long long>(done),
                     static_cast<long long>(total), r.name.c_str(), std::string(ggml_type_name(r.type)).c_str(),
                     shape_text(r.shape).c_str(), std::string(tensor_origin_name(r.origin)).c_str(), r.bytes / 1024.0,
                     r.importance ? "  importance" : "", r.note.empty() ? "" : "  ", r.note.c_str());
      });
  std::printf("wrote %s (%s, %s): %.2f MiB, %.3f bits per weight over the 2-D weights; %lld exact, %lld re-quantized, "
              "%lld quantized, %lld float, %lld fallbacks to a wider type; %.1f s\n",
              s.path.c_str(), s.arch.c_str(), std::string(gguf_file_type_name(request.config.file_type)).c_str(),
              s.file_bytes / 1048576.0, s.bits_per_weight, static_cast<long long>(s.exact),
              static_cast<long long>(s.requantized), static_cast<long long>(s.quantized),
              static_cast<long long>(s.float_tensors), static_cast<long long>(s.fallbacks), s.seconds);
  if (!json_path.empty()) {
    nlohmann::json j = gguf_summary_json(s);
    j["model"] = model_path;
    j["type"] = std::string(gguf_file_type_name(request.config.file_type));
    if (!calib.text_path.empty()) j["calibration"] = calibration_json(calib);
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace slmkit::cli
