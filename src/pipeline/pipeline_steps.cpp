#include "pipeline/pipeline_steps.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <utility>

#include "core/error.h"
#include "core/hash.h"
#include "eval/perplexity.h"
#include "eval/tasks.h"
#include "export/gguf_types.h"
#include "io/atomic_file.h"
#include "io/ggml_blocks.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "pipeline/export_model.h"
#include "pipeline/finetune.h"
#include "pipeline/finetune_resume.h"
#include "pipeline/lora_adapter.h"
#include "pipeline/lowrank_model.h"
#include "pipeline/output_dir.h"
#include "pipeline/progress.h"
#include "pipeline/prune_model.h"
#include "pipeline/quantize_model.h"
#include "pipeline/quantize_resume.h"
#include "pipeline/recipe.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {
namespace fs = std::filesystem;
namespace {

std::string file_hash(const std::string& path) {
  const auto f = MappedFile::open(path);
  return Hasher64().add(f->data(), f->size()).hex();
}

// The calibration as a canonical line: the text by content, so moving the data folder keeps the caches.
std::string describe_calibration(const CalibrationConfig& c) {
  return cat("calibration text#", file_hash(c.text_path), " samples=", c.samples, " seq_len=", c.seq_len,
             " seed=", c.seed, " chunk=", c.chunk);
}

std::string mib(int64_t bytes) { return cat(std::round(bytes / 1048576.0 * 100) / 100, " MiB"); }

// One progress bar per stage of a pass that reports (stage, done, total) events.
class StageProgress {
 public:
  StageProgress(std::string prefix, bool enabled) : prefix_(std::move(prefix)), enabled_(enabled) {}
  void update(const std::string& stage, int64_t done, int64_t total) {
    if (!bar_ || stage != stage_) {
      finish();
      stage_ = stage;
      bar_ = std::make_unique<Progress>(prefix_ + stage, total, "blocks", enabled_);
    }
    bar_->update(done);
  }
  void finish() {
    if (bar_) bar_->finish();
    bar_.reset();
  }

 private:
  std::string prefix_, stage_;
  bool enabled_;
  std::unique_ptr<Progress> bar_;
};

// Percentage of the block parameters kept, to two decimals.
double percent_kept(int64_t before, int64_t after) {
  const double kept = before > 0 ? 100.0 * static_cast<double>(after) / static_cast<double>(before) : 100.0;
  return std::round(kept * 100) / 100;
}

// Calibration windows for `model` with the tokenizer beside `model_path`; fills in seq_len 0.
at::Tensor calibration_windows(const Model& model, const std::string& model_path, CalibrationConfig* calib) {
  const std::string tok = default_tokenizer_path(model_path);
  SLMKIT_CHECK(!tok.empty(), model_path, ": no tokenizer beside this checkpoint (needed for calibration)");
  const auto tokenizer = load_tokenizer(tok);
  return slmkit::calibration_windows(*calib, *tokenizer, model.config);
}

template <typename Table>
void check_name(const std::string& value, const Table& table, const char* what, const std::string& where) {
  std::string known;
  for (const auto& row : table) {
    if (value == row.name) return;
    known += cat(known.empty() ? "" : ", ", row.name);
  }
  throw Error(cat(where, ": unknown ", what, " \"", value, "\" (known: ", known, ")"));
}

// ---- quantize -------------------------------------------------------------

// The resume store, plus progress bookkeeping; a store that cannot be restored
// (another job's progress, damaged files) is discarded so the next run starts clean.
class StepCheckpoint : public BlockCheckpoint {
 public:
  StepCheckpoint(QuantizeResumeStore& store, Progress& progress) : store_(store), progress_(progress) {}
  int64_t restore(Model& model, at::Tensor* next_inputs, std::vector<TensorReport>* reports) override {
    int64_t finished = 0;
    try {
      finished = store_.restore(model, next_inputs, reports);
    } catch (const Error& e) {
      store_.remove();
      throw Error(cat(e.what(), "; the saved progress was discarded: run the pipeline again to redo this step"));
    }
    progress_.skip(static_cast<int64_t>(reports->size()));
    return finished;
  }
  void save(const Model& model, int64_t layer, const at::Tensor& next_inputs,
            const std::vector<TensorReport>& reports) override {
    store_.save(model, layer, next_inputs, reports);
  }

 private:
  QuantizeResumeStore& store_;
  Progress& progress_;
};

nlohmann::json run_quantize(const StepRun& run, const QuantizeRecipe& recipe, CalibrationConfig calib) {
  Model model = load_model(run.input_model);
  const at::Tensor windows = calibration_windows(model, run.input_model, &calib);
  Progress progress("quantize", model.config.num_layers() * static_cast<int64_t>(model.block_linear_names().size()),
                    "tensors", run.progress);
  QuantizeResumeStore store(run.out_dir, quantize_job_fingerprint(model, windows, recipe));
  StepCheckpoint checkpoint(store, progress);
  const QuantizeSummary s = quantize_model(
      model, windows, recipe, [&](const TensorReport&, int64_t done, int64_t) { progress.update(done); }, &checkpoint);
  progress.finish();
  save_model(model, run.out_dir);
  copy_tokenizer_files(run.input_model, run.out_dir);
  store.remove();
  return {{"summary", cat(recipe.method, " ", describe(recipe.gptq.grid), ", ", std::round(s.bits_per_weight * 100) / 100,
                          " bits/weight, model ", mib(s.model_bytes_before), " -> ", mib(s.model_bytes_after))},
          {"bits_per_weight", s.bits_per_weight},
          {"model_bytes_before", s.model_bytes_before},
          {"model_bytes_after", s.model_bytes_after},
          {"quantize_seconds", s.seconds}};
}

PreparedStep prepare_quantize(StepSettings& s, const RecipeEnv& env) {
  QuantizeRecipe recipe;
  CalibrationConfig calib = env.calibration;
  std::string config;
  if (s.get("config", &config)) {
    const fs::path p(config);
    load_quantize_recipe(p.is_absolute() ? config : (fs::path(env.recipe_dir) / p).string(), &recipe, &calib);
  }
  read_quantize_recipe(s.all_except("config"), s.where(), &recipe, &calib);
  check_name(recipe.method, quant_methods(), "quantization method", s.where());
  const std::string canonical = cat(describe_recipe(recipe), " | ", describe_calibration(calib));
  return {canonical, [recipe, calib](const StepRun& run) { return run_quantize(run, recipe, calib); }};
}

// ---- prune ----------------------------------------------------------------

nlohmann::json run_prune(const StepRun& run, const PruneRecipe& recipe, CalibrationConfig calib) {
  Model model = load_model(run.input_model);
  at::Tensor windows;
  if (prune_needs_calibration(recipe)) windows = calibration_windows(model, run.input_model, &calib);
  StageProgress bars("prune ", run.progress);
  const PruneSummary s =
      prune_model(model, windows, recipe, [&](const PruneEvent& e) { bars.update(e.stage, e.done, e.total); });
  bars.finish();
  save_model(model, run.out_dir);
  copy_tokenizer_files(run.input_model, run.out_dir);
  std::string summary = cat(s.method, "/", s.criterion.empty() ? "block-influence" : s.criterion, ", block params ",
                            s.block_params_before, " -> ", s.block_params_after, " (",
                            percent_kept(s.block_params_before, s.block_params_after), "% kept)");
  if (recipe.method == "unstructured")
    summary = cat(s.method, "/", s.criterion, ", sparsity ", recipe.sparsity.effective_sparsity());
  return {{"summary", summary},
          {"block_params_before", s.block_params_before},
          {"block_params_after", s.block_params_after},
          {"model_params_after", s.model_params_after},
          {"notes", s.notes},
          {"prune_seconds", s.seconds}};
}

PreparedStep prepare_prune(StepSettings& s, const RecipeEnv& env) {
  PruneRecipe r;
  std::string allocation = "uniform", pattern;
  s.get("method", &r.method);
  s.get("criterion", &r.criterion);
  s.get("target_params", &r.target_params);
  s.get("allocation", &allocation);
  s.get("min_kv_groups", &r.allocation.min_kv_groups);
  s.get("min_channels", &r.allocation.min_channel_fraction);
  s.get("max_keep", &r.allocation.max_keep_fraction);
  s.get("bias_compensation", &r.bias_compensation);
  s.get("sparsity", &r.sparsity.sparsity);
  s.get("pattern", &pattern);
  s.get("block_size", &r.sparsegpt.block_size);
  s.get("percdamp", &r.sparsegpt.percdamp);
  YAML::Node calib_node;
  s.get("calibration", &calib_node);
  const CalibrationConfig calib = read_calibration(calib_node, s.where() + ": calibration", env.calibration);
  check_name(r.method, prune_methods(), "pruning method", s.where());
  if (!r.criterion.empty()) check_name(r.criterion, prune_criteria(), "pruning criterion", s.where());
  const bool unstructured = r.method == "unstructured";
  SLMKIT_CHECK(!unstructured || !s.has("target_params"), s.where(),
               ": target_params is for structured and layers pruning; unstructured takes sparsity or pattern");
  SLMKIT_CHECK(unstructured || (!s.has("sparsity") && !s.has("pattern")), s.where(),
               ": sparsity and pattern are for method unstructured; structured and layers take target_params");
  SLMKIT_CHECK(r.target_params > 0 && r.target_params <= 1, s.where(), ": target_params must be in (0, 1], found ",
               r.target_params);
  try {
    r.allocation.mode = parse_allocation_mode(allocation);
    r.sparsity.pattern = parse_nm_pattern(pattern);
  } catch (const Error& e) {
    throw Error(cat(s.where(), ": ", e.what()));
  }
  if (r.sparsity.pattern.enabled()) r.sparsity.sparsity = r.sparsity.pattern.sparsity();
  if (r.criterion.empty() && r.method != "layers") r.criterion = unstructured ? "wanda" : "flap";
  std::string canonical =
      cat("method=", r.method, " criterion=", r.criterion, " target=", r.target_params, " allocation=", allocation,
          " min_kv=", r.allocation.min_kv_groups, " min_channels=", r.allocation.min_channel_fraction,
          " max_keep=", r.allocation.max_keep_fraction, " bias_compensation=", r.bias_compensation,
          " sparsity=", r.sparsity.effective_sparsity(), " pattern=", r.sparsity.pattern.keep, ":",
          r.sparsity.pattern.group, " block=", r.sparsegpt.block_size, " percdamp=", r.sparsegpt.percdamp,
          " chunk=", r.chunk, " | ", prune_needs_calibration(r) ? describe_calibration(calib) : "no calibration");
  return {canonical, [r, calib](const StepRun& run) { return run_prune(run, r, calib); }};
}

// ---- lowrank --------------------------------------------------------------

nlohmann::json run_lowrank(const StepRun& run, const LowRankRecipe& recipe, CalibrationConfig calib, bool use_calib) {
  Model model = load_model(run.input_model);
  at::Tensor windows;
  if (use_calib) windows = calibration_windows(model, run.input_model, &calib);
  StageProgress bars("lowrank ", run.progress);
  const LowRankSummary s = low_rank_model(model, windows, recipe, [&](const LowRankEvent& e) {
    if (e.linear == nullptr) bars.update(e.stage, e.done, e.total);
  });
  bars.finish();
  save_model(model, run.out_dir);
  copy_tokenizer_files(run.input_model, run.out_dir);
  return {{"summary", cat(s.method, " (ranks by ", s.rank_selection, "), block params ", s.block_params_before, " -> ",
                          s.block_params_after, " (", percent_kept(s.block_params_before, s.block_params_after),
                          "% kept), ", s.factorized, " linears factorized")},
          {"block_params_before", s.block_params_before},
          {"block_params_after", s.block_params_after},
          {"model_params_after", s.model_params_after},
          {"lowrank_seconds", s.seconds}};
}

PreparedStep prepare_lowrank(StepSettings& s, const RecipeEnv& env) {
  LowRankRecipe r;
  std::string rank_select = "error";
  bool calibrate = true;
  s.get("method", &r.method);
  s.get("target", &r.target);
  s.get("rank_select", &rank_select);
  s.get("min_rank", &r.ranks.min_rank);
  s.get("alpha", &r.asvd.alpha);
  s.get("percdamp", &r.svd_llm.whitening.percdamp);
  s.get("update", &r.update);
  s.get("sequential", &r.sequential);
  s.get("calibrate", &calibrate);
  YAML::Node calib_node;
  s.get("calibration", &calib_node);
  const CalibrationConfig calib = read_calibration(calib_node, s.where() + ": calibration", env.calibration);
  check_name(r.method, low_rank_methods(), "low-rank method", s.where());
  try {
    r.ranks.mode = parse_rank_selection(rank_select);
  } catch (const Error& e) {
    throw Error(cat(s.where(), ": ", e.what()));
  }
  SLMKIT_CHECK(std::isfinite(r.target) && r.target > 0 && r.target <= 1, s.where(),
               ": target must be in (0, 1] (the share of the decoder blocks' parameters to keep), found ", r.target);
  // As the CLI: plain SVD can skip calibration (calibrate: false), then no output errors are measured.
  SLMKIT_CHECK(calibrate || !low_rank_needs_calibration(r), s.where(), ": calibrate: false works only for plain svd ",
               "with energy or uniform ranks and no update");
  const std::string canonical =
      cat("method=", r.method, " target=", r.target, " ranks=", rank_selection_name(r.ranks.mode),
          " min_rank=", r.ranks.min_rank, " alpha=", r.asvd.alpha, " asvd_floor=", r.asvd.floor,
          " percdamp=", r.svd_llm.whitening.percdamp, " update=", r.update, " sequential=", r.sequential,
          " chunk=", r.chunk, " | ", calibrate ? describe_calibration(calib) : "no calibration");
  return {canonical, [r, calib, calibrate](const StepRun& run) { return run_lowrank(run, r, calib, calibrate); }};
}

// ---- finetune -------------------------------------------------------------

// The resume store, with a store that cannot be restored discarded (as StepCheckpoint does).
class FinetuneStepCheckpoint : public FinetuneCheckpoint {
 public:
  explicit FinetuneStepCheckpoint(FinetuneResumeStore& store) : store_(store) {}
  bool restore(FinetuneState* state) override {
    try {
      return store_.restore(state);
    } catch (const Error& e) {
      store_.remove();
      throw Error(cat(e.what(), "; the saved progress was discarded: run the pipeline again to redo this step"));
    }
  }
  void save(const FinetuneState& state) override { store_.save(state); }

 private:
  FinetuneResumeStore& store_;
};

nlohmann::json run_finetune(const StepRun& run, const FinetuneConfig& cfg, const std::vector<std::string>& texts,
                            int64_t save_every) {
  Model student = load_model(run.input_model);
  std::unique_ptr<Model> teacher;
  if (cfg.loss != "ce") teacher = std::make_unique<Model>(load_model(run.models.front().path));
  const std::string tok = default_tokenizer_path(run.input_model);
  SLMKIT_CHECK(!tok.empty(), run.input_model, ": no tokenizer beside this checkpoint (needed for the training text)");
  const auto tokenizer = load_tokenizer(tok);
  std::vector<int64_t> ids;
  for (const std::string& path : texts)
    for (const int32_t id : tokenize_for_perplexity(read_text_file(path), *tokenizer, PplProtocol::kGPTQ))
      ids.push_back(id);
  const at::Tensor tokens = at::tensor(ids, at::kLong);
  FinetuneState state;
  state.adapter = init_finetune_adapter(student, cfg, run.input_model);
  Progress progress("finetune", cfg.steps, "steps", run.progress);
  FinetuneResumeStore store(run.out_dir, finetune_job_fingerprint(student, teacher.get(), tokens, cfg));
  FinetuneStepCheckpoint checkpoint(store);
  const FinetuneSummary s = finetune_lora(
      student, teacher.get(), tokens, cfg, &state,
      [&](const FinetuneStepReport& r) { progress.update(r.step, cat("loss ", r.loss)); }, &checkpoint, save_every);
  progress.finish();
  // The adapter beside the checkpoint (a subfolder: its safetensors is not part of the model), then merged.
  const std::string adapter_dir = run.out_dir + "/adapter";
  fs::create_directories(adapter_dir);
  save_lora_adapter(adapter_dir, state.adapter, at::kFloat, {{"slmkit.finetune", describe_finetune(cfg)}});
  double worst = 0;
  for (const LoraMergeReport& m : merge_lora_adapter(student, state.adapter)) worst = std::max(worst, m.delta_error);
  save_model(student, run.out_dir);
  copy_tokenizer_files(run.input_model, run.out_dir);
  store.remove();
  return {{"summary", cat(cfg.loss, " ", cfg.steps, " steps, loss ", std::round(s.first_loss * 1e4) / 1e4, " -> ",
                          std::round(s.final_loss * 1e4) / 1e4, ", merged (worst re-quantization loss of the change ",
                          std::round(worst * 1000) / 10, "%)")},
          {"first_loss", s.first_loss},
          {"final_loss", s.final_loss},
          {"trainable_parameters", s.trainable_parameters},
          {"worst_delta_error", worst},
          {"finetune_seconds", s.seconds}};
}

PreparedStep prepare_finetune(StepSettings& s, const RecipeEnv& env) {
  FinetuneConfig c;
  s.get("steps", &c.steps);
  s.get("seq_len", &c.seq_len);
  s.get("batch", &c.batch);
  s.get("grad_accum", &c.grad_accum);
  s.get("lr", &c.lr);
  s.get("warmup_steps", &c.warmup_steps);
  s.get("min_lr_ratio", &c.min_lr_ratio);
  s.get("weight_decay", &c.weight_decay);
  s.get("max_grad_norm", &c.max_grad_norm);
  s.get("loss", &c.loss);
  s.get("temperature", &c.temperature);
  s.get("kd_weight", &c.kd_weight);
  s.get("lora_r", &c.lora_rank);
  s.get("lora_alpha", &c.lora_alpha);
  s.get("rslora", &c.use_rslora);
  s.get("targets", &c.targets);
  s.get("seed", &c.seed);
  int64_t save_every = 25;
  s.get("save_every", &save_every);
  std::vector<std::string> texts{env.calibration.text_path};  // default: the recipe's calibration text
  YAML::Node text;
  if (s.get("train_text", &text)) texts = text.IsSequence() ? text.as<std::vector<std::string>>()
                                                            : std::vector<std::string>{text.as<std::string>()};
  try {
    check_finetune_config(c);
  } catch (const Error& e) {
    throw Error(cat(s.where(), ": ", e.what(), " (keys as in slmkit finetune, with _ for -)"));
  }
  SLMKIT_CHECK(save_every >= 0 && !texts.empty(), s.where(), ": save_every must be >= 0 and train_text non-empty");
  std::string canonical = describe_finetune(c);
  for (const auto& t : texts) canonical += cat(" text#", file_hash(t));
  return {canonical, [c, texts, save_every](const StepRun& run) { return run_finetune(run, c, texts, save_every); }};
}

// ---- export ---------------------------------------------------------------

nlohmann::json run_export(const StepRun& run, GgufExportRequest request, CalibrationConfig calib, bool importance) {
  const Model model = load_model(run.input_model);
  if (importance) request.calibration_windows = calibration_windows(model, run.input_model, &calib);
  request.out_path = run.out_dir + "/model.gguf";
  std::unique_ptr<Progress> bar;
  const GgufExportSummary s = export_model_gguf(model, run.input_model, request,
                                                [&](const GgufTensorReport&, int64_t done, int64_t total) {
                                                  if (!bar) bar = std::make_unique<Progress>("export", total, "tensors",
                                                                                             run.progress);
                                                  bar->update(done);
                                                });
  if (bar) bar->finish();
  nlohmann::json j = gguf_summary_json(s);
  j["summary"] = cat(gguf_file_type_name(request.config.file_type), " GGUF ", mib(s.file_bytes), ", ",
                     std::round(s.bits_per_weight * 100) / 100, " bits/weight; tensors: ", s.exact, " exact, ",
                     s.quantized, " quantized, ", s.requantized, " requantized, ", s.float_tensors, " float");
  return j;
}

PreparedStep prepare_export(StepSettings& s, const RecipeEnv& env) {
  GgufExportRequest request;
  std::string type = "q4_0", embedding_type;
  bool importance = false;
  s.get("type", &type);
  s.get("embedding_type", &embedding_type);
  s.get("requantize", &request.config.requantize);
  s.get("name", &request.config.name);
  s.get("importance", &importance);
  YAML::Node calib_node;
  s.get("calibration", &calib_node);
  const CalibrationConfig calib = read_calibration(calib_node, s.where() + ": calibration", env.calibration);
  const auto file_type = gguf_file_type_from_name(type);
  SLMKIT_CHECK(file_type, s.where(), ": unknown GGUF type \"", type, "\" (known: f32, f16, bf16, q8_0, q4_0, q4_1, ",
               "q4_k_m)");
  request.config.file_type = *file_type;
  if (!embedding_type.empty()) {
    const auto t = ggml_type_from_name(embedding_type);
    SLMKIT_CHECK(t, s.where(), ": unknown ggml type \"", embedding_type, "\" for embedding_type");
    request.config.embedding_type = *t;
  }
  const std::string canonical =
      cat("type=", gguf_file_type_name(request.config.file_type), " embedding=", embedding_type,
          " requantize=", request.config.requantize, " name=", request.config.name,
          " | ", importance ? describe_calibration(calib) + cat(" importance_chunk=", request.chunk) : "no importance");
  return {canonical, [request, calib, importance](const StepRun& run) {
            return run_export(run, request, calib, importance);
          }};
}

// ---- compare --------------------------------------------------------------

nlohmann::json run_compare(const StepRun& run, const CompareSettings& s) {
  std::vector<std::string> paths, labels;
  for (size_t i = 0; i < run.models.size(); ++i) {
    if (!s.all_models && i != 0 && i + 1 != run.models.size()) continue;
    paths.push_back(run.models[i].path);
    labels.push_back(run.models[i].label);
  }
  CompareConfig cfg = s.config;
  cfg.cache_dir = run.cache_dir;
  const auto rows = compare_models(paths, labels, cfg, [&](const std::string& line) {
    if (run.progress) std::fprintf(stderr, "[compare] %s\n", line.c_str());
  });
  const std::string md = compare_markdown(rows, cfg);
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) j.push_back(to_json(r));
  write_file_atomic(run.out_dir + "/compare.md", md);
  write_file_atomic(run.out_dir + "/compare.json", j.dump(2) + "\n");
  write_file_atomic(run.out_dir + "/compare.svg", compare_svg(rows, "slmkit compare: " + labels.front() + " and variants"));
  std::string summary;
  for (const auto& r : rows) {
    summary += cat(summary.empty() ? "" : "; ", r.label, " PPL ", std::round(r.perplexity * 100) / 100);
    if (!r.is_base && std::isfinite(r.kl_mean)) summary += cat(" KL ", std::round(r.kl_mean * 1e4) / 1e4);
  }
  return {{"summary", summary}, {"rows", j}};
}

PreparedStep prepare_compare(StepSettings& s, const RecipeEnv& env) {
  return make_compare_step(read_compare_settings(s, env));
}

}  // namespace

StepSettings::StepSettings(YAML::Node node, std::string where)
    : node_(node && !node.IsNull() ? node : YAML::Node(YAML::NodeType::Map)), where_(std::move(where)) {
  SLMKIT_CHECK(node_.IsMap(), where_, ": the settings must be a mapping of keys to values, e.g. {bits: 4}");
}

YAML::Node StepSettings::all_except(const char* skip) {
  all_known_ = true;
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& kv : node_)
    if (kv.first.as<std::string>() != skip) out[kv.first] = kv.second;
  return out;
}

void StepSettings::finish() const {
  if (all_known_) return;
  for (const auto& kv : node_) {
    const std::string key = kv.first.as<std::string>();
    if (known_.count(key)) continue;
    std::string list;
    for (const auto& k : known_) list += cat(list.empty() ? "" : ", ", k);
    throw Error(cat(where_, ": unknown key \"", key, "\" (allowed: ", list, ")"));
  }
}

void StepSettings::throw_wrong_type(const char* key, const YAML::Node& value) const {
  const std::string found = value.IsScalar() ? "\"" + value.Scalar() + "\"" : value.IsSequence() ? "a list" : "a mapping";
  throw Error(cat(where_, ": key \"", key, "\" has the wrong type (found ", found, ")"));
}

CalibrationConfig read_calibration(const YAML::Node& node, const std::string& where, CalibrationConfig c) {
  if (!node || node.IsNull()) return c;
  StepSettings s(node, where);
  s.get("samples", &c.samples);
  s.get("seq_len", &c.seq_len);
  s.get("seed", &c.seed);
  s.get("text", &c.text_path);
  s.finish();
  SLMKIT_CHECK(c.samples > 0 && c.seq_len >= 0, where, ": samples must be > 0 and seq_len >= 0");
  return c;
}

CompareSettings read_compare_settings(StepSettings& s, const RecipeEnv& env) {
  CompareSettings out;
  CompareConfig& c = out.config;
  c.text_path = env.data_dir + "/text/wikitext-2/wiki.test.raw";
  c.tasks_dir = env.data_dir + "/tasks";
  c.threads = env.threads;
  c.speed = false;  // speed numbers of a busy machine are noise; ask for them explicitly
  YAML::Node tasks;
  if (s.get("tasks", &tasks)) {
    if (tasks.IsSequence()) {
      for (const auto& t : tasks) c.tasks.push_back(t.as<std::string>());
    } else {
      const std::string list = tasks.as<std::string>();
      for (size_t start = 0; start <= list.size();) {
        const size_t comma = std::min(list.find(',', start), list.size());
        if (comma > start) c.tasks.push_back(list.substr(start, comma - start));
        start = comma + 1;
      }
    }
  }
  s.get("limit", &c.task_limit);
  s.get("max_windows", &c.max_windows);
  s.get("kl_windows", &c.kl_windows);
  s.get("speed", &c.speed);
  s.get("text", &c.text_path);
  std::string models = "all";
  s.get("models", &models);
  SLMKIT_CHECK(models == "all" || models == "last", s.where(), ": models must be \"all\" or \"last\", found \"",
               models, "\"");
  out.all_models = models == "all";
  SLMKIT_CHECK(c.task_limit >= 0 && c.max_windows >= 0 && c.kl_windows >= 0, s.where(),
               ": limit, max_windows and kl_windows must be >= 0");
  for (const auto& t : c.tasks) {
    try {
      task_spec(t);
    } catch (const Error& e) {
      throw Error(cat(s.where(), ": ", e.what()));
    }
  }
  return out;
}

PreparedStep make_compare_step(const CompareSettings& s) {
  const CompareConfig& c = s.config;
  std::string canonical = cat("text#", file_hash(c.text_path), " windows=", c.max_windows, " kl=", c.kl_windows,
                              " limit=", c.task_limit, " speed=", c.speed, " models=", s.all_models ? "all" : "last");
  if (c.speed) canonical += cat(" threads=", c.threads);
  for (const auto& t : c.tasks) {
    const TaskSpec& spec = task_spec(t);
    canonical += cat(" task=", t, "#", file_hash(c.tasks_dir + "/" + spec.file));
    if (spec.labels_file) canonical += cat("#", file_hash(c.tasks_dir + "/" + spec.labels_file));
  }
  return {canonical, [s](const StepRun& run) { return run_compare(run, s); }};
}

std::string model_label(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

const std::vector<StepKind>& step_kinds() {
  using R = StepReads;
  // name, summary, version, produces a model, model file, reads, resumable, prepare
  static const std::vector<StepKind> kinds = {
      {"quantize", "weight-only RTN/GPTQ/AWQ (keys of configs/gptq-4bit.yaml, or config: FILE)", 1, true, "",
       R::kInput, true, prepare_quantize},
      {"prune", "structured/layers/unstructured pruning (keys: method, criterion, target_params, sparsity, ...)", 1,
       true, "", R::kInput, false, prepare_prune},
      {"lowrank", "SVD/ASVD/SVD-LLM factorization (keys: method, target, rank_select, min_rank, alpha, ...)", 1, true,
       "", R::kInput, false, prepare_lowrank},
      {"finetune", "LoRA recovery training, distilled from the pipeline's input model by default, merged into the "
                   "weights (keys: steps, loss, lr, lora_r, train_text, ...)",
       1, true, "", R::kInputAndOriginal, true, prepare_finetune},
      {"export", "GGUF file for llama.cpp (keys: type q4_0|q4_1|q8_0|q4_k_m|f16|..., embedding_type, requantize, "
                 "importance); comparisons evaluate the file",
       1, false, "model.gguf", R::kInput, false, prepare_export},
      {"compare", "size/PPL/KL/zero-shot table and plot of the input and the models made so far", 1, false, "",
       R::kAllModels, false, prepare_compare},
  };
  return kinds;
}

const StepKind* find_step_kind(const std::string& name) {
  for (const auto& k : step_kinds())
    if (name == k.name) return &k;
  return nullptr;
}

}  // namespace slmkit
