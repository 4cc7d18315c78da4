#include "pipeline/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "core/hash.h"
#include "eval/kl_divergence.h"
#include "eval/perplexity.h"
#include "eval/tasks.h"
#include "eval/zero_shot.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "model/generate.h"
#include "pipeline/svg_plot.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Bumped whenever what an evaluation computes changes, so old cache entries stop matching.
constexpr int kCacheVersion = 1;

bool is_weight_file(const fs::path& p) {
  const std::string e = p.extension().string();
  return e == ".safetensors" || e == ".bin" || e == ".pt" || e == ".pth" || e == ".gguf";
}

// The files that make up a checkpoint: weights and config (tokenizer files excluded).
std::vector<fs::path> checkpoint_files(const std::string& path) {
  std::vector<fs::path> files;
  if (!fs::is_directory(path)) return {fs::path(path)};
  for (const auto& e : fs::directory_iterator(path)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.rfind("tokenizer", 0) == 0) continue;
    if (is_weight_file(e.path()) || name == "config.json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

int64_t disk_bytes(const std::string& path) {
  int64_t n = 0;
  for (const auto& f : checkpoint_files(path))
    if (is_weight_file(f)) n += static_cast<int64_t>(fs::file_size(f));
  return n;
}

std::string settings_key(const CompareConfig& c, const std::string& base_fingerprint) {
  std::string s = cat("v", kCacheVersion, " text=", c.text_path, " windows=", c.max_windows, " kl=", c.kl_windows,
                      " base=", base_fingerprint, " limit=", c.task_limit, " speed=", c.speed, " threads=", c.threads,
                      " tasks=");
  for (const auto& t : c.tasks) s += t + ",";
  return s;
}

double block_bits_per_weight(const Model& m) {
  int64_t bytes = 0, weights = 0;
  for (const auto& [name, l] : m.linears) {
    if (name.rfind("model.layers.", 0) != 0) continue;
    const int64_t bias = l.bias.defined() ? l.bias.numel() : 0;
    bytes += l.storage_bytes() - bias * static_cast<int64_t>(l.bias.defined() ? l.bias.element_size() : 0);
    weights += l.parameter_count() - bias;
  }
  return weights > 0 ? 8.0 * static_cast<double>(bytes) / static_cast<double>(weights) : kNaN;
}

template <typename F>
double median_seconds(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Reference-forward speed: prefill of up to 128 tokens, then greedy decoding of 32.
void measure_speed(const Model& m, const std::vector<int32_t>& tokens, ModelRow* row) {
  c10::InferenceMode guard;
  const int64_t n = std::min<int64_t>({128, m.config.max_positions / 2, static_cast<int64_t>(tokens.size())});
  const at::Tensor prompt = at::tensor(std::vector<int64_t>(tokens.begin(), tokens.begin() + n)).unsqueeze(0);
  forward(m, prompt);  // warm-up
  row->prefill_tps = static_cast<double>(n) / median_seconds(3, [&] { forward(m, prompt); });
  SamplingConfig sc;
  sc.max_new_tokens = std::min<int64_t>(32, m.config.max_positions - 16);
  sc.stop_at_eos = false;
  const std::vector<int32_t> start(tokens.begin(), tokens.begin() + std::min<int64_t>(16, n));
  std::vector<double> tps;
  for (int i = 0; i < 3; ++i) {
    GenerationStats st;
    generate(m, start, sc, {}, &st);
    tps.push_back(static_cast<double>(st.generated_tokens) / std::max(1e-9, st.decode_seconds));
  }
  std::sort(tps.begin(), tps.end());
  row->decode_tps = tps[1];
}

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v)) return "—";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// The panels' points: size on disk vs perplexity, and vs mean zero-shot accuracy (rows with tasks).
PlotPanel ppl_panel(const std::vector<ModelRow>& rows) {
  PlotPanel p{"Perplexity vs size", "size on disk (MiB)", "WikiText-2 perplexity", {}, true, true};
  for (const auto& r : rows) p.points.push_back({r.disk_bytes / 1048576.0, r.perplexity, r.label, r.is_base});
  return p;
}

PlotPanel accuracy_panel(const std::vector<ModelRow>& rows) {
  PlotPanel p{"Mean zero-shot accuracy vs size", "size on disk (MiB)", "mean accuracy (%)", {}, false, true};
  for (const auto& r : rows) {
    if (r.task_acc.empty()) continue;
    double sum = 0;
    for (const auto& [k, v] : r.task_acc) sum += v;
    p.points.push_back({r.disk_bytes / 1048576.0, 100 * sum / static_cast<double>(r.task_acc.size()), r.label,
                        r.is_base});
  }
  return p;
}

std::string pareto_labels(const PlotPanel& panel) {
  const std::vector<bool> optimal = pareto_optimal(panel.points, panel.lower_is_better);
  std::string s;
  for (size_t i = 0; i < optimal.size(); ++i)
    if (optimal[i]) s += (s.empty() ? "" : ", ") + panel.points[i].label;
  return s;
}

}  // namespace

std::string model_fingerprint(const std::string& path) {
  Hasher64 h;
  for (const auto& f : checkpoint_files(path)) {
    const auto mapped = MappedFile::open(f.string());
    h.add(f.filename().string()).add(mapped->data(), mapped->size());
  }
  return h.hex();
}

nlohmann::json to_json(const ModelRow& r) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& [k, v] : r.task_acc) tasks[k] = num(v);
  return {{"path", r.path},         {"label", r.label},           {"is_base", r.is_base},
          {"disk_bytes", r.disk_bytes}, {"parameters", r.parameters}, {"bits_per_weight", num(r.bits_per_weight)},
          {"perplexity", num(r.perplexity)}, {"kl_mean", num(r.kl_mean)}, {"kl_p99", num(r.kl_p99)},
          {"top1_agreement", num(r.top1)}, {"tasks", tasks}, {"prefill_tokens_per_s", num(r.prefill_tps)},
          {"decode_tokens_per_s", num(r.decode_tps)}, {"seconds", r.seconds}};
}

ModelRow row_from_json(const nlohmann::json& j) {
  auto num = [&](const char* k) { return j.at(k).is_null() ? kNaN : j.at(k).get<double>(); };
  ModelRow r;
  r.path = j.at("path").get<std::string>();
  r.label = j.at("label").get<std::string>();
  r.is_base = j.at("is_base").get<bool>();
  r.disk_bytes = j.at("disk_bytes").get<int64_t>();
  r.parameters = j.at("parameters").get<int64_t>();
  r.bits_per_weight = num("bits_per_weight");
  r.perplexity = num("perplexity");
  r.kl_mean = num("kl_mean");
  r.kl_p99 = num("kl_p99");
  r.top1 = num("top1_agreement");
  for (const auto& [k, v] : j.at("tasks").items()) r.task_acc[k] = v.is_null() ? kNaN : v.get<double>();
  r.prefill_tps = num("prefill_tokens_per_s");
  r.decode_tps = num("decode_tokens_per_s");
  r.seconds = j.at("seconds").get<double>();
  return r;
}

std::vector<ModelRow> compare_models(const std::vector<std::string>& paths, const std::vector<std::string>& labels,
                                     const CompareConfig& config,
                                     const std::function<void(const std::string&)>& progress) {
  SLMKIT_CHECK(!paths.empty(), "compare needs a base model");
  SLMKIT_CHECK(labels.empty() || labels.size() == paths.size(), "--labels has ", labels.size(), " names for ",
               paths.size(), " models");
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  // Every model is scored with the base's tokenizer: KL needs one vocabulary anyway.
  const std::string tok_path = default_tokenizer_path(paths[0]);
  SLMKIT_CHECK(!tok_path.empty(), paths[0], ": no tokenizer beside the base model");
  const auto tokenizer = load_tokenizer(tok_path);
  const std::string base_fp = model_fingerprint(paths[0]);
  const std::string settings = settings_key(config, base_fp);
  const std::vector<int32_t> tokens =
      tokenize_for_perplexity(read_text_file(config.text_path), *tokenizer, PplProtocol::kGPTQ);
  std::vector<std::pair<const TaskSpec*, std::vector<TaskDoc>>> tasks;
  for (const auto& name : config.tasks) {
    const TaskSpec& spec = task_spec(name);
    const std::string dir = config.tasks_dir + "/";
    tasks.emplace_back(&spec, parse_task(spec, read_text_file(dir + spec.file),
                                         spec.labels_file ? read_text_file(dir + spec.labels_file) : "",
                                         dir + spec.file));
  }

  std::unique_ptr<Model> base;
  std::vector<ModelRow> rows;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    const std::string label = labels.empty() ? fs::path(path).filename().string() : labels[i];
    const std::string key = Hasher64().add(model_fingerprint(path)).add(settings).hex();
    const std::string cache_file = config.cache_dir.empty() ? "" : config.cache_dir + "/" + key + ".json";
    if (!cache_file.empty() && fs::exists(cache_file)) {
      ModelRow r = row_from_json(parse_json_strict(read_text_file(cache_file), cache_file));
      r.path = path, r.label = label, r.is_base = i == 0, r.from_cache = true;
      say(cat(label, ": cached (", cache_file, ")"));
      rows.push_back(r);
      continue;
    }
    const auto t0 = Clock::now();
    say(cat(label, ": loading ", path));
    auto model = std::make_unique<Model>(load_model(path));
    if (base)
      SLMKIT_CHECK(model->config.vocab_size == base->config.vocab_size, path, ": vocabulary of ",
                   model->config.vocab_size, " tokens differs from the base model's ", base->config.vocab_size,
                   "; models compared must share the tokenizer");
    ModelRow r;
    r.path = path, r.label = label, r.is_base = i == 0;
    r.disk_bytes = disk_bytes(path);
    r.parameters = model->parameter_count();
    r.bits_per_weight = block_bits_per_weight(*model);
    PerplexityConfig pc;
    pc.max_windows = config.max_windows;
    say(cat(label, ": perplexity"));
    r.perplexity = evaluate_perplexity(*model, tokens, tokenizer->bos_id(), pc).perplexity;
    if (i == 0) {
      r.kl_mean = 0, r.kl_p99 = 0, r.top1 = 1;
    } else if (config.kl_windows > 0) {
      say(cat(label, ": KL against the base"));
      PerplexityConfig kc;
      kc.max_windows = config.kl_windows;
      const KlStats kl = kl_divergence(*base, *model, tokens, tokenizer->bos_id(), kc);
      r.kl_mean = kl.mean_kl, r.kl_p99 = kl.p99_kl, r.top1 = kl.top1_agreement;
    } else {
      r.kl_mean = r.kl_p99 = r.top1 = kNaN;
    }
    for (const auto& [spec, docs] : tasks) {
      say(cat(label, ": ", spec->name));
      const TaskResult t = evaluate_task(*model, *tokenizer, *spec, docs, config.task_limit);
      r.task_acc[spec->name] = std::string(spec->primary) == "acc_norm" ? t.acc_norm.value : t.acc.value;
    }
    r.prefill_tps = r.decode_tps = kNaN;
    if (config.speed) {
      say(cat(label, ": speed"));
      measure_speed(*model, tokens, &r);
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!cache_file.empty()) {
      std::error_code ec;
      fs::create_directories(config.cache_dir, ec);
      write_file_atomic(cache_file, to_json(r).dump(2) + "\n");
    }
    if (i == 0) base = std::move(model);
    rows.push_back(r);
  }
  return rows;
}

std::string compare_markdown(const std::vector<ModelRow>& rows, const CompareConfig& config) {
  std::string md = "| model | size on disk | bits/weight | params | PPL | KL mean | KL p99 | top-1 |";
  std::string rule = "|---|---|---|---|---|---|---|---|";
  for (const auto& t : config.tasks) {
    md += cat(" ", t, " (", task_spec(t).primary, ") |");
    rule += "---|";
  }
  if (config.speed) {
    md += " prefill tok/s | decode tok/s |";
    rule += "---|---|";
  }
  md += "\n" + rule + "\n";
  for (const auto& r : rows) {
    md += cat("| ", r.label, r.is_base ? " (base)" : "", " | ", fmt("%.1f MiB", r.disk_bytes / 1048576.0), " | ",
              fmt("%.2f", r.bits_per_weight), " | ", fmt("%.2fM", r.parameters / 1e6), " | ", fmt("%.3f", r.perplexity),
              " | ", fmt("%.4f", r.kl_mean), " | ", fmt("%.3f", r.kl_p99), " | ", fmt("%.2f%%", 100 * r.top1), " |");
    for (const auto& t : config.tasks) {
      const auto it = r.task_acc.find(t);
      md += " " + fmt("%.2f%%", it == r.task_acc.end() ? kNaN : 100 * it->second) + " |";
    }
    if (config.speed) md += " " + fmt("%.0f", r.prefill_tps) + " | " + fmt("%.1f", r.decode_tps) + " |";
    md += "\n";
  }
  md += cat("\nPPL: GPTQ protocol on ", config.text_path,
            config.max_windows > 0 ? cat(" (first ", config.max_windows, " windows)") : std::string(),
            "; KL(base ‖ model) and top-1 agreement over the first ", config.kl_windows,
            " windows; tasks: zero-shot, ", config.task_limit > 0 ? cat("first ", config.task_limit, " documents")
                                                                  : std::string("full sets"),
            config.speed ? cat("; speed: LibTorch reference forward, ", config.threads,
                               " threads, prefill of up to 128 tokens, greedy decoding of 32 (median of 3)")
                         : std::string(),
            ".\n");
  if (rows.size() > 2) {
    md += cat("\nPareto-optimal (no other model is both smaller on disk and better): by perplexity: ",
              pareto_labels(ppl_panel(rows)));
    const PlotPanel acc = accuracy_panel(rows);
    if (!acc.points.empty()) md += cat("; by mean zero-shot accuracy: ", pareto_labels(acc));
    md += ".\n";
  }
  return md;
}

std::string compare_svg(const std::vector<ModelRow>& rows, const std::string& title) {
  std::vector<PlotPanel> panels{ppl_panel(rows)};
  PlotPanel acc = accuracy_panel(rows);
  if (!acc.points.empty()) panels.push_back(std::move(acc));
  return render_scatter_svg(title, panels);
}

}  // namespace slmkit
