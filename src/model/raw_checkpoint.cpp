#include "model/raw_checkpoint.h"

#include <filesystem>

#include "core/error.h"
#include "core/strings.h"
#include "io/json.h"
#include "io/llama2c_checkpoint.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"

namespace slmkit {
namespace fs = std::filesystem;
RawCheckpoint read_checkpoint(const std::string& path) {
  SLMKIT_CHECK(fs::exists(path), path, ": no such file or directory");
  fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  RawCheckpoint raw;
  // GGUF files are read by model/gguf_checkpoint (LibTorch engine); say so rather than misread the header.
  SLMKIT_CHECK(fs::is_directory(path) || !ends_with(path, ".gguf"), path, ": a GGUF file is not a checkpoint this ",
               "reader takes; GGUF models load through the LibTorch path (slmkit eval/inspect/export, generate ",
               "--engine torch)");
  if (!fs::is_directory(path) && !ends_with(path, ".safetensors") && !ends_with(path, ".json") &&
      looks_like_llama2c(path)) {
    Llama2cCheckpoint ck = read_llama2c(path);
    const Llama2cHeader& h = ck.header;
    ModelConfig& c = raw.config;
    c.model_type = "llama";
    c.arch = Arch::kLlama;
    c.vocab_size = h.vocab_size;
    c.hidden_size = h.dim;
    c.head_dim = h.dim / h.n_heads;
    c.max_positions = h.seq_len;
    c.layers.assign(static_cast<size_t>(h.n_layers), LayerDims{h.n_heads, h.n_kv_heads, h.hidden_dim});
    c.norm_eps = 1e-5;  // llama2.c's rmsnorm
    c.tie_word_embeddings = h.shared_classifier;
    c.bos_token_id = 1;
    c.eos_token_ids = {2};
    raw.tensors = std::move(ck.tensors);
    raw.weights_path = path;
    raw.format = "llama2.c";
    return raw;
  }

  const fs::path config_path = dir / "config.json";
  SLMKIT_CHECK(fs::exists(config_path), path, ": no config.json in ", dir.string(),
               ". A Hugging Face checkpoint needs its config.json beside the weights.");
  raw.config = parse_hf_config(read_json_file(config_path.string()), config_path.string());

  if (!fs::is_directory(path)) {
    raw.weights_path = path;
  } else {
    for (const char* candidate : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"})
      if (fs::exists(dir / candidate)) {
        raw.weights_path = (dir / candidate).string();
        break;
      }
    SLMKIT_CHECK(!raw.weights_path.empty(), path, ": no weights found (looked for model.safetensors, ",
                 "model.safetensors.index.json, pytorch_model.bin)");
  }
  const std::string& w = raw.weights_path;
  if (ends_with(w, ".safetensors")) {
    raw.tensors = read_safetensors(w);
    raw.format = "safetensors";
  } else if (ends_with(w, ".index.json")) {
    raw.tensors = read_safetensors_index(w);
    raw.format = "safetensors (sharded)";
  } else {
    raw.tensors = read_torch_checkpoint(w);
    raw.format = "torch.save zip";
  }
  return raw;
}

std::string default_tokenizer_path(const std::string& model_path) {
  if (fs::is_directory(model_path)) return model_path;
  if (ends_with(model_path, ".gguf")) return model_path;  // a GGUF model carries its own vocabulary
  const fs::path dir = fs::path(model_path).parent_path().empty() ? fs::path(".") : fs::path(model_path).parent_path();
  if (ends_with(model_path, ".bin") && looks_like_llama2c(model_path)) {
    std::string found;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (e.path() != fs::path(model_path) && ends_with(n, ".bin") && (n.rfind("tok", 0) == 0)) {
        if (!found.empty()) return "";  // ambiguous: let the user choose
        found = e.path().string();
      }
    }
    return found;
  }
  return dir.string();
}

}  // namespace slmkit
