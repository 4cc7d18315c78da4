// slmkit inspect PATH: what a checkpoint (or a GGUF file) holds, without running it.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "cli.h"
#include "core/error.h"
#include "io/gguf.h"
#include "model/checkpoint.h"

namespace slmkit::cli {
namespace {

int64_t size_on_disk(const std::string& path) {
  namespace fs = std::filesystem;
  int64_t total = 0;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file()) total += static_cast<int64_t>(e.file_size());
  } else {
    total = static_cast<int64_t>(fs::file_size(path));
  }
  return total;
}

// GGUF files are recognised by their magic, whatever their name.
bool is_gguf(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

int inspect_gguf(const std::string& path, bool no_tensors) {
  const GgufFile f = read_gguf(path);
  int64_t tensor_bytes = 0, params = 0;
  std::map<std::string, int64_t> params_by_type;
  for (const GgufTensor& t : f.tensors) {
    tensor_bytes += static_cast<int64_t>(t.nbytes);
    params += t.numel();
    params_by_type[std::string(ggml_type_name(t.type))] += t.numel();
  }
  std::printf("checkpoint   %s (GGUF v%u, alignment %llu)\n", path.c_str(), f.version,
              static_cast<unsigned long long>(f.alignment));
  std::printf("tensors      %zu, %s parameters, %s bytes of tensor data, %s bytes on disk\n", f.tensors.size(),
              with_commas(params).c_str(), with_commas(tensor_bytes).c_str(), with_commas(size_on_disk(path)).c_str());
  if (!params_by_type.empty()) {
    std::printf("types       ");
    for (const auto& [type, n] : params_by_type) std::printf(" %s: %s", type.c_str(), with_commas(n).c_str());
    std::printf("\n");
  }
  std::printf("\n%-44s %-7s %s\n", "metadata key", "type", "value");
  for (const GgufKeyValue& kv : f.metadata) {
    std::string type(gguf_type_name(kv.value.type()));
    if (kv.value.type() == GgufType::ARRAY) type = "array";
    std::printf("%-44s %-7s %s\n", kv.key.c_str(), type.c_str(), kv.value.summary().c_str());
  }
  if (!no_tensors && !f.tensors.empty()) {
    std::printf("\n%-48s %-7s %-22s %14s\n", "tensor", "type", "shape (PyTorch order)", "bytes");
    for (const GgufTensor& t : f.tensors)
      std::printf("%-48s %-7s %-22s %14s\n", t.name.c_str(), std::string(ggml_type_name(t.type)).c_str(),
                  shape_str(t.torch_shape()).c_str(), with_commas(static_cast<int64_t>(t.nbytes)).c_str());
  }
  return 0;
}

}  // namespace

int run_inspect(const std::vector<std::string>& args) {
  std::string path;
  bool no_tensors = false;
  po::options_description desc("inspect options");
  desc.add_options()
      ("path", po::value<std::string>(&path)->required(), "checkpoint directory or file, or a GGUF file")
      ("summary", po::bool_switch(&no_tensors), "omit the per-tensor table");
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit inspect PATH [--summary]", desc, "path", 1, vm)) return 0;
  if (is_gguf(path)) return inspect_gguf(path, no_tensors);

  const RawCheckpoint raw = read_checkpoint(path);
  const ModelConfig& c = raw.config;
  int64_t params = 0, bytes = 0;
  std::map<std::string, int64_t> by_dtype;
  for (const auto& [name, v] : raw.tensors.tensors) {
    params += v.numel();
    bytes += static_cast<int64_t>(v.nbytes());
    by_dtype[std::string(dtype_name(v.dtype))] += v.numel();
  }
  const LayerDims& l0 = c.layers.at(0);
  std::printf("checkpoint   %s (%s)\n", raw.weights_path.c_str(), raw.format.c_str());
  std::printf("architecture %s: %lld layers, hidden %lld, heads %lld (kv %lld, head_dim %lld), ffn %lld, vocab %lld, "
              "max positions %lld%s\n",
              c.model_type.c_str(), static_cast<long long>(c.num_layers()), static_cast<long long>(c.hidden_size),
              static_cast<long long>(l0.num_heads), static_cast<long long>(l0.num_kv_heads),
              static_cast<long long>(c.head_dim), static_cast<long long>(l0.intermediate_size),
              static_cast<long long>(c.vocab_size), static_cast<long long>(c.max_positions),
              c.tie_word_embeddings ? ", tied embeddings" : "");
  std::printf("parameters   %s stored (%s implied by the config)\n", with_commas(params).c_str(),
              with_commas(c.parameter_count()).c_str());
  std::printf("dtypes      ");
  for (const auto& [d, n] : by_dtype) std::printf(" %s: %s", d.c_str(), with_commas(n).c_str());
  std::printf("\nsize         %s bytes of tensors, %s bytes on disk\n", with_commas(bytes).c_str(),
              with_commas(size_on_disk(path)).c_str());
  for (const auto& [k, v] : raw.tensors.metadata) std::printf("metadata     %s = %s\n", k.c_str(), v.c_str());
  if (!no_tensors) {
    std::printf("\n%-56s %-6s %-16s %14s\n", "tensor", "dtype", "shape", "bytes");
    for (const auto& [name, v] : raw.tensors.tensors)
      std::printf("%-56s %-6s %-16s %14s\n", name.c_str(), std::string(dtype_name(v.dtype)).c_str(),
                  shape_str(v.shape).c_str(), with_commas(static_cast<int64_t>(v.nbytes())).c_str());
  }
  return 0;
}

}  // namespace slmkit::cli
