#include "pipeline/pipeline_runner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/hash.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"

namespace slmkit {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kMarker = "slmkit-step.json";
constexpr size_t kShortKey = 12;  // hex digits of the key in folder names

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Makes a rename inside `dir` durable.
void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// The output folder, locked for the duration of a run (two runs in one folder
// would share work folders).
class OutputFolder {
 public:
  explicit OutputFolder(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    SLMKIT_CHECK(!ec, dir_, ": cannot create the output folder: ", ec.message());
    const std::string lock = dir_ + "/.lock";
    fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    SLMKIT_CHECK(fd_ >= 0, lock, ": cannot open the lock file: ", std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw Error(cat(dir_, " is in use by another slmkit pipeline run; wait for it or choose another --out"));
    }
  }
  ~OutputFolder() { ::close(fd_); }
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

  const std::string& dir() const { return dir_; }
  std::string cache_dir() const { return dir_ + "/.cache"; }

  // The finished output of `key` (any name), or "".
  std::string find(const std::string& key, nlohmann::json* marker) const {
    const std::string suffix = "-" + key.substr(0, kShortKey);
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (!e.is_directory() || name[0] == '.' || name.size() <= suffix.size() ||
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
        continue;
      const fs::path m = e.path() / kMarker;
      if (!fs::exists(m)) continue;
      try {
        nlohmann::json j = parse_json_strict(read_text_file(m.string()), m.string());
        if (j.value("key", "") != key) continue;
        *marker = std::move(j);
        return e.path().string();
      } catch (const Error&) {
        continue;  // a damaged marker is not a finished step
      }
    }
    return "";
  }

 private:
  std::string dir_;
  int fd_ = -1;
};

std::string step_key(const PipelineStep& step, const std::string& input_key, const std::vector<StepModel>& models,
                     const std::vector<std::string>& model_keys) {
  Hasher64 h;
  h.add("slmkit pipeline step v1").add(step.kind->name).add(std::to_string(step.kind->version));
  h.add(step.prepared.canonical).add(input_key);
  // A comparison reads every model and names them in its report; a model's bytes depend on no name.
  if (step.kind->reads == StepReads::kInputAndOriginal) h.add("original").add(model_keys.front());
  if (step.kind->reads == StepReads::kAllModels)
    for (size_t i = 0; i < models.size(); ++i) h.add(model_keys[i]).add(models[i].label);
  return h.hex();
}

nlohmann::json outcome_json(const StepOutcome& o) {
  return {{"name", o.name}, {"kind", o.kind},       {"key", o.key},         {"dir", o.dir},
          {"cached", o.cached}, {"seconds", o.seconds}, {"report", o.report}};
}

// Runs one step, or finds its finished output.
StepOutcome run_step(const PipelineStep& step, const std::string& key, StepRun run, const std::string& folder,
                     const OutputFolder& out, const PipelineOptions& options, const std::string& position) {
  auto log = [&](const std::string& s) {
    if (options.log) options.log(s);
  };
  StepOutcome o;
  o.name = step.name, o.kind = step.kind->name, o.key = key, o.produces_model = step.kind->produces_model;
  nlohmann::json marker;
  o.dir = out.find(key, &marker);
  if (!o.dir.empty()) {
    o.cached = true;
    o.seconds = marker.value("seconds", 0.0);
    o.report = marker.value("report", nlohmann::json::object());
    log(cat(position, " ", step.name, " (", o.kind, "): cached in ", o.dir));
    return o;
  }
  const std::string final_dir = out.dir() + "/" + folder + "-" + key.substr(0, kShortKey);
  const std::string work = out.dir() + "/.work-" + folder + "-" + key.substr(0, kShortKey);
  if (fs::exists(work) && !step.kind->resumable) fs::remove_all(work);
  if (fs::exists(work)) log(cat(position, " ", step.name, ": continuing the interrupted run in ", work));
  fs::create_directories(work);
  log(cat(position, " ", step.name, " (", o.kind, "): running -> ", final_dir));
  run.out_dir = work;
  run.cache_dir = out.cache_dir();
  const auto t0 = Clock::now();
  const std::string kept = step.kind->resumable ? cat("; its partial work in ", work, " is kept and the next run continues it")
                                                : std::string();
  const std::string earlier = cat("; earlier steps' outputs in ", out.dir(), " are kept and the next run reuses them");
  try {
    o.report = step.prepared.run(run);
  } catch (const InternalError&) {
    if (!step.kind->resumable) fs::remove_all(work);
    throw;
  } catch (const std::exception& e) {
    if (!step.kind->resumable) fs::remove_all(work);
    throw Error(cat(step.where, " failed: ", e.what(), kept, earlier));
  }
  o.seconds = since(t0);
  const nlohmann::json m = {{"key", key},
                            {"kind", o.kind},
                            {"name", step.name},
                            {"canonical", step.prepared.canonical},
                            {"input", run.input_model},
                            {"seconds", o.seconds},
                            {"report", o.report}};
  write_file_atomic(work + "/" + kMarker, m.dump(2) + "\n");  // the commit point: written last
  if (fs::exists(final_dir)) fs::remove_all(final_dir);     // a folder without a valid marker
  fs::rename(work, final_dir);
  sync_dir(out.dir());
  o.dir = final_dir;
  log(cat(position, " ", step.name, ": done in ", std::round(o.seconds * 10) / 10, " s: ",
          o.report.value("summary", std::string())));
  return o;
}

// Runs `steps` over the model `input` (keyed `input_key`), appending to *result as steps finish.
void run_chain(const std::string& input, const std::string& input_key, const std::vector<PipelineStep>& steps,
               const std::string& prefix, const std::string& where, OutputFolder& out, const PipelineOptions& options,
               ChainResult* result) {
  std::vector<StepModel> models{{model_label(input), input}};
  std::vector<std::string> model_keys{input_key};
  std::string current = input, current_key = input_key;
  for (size_t i = 0; i < steps.size(); ++i) {
    const PipelineStep& step = steps[i];
    const std::string key = step_key(step, current_key, models, model_keys);
    StepRun run;
    run.input_model = current;
    run.models = models;
    run.progress = options.progress;
    StepOutcome o = run_step(step, key, run, prefix + step.name, out, options,
                             cat(where, "step ", i + 1, "/", steps.size()));
    if (o.produces_model) {
      current = o.dir, current_key = key;
      models.push_back({step.name, o.dir});
      model_keys.push_back(key);
    } else if (*step.kind->model_file) {  // e.g. a GGUF file: compared, not transformed further
      models.push_back({step.name, o.dir + "/" + step.kind->model_file});
      model_keys.push_back(key);
    }
    result->steps.push_back(std::move(o));
    result->final_model = current;
  }
}

nlohmann::json chain_json(const ChainResult& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : r.steps) steps.push_back(outcome_json(s));
  return {{"steps", steps}, {"final_model", r.final_model}, {"seconds", r.seconds}};
}

}  // namespace

std::string input_model_key(const std::string& model_path) {
  Hasher64 h;
  h.add("model ").add(model_fingerprint(model_path));
  const std::string tok = default_tokenizer_path(model_path);
  std::vector<std::string> files;
  if (fs::is_directory(tok)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"})
      if (fs::exists(fs::path(tok) / name)) files.push_back((fs::path(tok) / name).string());
  } else if (!tok.empty()) {
    files.push_back(tok);
  }
  for (const auto& f : files) {
    const auto m = MappedFile::open(f);
    h.add(fs::path(f).filename().string()).add(m->data(), m->size());
  }
  return h.hex();
}

ChainResult run_pipeline(const PipelineRecipe& recipe, const std::string& model_path, const PipelineOptions& options) {
  SLMKIT_CHECK(!recipe.is_sweep(), recipe.path, " is a sweep (variants:); run it with slmkit compare BASE --sweep");
  OutputFolder out(options.out_dir);
  const auto t0 = Clock::now();
  ChainResult result;
  result.final_model = model_path;
  auto write_report = [&](const std::string& status, const std::string& error) {
    nlohmann::json j = chain_json(result);
    j["recipe"] = recipe.path, j["model"] = model_path, j["status"] = status;
    if (!error.empty()) j["error"] = error;
    write_file_atomic(out.dir() + "/pipeline.json", j.dump(2) + "\n");
  };
  try {
    run_chain(model_path, input_model_key(model_path), recipe.steps, "", "", out, options, &result);
  } catch (const std::exception& e) {
    result.seconds = since(t0);
    write_report("failed", e.what());
    throw;
  }
  result.seconds = since(t0);
  write_report("ok", "");
  return result;
}

SweepResult run_sweep(const PipelineRecipe& recipe, const StepModel& base_model, const std::vector<StepModel>& extra,
                      const CompareSettings& compare, const PipelineOptions& options) {
  SLMKIT_CHECK(recipe.is_sweep(), recipe.path, " has no variants: it is a pipeline; run it with slmkit pipeline");
  OutputFolder out(options.out_dir);
  SweepResult result;
  const std::string& base = base_model.path;
  const std::string base_key = input_model_key(base);
  std::vector<StepModel> models{base_model};
  std::vector<std::string> keys{base_key};
  for (const auto& m : extra) {
    models.push_back(m);
    keys.push_back(input_model_key(m.path));
  }
  for (size_t v = 0; v < recipe.variants.size(); ++v) {
    const PipelineVariant& variant = recipe.variants[v];
    ChainResult chain;
    chain.final_model = base;
    const auto t0 = Clock::now();
    run_chain(base, base_key, variant.steps, variant.name + ".", cat("variant ", v + 1, "/", recipe.variants.size(), " ",
              variant.name, ": "), out, options, &chain);
    chain.seconds = since(t0);
    // The variant is its last model: a checkpoint, or a model file such as a GGUF export.
    std::string final_path = base, final_key = base_key;
    for (size_t i = 0; i < chain.steps.size(); ++i) {
      const StepKind& kind = *variant.steps[i].kind;
      if (kind.produces_model || *kind.model_file) {
        final_path = kind.produces_model ? chain.steps[i].dir : chain.steps[i].dir + "/" + kind.model_file;
        final_key = chain.steps[i].key;
      }
    }
    models.push_back({variant.name, final_path});
    keys.push_back(final_key);
    result.variants.emplace_back(variant.name, std::move(chain));
  }
  PipelineStep step{"compare", find_step_kind("compare"), make_compare_step(compare), recipe.path + ": compare"};
  SLMKIT_ASSERT(step.kind != nullptr, "the compare step kind is missing from the table");
  StepRun run;
  run.input_model = base;
  run.models = models;
  run.progress = options.progress;
  result.compare = run_step(step, step_key(step, base_key, models, keys), run, "compare", out, options, "compare:");
  // The report files are rendered again from the rows (cheap), so they follow the current code.
  for (const auto& row : result.compare.report.at("rows")) result.rows.push_back(row_from_json(row));
  write_file_atomic(out.dir() + "/compare.md", compare_markdown(result.rows, compare.config));
  write_file_atomic(out.dir() + "/compare.json", result.compare.report.at("rows").dump(2) + "\n");
  write_file_atomic(out.dir() + "/compare.svg",
                    compare_svg(result.rows, "slmkit compare: " + base_model.label + " and variants"));
  nlohmann::json variants = nlohmann::json::object();
  for (const auto& [name, chain] : result.variants) variants[name] = chain_json(chain);
  write_file_atomic(out.dir() + "/sweep.json",
                    nlohmann::json{{"recipe", recipe.path}, {"base", base}, {"variants", variants},
                                   {"compare", outcome_json(result.compare)}}
                            .dump(2) +
                        "\n");
  return result;
}

}  // namespace slmkit
