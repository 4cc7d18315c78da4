#include "pipeline/finetune_resume.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/hash.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/tensor_adapter.h"

namespace slmkit {
namespace fs = std::filesystem;
namespace {

constexpr int kStateVersion = 1;

void hash_tensor(Hasher64& h, const std::string& name, const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  h.add(name).add(c.sizes().data(), c.dim() * sizeof(int64_t));
  const auto type = static_cast<int>(c.scalar_type());
  h.add(&type, sizeof type).add(c.data_ptr(), c.numel() * c.element_size());
}

std::string state_file(const std::string& dir, int64_t step) {
  return (fs::path(dir) / cat("state-", step, ".safetensors")).string();
}

}  // namespace

std::string finetune_job_fingerprint(const Model& student, const Model* teacher, const at::Tensor& tokens,
                                     const FinetuneConfig& config) {
  Hasher64 h;
  for (const auto& [name, t] : hf_state_dict(student)) hash_tensor(h, "student " + name, t);
  if (teacher != nullptr && config.loss != "ce")
    for (const auto& [name, t] : hf_state_dict(*teacher)) hash_tensor(h, "teacher " + name, t);
  hash_tensor(h, "training tokens", tokens.to(at::kLong));
  h.add(describe_finetune(config));
  return h.hex();
}

FinetuneResumeStore::FinetuneResumeStore(std::string out_dir, std::string fingerprint)
    : dir_(dir_of(out_dir)), fingerprint_(std::move(fingerprint)) {}

std::string FinetuneResumeStore::dir_of(const std::string& out_dir) {
  return (fs::path(out_dir) / ".slmkit-resume").string();
}

bool FinetuneResumeStore::present(const std::string& out_dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir_of(out_dir)) / "state.json", ec);
}

bool FinetuneResumeStore::restore(FinetuneState* state) {
  const std::string state_path = (fs::path(dir_) / "state.json").string();
  std::error_code ec;
  if (!fs::exists(state_path, ec)) return false;
  const nlohmann::json j = parse_json_strict(read_text_file(state_path), state_path);
  SLMKIT_CHECK(j.value("version", 0) == kStateVersion, state_path, ": saved by another slmkit version (",
               j.value("version", 0), ", this one writes ", kStateVersion, "); pass --force to start over");
  SLMKIT_CHECK(j.value("kind", "") == "finetune", state_path,
               ": not the state of a finetune run; pass --force to start over");
  const std::string saved = j.value("fingerprint", "");
  SLMKIT_CHECK(saved == fingerprint_, dir_, " holds an interrupted run of a different job (fingerprint ", saved,
               ", this job ", fingerprint_,
               "): the student, teacher, training text or settings differ. Rerun with the original settings, or "
               "pass --force to start over");
  int64_t step = 0;
  std::vector<double> losses;
  try {
    step = j.at("step").get<int64_t>();
    losses = j.at("losses").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(state_path, ": bad entry: ", e.what(), "; pass --force to start over"));
  }
  SLMKIT_CHECK(step >= 1 && static_cast<int64_t>(losses.size()) == step, state_path, ": step ", step, " with ",
               losses.size(), " losses; pass --force to start over");
  const std::string path = state_file(dir_, step);
  const TensorSet set = read_safetensors(path);
  auto tensor = [&](const std::string& name, const at::Tensor& like) {
    const TensorView* v = set.find(name);
    SLMKIT_CHECK(v, path, ": no tensor ", name, "; pass --force to start over");
    at::Tensor t = to_torch(*v, name).clone();  // own the bytes: the file is replaced by later checkpoints
    SLMKIT_CHECK(t.sizes() == like.sizes() && t.scalar_type() == at::kFloat, path, ": tensor ", name, " is ",
                 t.sizes(), " ", t.scalar_type(), ", expected ", like.sizes(), " float32; pass --force to start over");
    return t;
  };
  for (auto& [name, d] : state->adapter.modules) {
    for (const bool is_a : {true, false}) {
      const std::string key = name + (is_a ? ".lora_A" : ".lora_B");
      at::Tensor& value = is_a ? d.a : d.b;
      value = tensor(key, value);
      state->exp_avg[key] = tensor(key + ".exp_avg", value);
      state->exp_avg_sq[key] = tensor(key + ".exp_avg_sq", value);
    }
  }
  state->step = step;
  state->losses = losses;
  return true;
}

void FinetuneResumeStore::save(const FinetuneState& state) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  SLMKIT_CHECK(!ec, dir_, ": cannot create the resume directory: ", ec.message());
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, d] : state.adapter.modules) {
    for (const bool is_a : {true, false}) {
      const std::string key = name + (is_a ? ".lora_A" : ".lora_B");
      tensors[key] = (is_a ? d.a : d.b).detach().to(at::kFloat).contiguous();
      tensors[key + ".exp_avg"] = state.exp_avg.at(key).contiguous();
      tensors[key + ".exp_avg_sq"] = state.exp_avg_sq.at(key).contiguous();
    }
  }
  std::map<std::string, TensorView> views;
  for (const auto& [name, t] : tensors) views[name] = to_view(t);
  write_safetensors(state_file(dir_, state.step), views, {{"step", std::to_string(state.step)}});

  // The previous checkpoint's file, removed once the new state is committed.
  int64_t previous = 0;
  const std::string state_path = (fs::path(dir_) / "state.json").string();
  if (fs::exists(state_path, ec)) {
    try {
      previous = parse_json_strict(read_text_file(state_path), state_path).value("step", int64_t{0});
    } catch (const Error&) {
      previous = 0;  // a damaged old state is replaced below
    }
  }
  const nlohmann::json j = {{"version", kStateVersion}, {"kind", "finetune"}, {"fingerprint", fingerprint_},
                            {"step", state.step},       {"losses", state.losses}};
  write_file_atomic(state_path, j.dump(1) + "\n");
  if (previous > 0 && previous != state.step) fs::remove(state_file(dir_, previous), ec);
}

void FinetuneResumeStore::remove() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace slmkit
