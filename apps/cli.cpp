#include "cli.h"

#include <algorithm>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/checkpoint.h"

namespace slmkit::cli {

void add_common_options(po::options_description& desc, CommonOptions& common) {
  desc.add_options()
      ("threads,t", po::value<int>(&common.threads)->default_value(0), "CPU threads (0 = all cores)")
      ("dtype", po::value<std::string>(&common.dtype)->default_value("float32"), "compute dtype: float32 or bfloat16")
      ("tokenizer", po::value<std::string>(&common.tokenizer),
       "tokenizer file or directory (default: the model's own)");
}

bool parse_args(const std::vector<std::string>& args, const char* usage, po::options_description& desc,
                const char* positional_name, int positional_max, po::variables_map& vm) {
  desc.add_options()("help,h", "show this help");
  po::positional_options_description pos;
  if (positional_name != nullptr) pos.add(positional_name, positional_max);
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << usage << "\n\n" << desc << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error(cat(e.what(), "\n\n", usage, "\n(see --help)"));
  }
  return true;
}

void apply_threads(const CommonOptions& common) {
  SLMKIT_CHECK(common.threads >= 0, "--threads must be >= 0, found ", common.threads);
  const int n = common.threads > 0 ? common.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  omp_set_num_threads(n);
}

std::unique_ptr<Model> load_model_for_cli(const std::string& path, const CommonOptions& common) {
  LoadOptions opt;
  if (common.dtype == "float32" || common.dtype == "fp32") opt.dtype = at::kFloat;
  else if (common.dtype == "bfloat16" || common.dtype == "bf16") opt.dtype = at::kBFloat16;
  else throw Error(cat("--dtype ", common.dtype, " is not supported (use float32 or bfloat16)"));
  auto model = std::make_unique<Model>(load_model(path, opt));
  for (const std::string& w : model->config.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  return model;
}

std::unique_ptr<Tokenizer> load_tokenizer_for_cli(const std::string& model_path, const CommonOptions& common) {
  const std::string path = common.tokenizer.empty() ? default_tokenizer_path(model_path) : common.tokenizer;
  SLMKIT_CHECK(!path.empty(), model_path, ": no tokenizer found beside this checkpoint; pass --tokenizer PATH");
  return load_tokenizer(path);
}

std::string data_dir() {
  const char* env = std::getenv("SLMKIT_DATA");
  return env && *env ? env : "../shared/data";
}

void add_calibration_options(po::options_description& desc, CalibrationConfig& calib, const char* calib_help) {
  desc.add_options()
      ("calib", po::value<std::string>(&calib.text_path),
       calib_help ? calib_help : "calibration text (default: $SLMKIT_DATA/text/wikitext-2/wiki.valid.tokens)")
      ("calib-samples", po::value<int64_t>(&calib.samples)->default_value(calib.samples), "calibration windows")
      ("calib-seq-len", po::value<int64_t>(&calib.seq_len)->default_value(calib.seq_len),
       "tokens per window (0 = model context, max 2048)")
      ("seed", po::value<uint64_t>(&calib.seed)->default_value(calib.seed), "seed for drawing calibration windows");
}

at::Tensor cli_calibration_windows(CalibrationConfig& calib, const Tokenizer& tokenizer, const ModelConfig& config) {
  if (calib.text_path.empty()) calib.text_path = data_dir() + "/text/wikitext-2/wiki.valid.tokens";
  return calibration_windows(calib, tokenizer, config);
}

std::string describe_calibration(const CalibrationConfig& calib) {
  return cat(calib.text_path, ": ", calib.samples, " windows x ", calib.seq_len, " tokens (seed ", calib.seed, ")");
}

nlohmann::json calibration_json(const CalibrationConfig& calib, bool used) {
  return {{"text", calib.text_path}, {"samples", calib.samples}, {"seq_len", calib.seq_len}, {"seed", calib.seed},
          {"used", used}};
}

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace slmkit::cli
