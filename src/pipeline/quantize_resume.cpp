#include "pipeline/quantize_resume.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/hash.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/gptq_checkpoint.h"
#include "model/tensor_adapter.h"

namespace slmkit {
namespace fs = std::filesystem;
namespace {

constexpr int kStateVersion = 1;

std::string layer_file(const std::string& dir, int64_t layer) {
  return (fs::path(dir) / cat("layer-", layer, ".safetensors")).string();
}
std::string inputs_file(const std::string& dir, int64_t layer) {
  return (fs::path(dir) / cat("inputs-", layer, ".safetensors")).string();
}

void hash_tensor(Hasher64& h, const std::string& name, const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  h.add(name).add(c.sizes().data(), c.dim() * sizeof(int64_t));
  const auto type = static_cast<int>(c.scalar_type());
  h.add(&type, sizeof type).add(c.data_ptr(), c.numel() * c.element_size());
}

}  // namespace

nlohmann::json tensor_report_json(const TensorReport& r) {
  return {{"name", r.name},         {"out", r.out_features},         {"in", r.in_features},
          {"bits", r.grid.bits},    {"group_size", r.grid.group_size}, {"symmetric", r.grid.symmetric},
          {"kept_dense", r.kept_dense}, {"relative_error", r.relative_error}, {"damp", r.damp},
          {"rtn_fallback", r.rtn_fallback},
          {"seconds", r.seconds},   {"bytes_before", r.bytes_before}, {"bytes_after", r.bytes_after}};
}

namespace {

TensorReport report_from_json(const nlohmann::json& j) {
  TensorReport r;
  r.name = j.at("name").get<std::string>();
  r.out_features = j.at("out").get<int64_t>();
  r.in_features = j.at("in").get<int64_t>();
  r.grid.bits = j.at("bits").get<int>();
  r.grid.group_size = j.at("group_size").get<int64_t>();
  r.grid.symmetric = j.at("symmetric").get<bool>();
  r.kept_dense = j.at("kept_dense").get<bool>();
  r.relative_error = j.at("relative_error").get<double>();
  r.damp = j.at("damp").get<double>();
  r.rtn_fallback = j.at("rtn_fallback").get<bool>();
  r.seconds = j.at("seconds").get<double>();
  r.bytes_before = j.at("bytes_before").get<int64_t>();
  r.bytes_after = j.at("bytes_after").get<int64_t>();
  return r;
}

// The block's tensors as they are now: norms (and anything else under its
// prefix) plus each linear, dense as <name>.weight, quantized as its GPTQ parts
// with the grid in the metadata.
void write_block(const Model& model, int64_t layer, const std::string& path) {
  const std::string prefix = Model::layer_prefix(layer);
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> meta;
  for (const auto& [name, t] : model.tensors)
    if (name.rfind(prefix, 0) == 0) tensors[name] = t.contiguous();
  for (const std::string& short_name : model.block_linear_names()) {
    const std::string name = prefix + short_name;
    const Linear& l = model.linear(name);
    if (l.bias.defined()) tensors[name + ".bias"] = l.bias.contiguous();
    if (const auto* q = std::get_if<QuantizedWeights>(&l.weights)) {
      add_gptq_tensors(name, *q, tensors);
      meta[name] = cat(q->bits, " ", q->group_size, " ", q->symmetric ? 1 : 0);
    } else {
      tensors[name + ".weight"] = l.dense_weight().contiguous();
    }
  }
  std::map<std::string, TensorView> views;
  for (const auto& [name, t] : tensors) views[name] = to_view(t);
  write_safetensors(path, views, meta);
}

void read_block(Model& model, int64_t layer, const std::string& path) {
  const TensorSet set = read_safetensors(path);
  const std::string prefix = Model::layer_prefix(layer);
  auto tensor = [&](const std::string& name) {
    const TensorView* v = set.find(name);
    SLMKIT_CHECK(v, path, ": saved block ", layer, " lacks tensor ", name, "; delete ", fs::path(path).parent_path().string(),
                 " (or pass --force) to start over");
    return to_torch(*v, name).clone();  // own the bytes: the file is replaced by later blocks
  };
  for (auto& [name, t] : model.tensors)
    if (name.rfind(prefix, 0) == 0) t = tensor(name);
  for (const std::string& short_name : model.block_linear_names()) {
    const std::string name = prefix + short_name;
    Linear& l = model.linear(name);
    if (l.bias.defined()) l.bias = tensor(name + ".bias");
    const auto grid = set.metadata.find(name);
    if (grid == set.metadata.end()) {
      l.weights = DenseWeights{tensor(name + ".weight")};
      continue;
    }
    QuantSettings s;
    s.quantized = true;
    int sym = 0;
    long long group = 0;
    SLMKIT_CHECK(std::sscanf(grid->second.c_str(), "%d %lld %d", &s.bits, &group, &sym) == 3, path,
                 ": bad grid metadata for ", name, ": \"", grid->second, "\"");
    s.group_size = group;
    s.sym = sym != 0;
    s.desc_act = true;  // g_idx is always saved
    std::map<std::string, TensorView> parts;
    for (const char* part : {"qweight", "qzeros", "scales", "g_idx"}) {
      const TensorView* v = set.find(name + "." + part);
      SLMKIT_CHECK(v, path, ": saved block ", layer, " lacks tensor ", name, ".", part);
      parts[part] = *v;
    }
    QuantizedWeights q = gptq_weights_from_tensors(name, parts, s, path);
    for (at::Tensor* t : {&q.qweight, &q.qzeros, &q.scales, &q.g_idx}) *t = t->clone();
    l.weights = std::move(q);
  }
}

}  // namespace

std::string quantize_job_fingerprint(const Model& model, const at::Tensor& windows, const QuantizeRecipe& recipe) {
  Hasher64 h;
  for (const auto& [name, t] : hf_state_dict(model)) hash_tensor(h, name, t);
  hash_tensor(h, "calibration windows", windows);
  h.add(describe_recipe(recipe));
  return h.hex();
}

QuantizeResumeStore::QuantizeResumeStore(std::string out_dir, std::string fingerprint)
    : dir_(dir_of(out_dir)), fingerprint_(std::move(fingerprint)) {}

std::string QuantizeResumeStore::dir_of(const std::string& out_dir) {
  return (fs::path(out_dir) / ".slmkit-resume").string();
}

bool QuantizeResumeStore::present(const std::string& out_dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir_of(out_dir)) / "state.json", ec);
}

int64_t QuantizeResumeStore::restore(Model& model, at::Tensor* next_inputs, std::vector<TensorReport>* reports) {
  const std::string state_path = (fs::path(dir_) / "state.json").string();
  std::error_code ec;
  if (!fs::exists(state_path, ec)) return 0;
  const nlohmann::json state = parse_json_strict(read_text_file(state_path), state_path);
  const std::string saved = state.value("fingerprint", "");
  SLMKIT_CHECK(state.value("version", 0) == kStateVersion, state_path, ": saved by another slmkit version (",
               state.value("version", 0), ", this one writes ", kStateVersion, "); pass --force to start over");
  SLMKIT_CHECK(saved == fingerprint_, dir_, " holds an interrupted run of a different job (fingerprint ", saved,
               ", this job ", fingerprint_,
               "): the model, calibration data or settings differ. Rerun with the original settings, or pass "
               "--force to start over");
  const int64_t finished = state.at("finished_blocks").get<int64_t>();
  SLMKIT_CHECK(finished >= 0 && finished <= model.config.num_layers(), state_path, ": finished_blocks ", finished,
               " is outside [0, ", model.config.num_layers(), "]");
  try {
    for (const auto& r : state.at("reports")) reports->push_back(report_from_json(r));
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(state_path, ": bad report entry: ", e.what(), "; pass --force to start over"));
  }
  for (int64_t layer = 0; layer < finished; ++layer) read_block(model, layer, layer_file(dir_, layer));
  if (finished < model.config.num_layers()) {
    const std::string path = inputs_file(dir_, finished);
    const TensorSet set = read_safetensors(path);
    const TensorView* v = set.find("inputs");
    SLMKIT_CHECK(v, path, ": no tensor \"inputs\"; pass --force to start over");
    *next_inputs = to_torch(*v, "inputs").clone();
  }
  return finished;
}

void QuantizeResumeStore::save(const Model& model, int64_t layer, const at::Tensor& next_inputs,
                               const std::vector<TensorReport>& reports) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  SLMKIT_CHECK(!ec, dir_, ": cannot create the resume directory: ", ec.message());
  write_block(model, layer, layer_file(dir_, layer));
  if (next_inputs.defined()) {
    const at::Tensor c = next_inputs.contiguous();
    write_safetensors(inputs_file(dir_, layer + 1), {{"inputs", to_view(c)}});
  }
  nlohmann::json rs = nlohmann::json::array();
  for (const TensorReport& r : reports) rs.push_back(tensor_report_json(r));
  const nlohmann::json state = {{"version", kStateVersion},
                                {"fingerprint", fingerprint_},
                                {"finished_blocks", layer + 1},
                                {"reports", rs}};
  write_file_atomic((fs::path(dir_) / "state.json").string(), state.dump(1) + "\n");
  fs::remove(inputs_file(dir_, layer), ec);  // the committed state no longer needs it
}

void QuantizeResumeStore::remove() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace slmkit
