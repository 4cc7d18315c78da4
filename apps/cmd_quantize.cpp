// slmkit quantize MODEL --out DIR: weight-only RTN/GPTQ quantization with calibration.
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "eval/perplexity.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "pipeline/calibration.h"
#include "model/raw_checkpoint.h"
#include "pipeline/output_dir.h"
#include "pipeline/preflight.h"
#include "pipeline/progress.h"
#include "pipeline/quantize_model.h"
#include "pipeline/quantize_resume.h"
#include "pipeline/recipe.h"
#include "tokenizer/text_input.h"

namespace slmkit::cli {
namespace {

// "REGEX=BITS" or "REGEX=BITS/GROUP"; BITS 16 keeps the linear dense.
QuantOverride parse_override(const std::string& spec, const QuantGrid& base) {
  const size_t eq = spec.rfind('=');
  SLMKIT_CHECK(eq != std::string::npos && eq > 0, "--override \"", spec, "\": expected REGEX=BITS or REGEX=BITS/GROUP");
  QuantOverride o;
  o.pattern = spec.substr(0, eq);
  o.grid = base;
  const std::string rhs = spec.substr(eq + 1);
  const size_t slash = rhs.find('/');
  try {
    o.grid.bits = std::stoi(rhs.substr(0, slash));
    if (slash != std::string::npos) o.grid.group_size = std::stoll(rhs.substr(slash + 1));
  } catch (const std::exception&) {
    throw Error(cat("--override \"", spec, "\": BITS and GROUP must be integers"));
  }
  o.keep_dense = o.grid.bits == 16;
  SLMKIT_CHECK(o.keep_dense || (o.grid.bits >= 2 && o.grid.bits <= 8), "--override \"", spec,
               "\": bits must be 2..8, or 16 to keep the tensor dense");
  return o;
}

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// Saves through the resume store after every block, then honours SIGINT/SIGTERM
// (stop after the block just saved) and, for tests, SLMKIT_TEST_KILL_AFTER_BLOCK=N
// (SIGKILL itself once block N is saved: a real kill at a known point).
class CheckpointAndStop : public BlockCheckpoint {
 public:
  CheckpointAndStop(QuantizeResumeStore& store, std::string out_dir, Progress& progress)
      : store_(store), out_dir_(std::move(out_dir)), progress_(progress) {
    if (const char* k = std::getenv("SLMKIT_TEST_KILL_AFTER_BLOCK")) kill_after_ = std::atoll(k);
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
  }
  ~CheckpointAndStop() override {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
  int64_t restore(Model& model, at::Tensor* next_inputs, std::vector<TensorReport>* reports) override {
    const int64_t finished = store_.restore(model, next_inputs, reports);
    if (finished > 0)
      std::fprintf(stderr, "resuming: %lld of %lld blocks (%zu tensors) were finished by the interrupted run\n",
                   static_cast<long long>(finished), static_cast<long long>(model.config.num_layers()),
                   reports->size());
    progress_.skip(static_cast<int64_t>(reports->size()));
    return finished;
  }
  void save(const Model& model, int64_t layer, const at::Tensor& next_inputs,
            const std::vector<TensorReport>& reports) override {
    store_.save(model, layer, next_inputs, reports);
    if (layer == kill_after_) std::raise(SIGKILL);
    SLMKIT_CHECK(g_stop_signal == 0 || layer + 1 == model.config.num_layers(), "stopped by signal ",
                 static_cast<int>(g_stop_signal), " after block ", layer, " of ", model.config.num_layers(),
                 "; progress is saved: rerun the same command with --resume to continue (output ", out_dir_, ")");
  }

 private:
  QuantizeResumeStore& store_;
  std::string out_dir_;
  Progress& progress_;
  int64_t kill_after_ = -1;
};

std::string methods_help() {
  std::string s = "method:";
  for (const auto& m : quant_methods()) s += cat("\n  ", m.name, ": ", m.summary);
  return s;
}

}  // namespace

int run_quantize(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, out_dir, json_path, config_path;
  QuantizeRecipe recipe;
  CalibrationConfig calib;
  std::vector<std::string> overrides;
  bool force = false, resume = false, no_true_sequential = false, quiet = false;
  std::string fallback = "error";
  po::options_description desc("quantize options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "checkpoint directory or file")
      ("out,o", po::value<std::string>(&out_dir)->required(), "output directory (Hugging Face GPTQ format)")
      ("config", po::value<std::string>(&config_path),
       "YAML recipe (configs/*.yaml); flags given on the command line override its values")
      ("method,m", po::value<std::string>(&recipe.method)->default_value("gptq"), methods_help().c_str())
      ("bits,b", po::value<int>(&recipe.gptq.grid.bits)->default_value(4), "bits per weight (2..8)")
      ("group-size,g", po::value<int64_t>(&recipe.gptq.grid.group_size)->default_value(128),
       "input columns per group; -1 = one group per row")
      ("sym", po::bool_switch(&recipe.gptq.grid.symmetric), "symmetric grid (default: asymmetric min/max)")
      ("act-order", po::bool_switch(&recipe.gptq.act_order), "GPTQ: columns by decreasing Hessian diagonal")
      ("static-groups", po::bool_switch(&recipe.gptq.static_groups), "GPTQ: group grids fixed before the solve")
      ("percdamp", po::value<double>(&recipe.gptq.percdamp)->default_value(0.01), "GPTQ: damping, fraction of mean diag(H)")
      ("block-size", po::value<int64_t>(&recipe.gptq.block_size)->default_value(128), "GPTQ: lazy-batch width")
      ("no-true-sequential", po::bool_switch(&no_true_sequential), "quantize a block's linears from one pass")
      ("override", po::value<std::vector<std::string>>(&overrides)->composing(),
       "per-tensor bits, REGEX=BITS[/GROUP] (BITS 16 = keep dense); repeatable, first match wins")
      ("chunk", po::value<int64_t>(&recipe.chunk)->default_value(recipe.chunk),
       "calibration windows per forward call (memory vs speed)")
      ("fallback", po::value<std::string>(&fallback)->default_value("error"),
       "GPTQ: a linear whose Hessian stays indefinite after maximum damping: error (stop) or rtn "
       "(round to nearest, recorded in its report)")
      ("force", po::bool_switch(&force),
       "overwrite an existing output directory (and any interrupted run in it); start even when the "
       "preflight estimate exceeds the free memory or disk")
      ("resume", po::bool_switch(&resume),
       "continue an interrupted run in --out from its last finished block (same command otherwise)")
      ("json", po::value<std::string>(&json_path), "write the per-tensor report and summary as JSON")
      ("quiet,q", po::bool_switch(&quiet), "no per-tensor lines");
  add_calibration_options(desc, calib);
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit quantize MODEL --out DIR [--method rtn|gptq|awq] [--bits 4] [--group-size 128]",
                  desc, "model", 1, vm))
    return 0;
  apply_threads(common);
  recipe.true_sequential = !no_true_sequential;
  if (!config_path.empty()) {
    // The file sets the recipe; flags typed on the command line win over it.
    QuantizeRecipe from_file;
    CalibrationConfig calib_file = calib;
    from_file.chunk = recipe.chunk;
    load_quantize_recipe(config_path, &from_file, &calib_file);
    auto given = [&](const char* name) { return vm.count(name) && !vm[name].defaulted(); };
    if (given("method")) from_file.method = recipe.method;
    if (given("bits")) from_file.gptq.grid.bits = recipe.gptq.grid.bits;
    if (given("group-size")) from_file.gptq.grid.group_size = recipe.gptq.grid.group_size;
    if (given("sym")) from_file.gptq.grid.symmetric = true;
    if (given("act-order")) from_file.gptq.act_order = true;
    if (given("static-groups")) from_file.gptq.static_groups = true;
    if (given("percdamp")) from_file.gptq.percdamp = recipe.gptq.percdamp;
    if (given("block-size")) from_file.gptq.block_size = recipe.gptq.block_size;
    if (given("no-true-sequential")) from_file.true_sequential = false;
    if (given("calib-samples")) calib_file.samples = calib.samples;
    if (given("calib-seq-len")) calib_file.seq_len = calib.seq_len;
    if (given("seed")) calib_file.seed = calib.seed;
    if (!calib.text_path.empty()) calib_file.text_path = calib.text_path;
    recipe = from_file;
    calib = calib_file;
  }
  SLMKIT_CHECK(fallback == "error" || fallback == "rtn", "--fallback must be error or rtn, found ", fallback);
  recipe.rtn_fallback = fallback == "rtn";
  if (recipe.gptq.grid.group_size < 0) recipe.gptq.grid.group_size = 0;
  SLMKIT_CHECK(recipe.gptq.grid.bits >= 2 && recipe.gptq.grid.bits <= 8, "--bits must be 2..8, found ",
               recipe.gptq.grid.bits);
  // Command-line overrides go first: first match wins, and typed flags win over the recipe file.
  std::vector<QuantOverride> typed;
  for (const auto& o : overrides) typed.push_back(parse_override(o, recipe.gptq.grid));
  recipe.overrides.insert(recipe.overrides.begin(), typed.begin(), typed.end());
  // Before hours of work, not after. An interrupted run's directory is reused
  // only with --resume, and discarded only with --force.
  check_output_outside_input(model_path, out_dir);
  const bool interrupted = QuantizeResumeStore::present(out_dir);
  SLMKIT_CHECK(!interrupted || resume || force, out_dir,
               " holds an interrupted quantize run; pass --resume to continue it or --force to start over");
  SLMKIT_CHECK(!(resume && force), "--resume and --force contradict each other: choose one");
  {
    // From the config alone, before any weight is loaded.
    const ModelConfig config = read_checkpoint(model_path).config;
    const int64_t seq_len = calib.seq_len > 0 ? calib.seq_len : std::min<int64_t>(2048, config.max_positions);
    const JobEstimate estimate =
        estimate_quantize(config, {calib.samples, seq_len, recipe.chunk}, recipe.gptq.grid.bits,
                          recipe.gptq.grid.group_size, common.dtype == "float32" || common.dtype == "fp32" ? 4 : 2,
                          recipe.method == "awq");
    const AvailableResources available = measure_available(out_dir);
    std::fprintf(stderr, "%s\n", describe_preflight(estimate, available).c_str());
    check_resources(estimate, available, force);
  }
  if (interrupted && force) QuantizeResumeStore(out_dir, "").remove();
  prepare_output_dir(out_dir, force || (resume && interrupted));
  if (resume && !interrupted)
    std::fprintf(stderr, "--resume: no interrupted run in %s, starting from the first block\n", out_dir.c_str());

  auto model = load_model_for_cli(model_path, common);
  check_finite_weights(*model);
  auto tokenizer = load_tokenizer_for_cli(model_path, common);
  check_tokenizer_fits_model(*tokenizer, model->config, model_path);
  const at::Tensor windows = cli_calibration_windows(calib, *tokenizer, model->config);
  const int64_t act_bytes = 2 * windows.numel() * model->config.hidden_size * 4;
  std::fprintf(stderr,
               "quantize %s: %s %s, %lld layers | calibration %s | %d threads | activations ~%.0f MiB + one block\n",
               model_path.c_str(), recipe.method.c_str(), describe(recipe.gptq.grid).c_str(),
               static_cast<long long>(model->config.num_layers()), describe_calibration(calib).c_str(),
               at::get_num_threads(), act_bytes / 1048576.0);

  Progress progress("quantize", model->config.num_layers() * static_cast<int64_t>(model->block_linear_names().size()),
                    "tensors", !quiet);
  QuantizeResumeStore store(out_dir, quantize_job_fingerprint(*model, windows, recipe));
  CheckpointAndStop checkpoint(store, out_dir, progress);
  const QuantizeSummary summary = quantize_model(*model, windows, recipe, [&](const TensorReport& r, int64_t done, int64_t total) {
    if (!quiet)
      std::fprintf(stderr, "  %-40s [%lld x %lld] %-18s rel.err %.3e  %.2f s  (%lld/%lld)%s\n", r.name.c_str(),
                   static_cast<long long>(r.out_features), static_cast<long long>(r.in_features),
                   r.kept_dense ? "kept dense" : describe(r.grid).c_str(), r.relative_error, r.seconds,
                   static_cast<long long>(done), static_cast<long long>(total),
                   r.rtn_fallback ? "  GPTQ FAILED: RTN fallback" : "");
    progress.update(done);
  }, &checkpoint);
  progress.finish();

  save_model(*model, out_dir);
  copy_tokenizer_files(model_path, out_dir);
  store.remove();
  std::printf("quantized %s with %s %s in %.1f s: block linears %.2f MiB -> %.2f MiB (%.2f bits/weight incl. scales), "
              "model %.2f MiB -> %.2f MiB, peak RSS %.0f MiB; written to %s\n",
              model_path.c_str(), recipe.method.c_str(), describe(recipe.gptq.grid).c_str(), summary.seconds,
              summary.linear_bytes_before / 1048576.0, summary.linear_bytes_after / 1048576.0, summary.bits_per_weight,
              summary.model_bytes_before / 1048576.0, summary.model_bytes_after / 1048576.0,
              peak_rss_bytes() / 1048576.0, out_dir.c_str());
  if (!json_path.empty()) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& r : summary.tensors) tensors.push_back(tensor_report_json(r));
    nlohmann::json j = {{"model", model_path}, {"out", out_dir}, {"method", recipe.method},
                        {"grid", describe(recipe.gptq.grid)}, {"act_order", recipe.gptq.act_order},
                        {"calibration", calibration_json(calib)},
                        {"seconds", summary.seconds}, {"block_seconds", summary.block_seconds},
                        {"peak_rss_bytes", peak_rss_bytes()}, {"threads", at::get_num_threads()},
                        {"bits_per_weight", summary.bits_per_weight},
                        {"model_bytes_before", summary.model_bytes_before}, {"model_bytes_after", summary.model_bytes_after},
                        {"tensors", tensors}};
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace slmkit::cli
