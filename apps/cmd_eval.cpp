// slmkit eval MODEL: perplexity on a text file under the GPTQ or llama.cpp
// protocol, KL divergence against a base model, and zero-shot task accuracy.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "eval/kl_divergence.h"
#include "eval/perplexity.h"
#include "eval/tasks.h"
#include "eval/zero_shot.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "pipeline/lora_adapter.h"
#include "pipeline/progress.h"

namespace slmkit::cli {
namespace {

std::string tasks_help() {
  std::string s = "comma-separated zero-shot tasks (files in $SLMKIT_DATA/tasks):";
  for (const auto& t : task_specs()) s += cat("\n  ", t.name, " (", t.primary, "): ", t.format);
  return s;
}

// Runs the tasks, prints a table, returns the JSON records.
nlohmann::json run_tasks(const Model& model, const Tokenizer& tokenizer, const std::string& task_list, int64_t limit,
                         bool quiet) {
  nlohmann::json records = nlohmann::json::array();
  std::vector<TaskResult> results;
  for (const std::string& name : split_commas(task_list)) {
    const TaskSpec& spec = task_spec(name);
    const std::string path = data_dir() + "/tasks/" + spec.file;
    const std::string labels = spec.labels_file ? read_text_file(data_dir() + "/tasks/" + spec.labels_file) : "";
    const std::vector<TaskDoc> docs = parse_task(spec, read_text_file(path), labels, path);
    const int64_t n = limit > 0 ? std::min<int64_t>(limit, static_cast<int64_t>(docs.size()))
                                : static_cast<int64_t>(docs.size());
    Progress progress(name, n, "docs", !quiet);
    results.push_back(evaluate_task(model, tokenizer, spec, docs, limit,
                                    [&](int64_t done, int64_t) { progress.update(done); }));
    progress.finish();
  }
  std::printf("%-16s %7s  %-9s %8s  %8s\n", "task", "docs", "metric", "value", "stderr");
  for (size_t i = 0; i < results.size(); ++i) {
    const TaskResult& r = results[i];
    const TaskSpec& spec = task_spec(r.task);
    auto row = [&](const char* metric, const MetricValue& m) {
      std::printf("%-16s %7lld  %-9s %7.2f%%  %7.2f%%%s\n", r.task.c_str(), static_cast<long long>(r.docs), metric,
                  100 * m.value, 100 * m.stderr_, std::string(metric) == spec.primary ? "  *" : "");
    };
    row("acc", r.acc);
    nlohmann::json j = {{"task", r.task}, {"docs", r.docs}, {"primary", spec.primary}, {"seconds", r.seconds},
                        {"acc", r.acc.value}, {"acc_stderr", r.acc.stderr_}};
    if (spec.kind == TaskKind::kMultipleChoice) {  // acc_norm only where the choices are continuations
      row("acc_norm", r.acc_norm);
      j["acc_norm"] = r.acc_norm.value;
      j["acc_norm_stderr"] = r.acc_norm.stderr_;
    } else if (spec.kind == TaskKind::kLastWord) {
      std::printf("%-16s %7lld  %-9s %8.3f\n", r.task.c_str(), static_cast<long long>(r.docs), "ppl", r.perplexity);
      j["perplexity"] = r.perplexity;
    }
    records.push_back(j);
  }
  std::printf("(* = the metric usually reported for the task)\n");
  return records;
}

// The model, with a PEFT LoRA adapter applied unmerged when --adapter is given
// (as it would be deployed beside the base).
std::unique_ptr<Model> load_eval_model(const std::string& path, const std::string& adapter_dir,
                                       const CommonOptions& common) {
  auto model = load_model_for_cli(path, common);
  if (!adapter_dir.empty()) attach_lora_adapter(*model, load_lora_adapter(adapter_dir, *model));
  return model;
}

}  // namespace

int run_eval(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, text_path, protocol_str, json_path, kl_base, task_list, adapter_dir;
  int64_t seq_len = 0, batch = 0, max_windows = 0, limit = 0;
  bool quiet = false;
  po::options_description desc("eval options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "checkpoint directory or file")
      ("text", po::value<std::string>(&text_path), "text file (default: $SLMKIT_DATA/text/wikitext-2/wiki.test.raw)")
      ("protocol", po::value<std::string>(&protocol_str)->default_value("gptq"), "gptq or llamacpp")
      ("seq-len", po::value<int64_t>(&seq_len), "window length in tokens (default: gptq min(2048, max positions), "
       "llamacpp min(512, max positions))")
      ("ctx,c", po::value<int64_t>(&seq_len), "same as --seq-len (llama.cpp's name)")
      ("batch", po::value<int64_t>(&batch)->default_value(1),
       "windows per forward call (1 is fastest on CPU: the score matrices stay in cache)")
      ("max-windows", po::value<int64_t>(&max_windows)->default_value(0), "evaluate only the first N windows")
      ("json", po::value<std::string>(&json_path), "also write all results as JSON to this path")
      ("kl-base", po::value<std::string>(&kl_base),
       "also report KL(base || model) and top-1 agreement against this base model on the same windows")
      ("tasks", po::value<std::string>(&task_list), tasks_help().c_str())
      ("limit", po::value<int64_t>(&limit)->default_value(0), "score only the first N documents of each task (0 = all)")
      ("adapter", po::value<std::string>(&adapter_dir),
       "apply this PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) unmerged")
      ("quiet,q", po::bool_switch(&quiet), "no progress lines");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit eval MODEL [--text FILE] [--protocol gptq|llamacpp] [--seq-len N] [--json PATH]",
                  desc, "model", 1, vm))
    return 0;
  apply_threads(common);
  SLMKIT_CHECK(limit >= 0, "--limit must be >= 0");
  // With --tasks, perplexity runs only when a text is named explicitly.
  if (!task_list.empty() && text_path.empty()) {
    auto model = load_eval_model(model_path, adapter_dir, common);
    auto tokenizer = load_tokenizer_for_cli(model_path, common);
    const nlohmann::json tasks = run_tasks(*model, *tokenizer, task_list, limit, quiet);
    if (!json_path.empty())
      write_file_atomic(json_path, nlohmann::json{{"model", model_path},
                                                  {"threads", at::get_num_threads()},
                                                  {"dtype", common.dtype},
                                                  {"tokenizer", tokenizer->describe()},
                                                  {"tasks", tasks}}.dump(2) + "\n");
    return 0;
  }
  if (text_path.empty()) text_path = data_dir() + "/text/wikitext-2/wiki.test.raw";

  PerplexityConfig cfg;
  cfg.protocol = parse_protocol(protocol_str);
  cfg.context = seq_len;
  cfg.max_windows = max_windows;
  SLMKIT_CHECK(seq_len >= 0 && max_windows >= 0, "--seq-len and --max-windows must be >= 0");

  const std::string text = read_text_file(text_path);
  auto model = load_eval_model(model_path, adapter_dir, common);
  auto tokenizer = load_tokenizer_for_cli(model_path, common);
  const std::vector<int32_t> tokens = tokenize_for_perplexity(text, *tokenizer, cfg.protocol);
  const int64_t context = cfg.context > 0 ? cfg.context : default_context(*model, cfg.protocol);
  SLMKIT_CHECK(batch >= 1, "--batch must be at least 1");
  cfg.batch_windows = batch;

  if (!quiet)
    std::fprintf(stderr, "model %s: %s, %s parameters, %s | text %s: %s tokens (%s) | protocol %s, context %lld, %d threads\n",
                 model_path.c_str(), model->config.model_type.c_str(), with_commas(model->parameter_count()).c_str(),
                 common.dtype.c_str(), text_path.c_str(), with_commas(static_cast<int64_t>(tokens.size())).c_str(),
                 tokenizer->describe().c_str(), protocol_name(cfg.protocol), static_cast<long long>(context),
                 at::get_num_threads());
  Progress progress("eval", std::max<int64_t>(1, static_cast<int64_t>(tokens.size()) / context), "windows", !quiet);
  const PerplexityStats st = evaluate_perplexity(*model, tokens, tokenizer->bos_id(), cfg,
                                                 [&](int64_t done, int64_t total) { progress.update(done); });
  progress.finish();
  std::printf("PPL %.4f +/- %.4f  (%s protocol, context %lld, %lld windows, %s tokens scored of %s, %.1f s)\n",
              st.perplexity, st.perplexity_stderr, protocol_name(cfg.protocol), static_cast<long long>(st.context),
              static_cast<long long>(st.windows), with_commas(st.tokens_scored).c_str(),
              with_commas(st.tokens_total).c_str(), st.seconds);
  KlStats kl;
  if (!kl_base.empty()) {
    auto base = load_model_for_cli(kl_base, common);
    Progress kl_progress("kl", st.windows, "windows", !quiet);
    kl = kl_divergence(*base, *model, tokens, tokenizer->bos_id(), cfg,
                       [&](int64_t done, int64_t) { kl_progress.update(done); });
    kl_progress.finish();
    std::printf("KL(base || model) mean %.6f  p99 %.6f  max %.4f  top-1 agreement %.2f%%  (%s tokens vs %s)\n",
                kl.mean_kl, kl.p99_kl, kl.max_kl, 100.0 * kl.top1_agreement, with_commas(kl.tokens).c_str(),
                kl_base.c_str());
  }
  const nlohmann::json tasks = task_list.empty() ? nlohmann::json() : run_tasks(*model, *tokenizer, task_list, limit, quiet);
  if (!json_path.empty()) {
    nlohmann::json j = {{"model", model_path},
                        {"text", text_path},
                        {"protocol", protocol_name(cfg.protocol)},
                        {"context", st.context},
                        {"perplexity", st.perplexity},
                        {"perplexity_stderr", st.perplexity_stderr},
                        {"mean_nll", st.mean_nll},
                        {"tokens_scored", st.tokens_scored},
                        {"tokens_total", st.tokens_total},
                        {"windows", st.windows},
                        {"seconds", st.seconds},
                        {"threads", at::get_num_threads()},
                        {"dtype", common.dtype},
                        {"parameters", model->parameter_count()},
                        {"tokenizer", tokenizer->describe()}};
    if (!kl_base.empty())
      j["kl"] = {{"base", kl_base}, {"mean", kl.mean_kl}, {"p99", kl.p99_kl}, {"max", kl.max_kl},
                 {"top1_agreement", kl.top1_agreement}, {"tokens", kl.tokens}};
    if (!task_list.empty()) j["tasks"] = tasks;
    if (!adapter_dir.empty()) j["adapter"] = adapter_dir;
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace slmkit::cli
