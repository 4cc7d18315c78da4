// Shared pieces of the slmkit command line: the command table, common
// options (--threads, --dtype, --tokenizer) and model/tokenizer loading.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json_fwd.hpp>

#include "model/model.h"
#include "pipeline/calibration.h"
#include "tokenizer/tokenizer.h"

namespace slmkit::cli {

namespace po = boost::program_options;

// One subcommand. The table in main.cpp lists them all and drives `slmkit --help`.
struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

int run_eval(const std::vector<std::string>& args);
int run_inspect(const std::vector<std::string>& args);
int run_generate(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);
int run_quantize(const std::vector<std::string>& args);
int run_export(const std::vector<std::string>& args);
int run_prune(const std::vector<std::string>& args);
int run_lowrank(const std::vector<std::string>& args);
int run_finetune(const std::vector<std::string>& args);
int run_compensate(const std::vector<std::string>& args);
int run_merge(const std::vector<std::string>& args);
int run_synth(const std::vector<std::string>& args);
int run_compare(const std::vector<std::string>& args);
int run_pipeline(const std::vector<std::string>& args);

struct CommonOptions {
  int threads = 0;  // 0 = all cores
  std::string dtype = "float32";
  std::string tokenizer;  // empty = the model's own
};

// Adds --threads, --dtype, --tokenizer.
void add_common_options(po::options_description& desc, CommonOptions& common);

// Parses args with one positional `positional_name`; prints help and returns
// false when --help was given. Throws Error on bad flags.
bool parse_args(const std::vector<std::string>& args, const char* usage, po::options_description& desc,
                const char* positional_name, int positional_max, po::variables_map& vm);

// Applies --threads to LibTorch and OpenMP (LibTorch defaults to one thread here).
void apply_threads(const CommonOptions& common);

std::unique_ptr<Model> load_model_for_cli(const std::string& path, const CommonOptions& common);
std::unique_ptr<Tokenizer> load_tokenizer_for_cli(const std::string& model_path, const CommonOptions& common);

// $SLMKIT_DATA or ../shared/data (relative to the working directory).
std::string data_dir();

// --calib, --calib-samples, --calib-seq-len and --seed, into `calib` (an empty
// text_path means the default text). `calib_help` replaces --calib's description.
void add_calibration_options(po::options_description& desc, CalibrationConfig& calib,
                             const char* calib_help = nullptr);

// The windows those options ask for (pipeline/calibration.h), an empty text
// path meaning WikiText-2 validation.
at::Tensor cli_calibration_windows(CalibrationConfig& calib, const Tokenizer& tokenizer, const ModelConfig& config);

// "TEXT: N windows x L tokens (seed S)", and the same for a --json report.
std::string describe_calibration(const CalibrationConfig& calib);
nlohmann::json calibration_json(const CalibrationConfig& calib, bool used = true);

// "a,b,,c" → {"a", "b", "c"} (empty items dropped).
std::vector<std::string> split_commas(const std::string& list);
// "12,345,678"
std::string with_commas(int64_t n);

}  // namespace slmkit::cli
