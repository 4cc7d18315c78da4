#include "pipeline/compensate_model.h"

#include <chrono>
#include <map>

#include "core/error.h"
#include "model/forward.h"
#include "pipeline/calibration.h"
#include "pipeline/lora_adapter.h"

namespace slmkit {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const char* form_of(const Linear& l) {
  return l.is_quantized() ? "quantized" : l.is_low_rank() ? "low-rank" : "dense";
}

void check_same_shapes(const Model& compressed, const Model& base) {
  const ModelConfig &a = compressed.config, &b = base.config;
  SLMKIT_CHECK(a.num_layers() == b.num_layers() && a.hidden_size == b.hidden_size && a.vocab_size == b.vocab_size,
               "the compressed model (", a.num_layers(), " layers, hidden ", a.hidden_size, ", vocab ", a.vocab_size,
               ") and --base (", b.num_layers(), " layers, hidden ", b.hidden_size, ", vocab ", b.vocab_size,
               ") differ in shape; compensation needs the model the compressed one was made from");
  for (const auto& [name, l] : compressed.linears) {
    const auto it = base.linears.find(name);
    SLMKIT_CHECK(it != base.linears.end() && it->second.in_features() == l.in_features() &&
                     it->second.out_features() == l.out_features(),
                 "linear ", name, " has no counterpart of shape [", l.out_features(), ", ", l.in_features(),
                 "] in --base (structurally pruned models cannot be compensated against their unpruned original)");
  }
}

}  // namespace

CompensateSummary compensate_model(Model& compressed, const Model& base, const at::Tensor& windows,
                                   const CompensateRecipe& recipe, const CompensationProgress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  check_same_shapes(compressed, base);
  SLMKIT_CHECK(recipe.method.rank >= 1, "--rank must be at least 1, found ", recipe.method.rank);
  CompensateSummary summary;
  PeftLoraConfig& config = summary.adapter.config;
  config.r = recipe.method.rank;
  config.lora_alpha = static_cast<double>(recipe.method.rank);  // scaling 1: B·A is the correction itself

  // Which linears differ from the original (compressed weights are never bit-identical).
  std::vector<std::string> names;
  for (int64_t layer = 0; layer < compressed.config.num_layers(); ++layer)
    for (const std::string& short_name : compressed.block_linear_names()) {
      const std::string name = Model::layer_prefix(layer) + short_name;
      const Linear& l = compressed.linear(name);
      if (!l.is_dense() || !at::equal(l.dense_weight().to(at::kFloat), base.linear(name).dense_weight().to(at::kFloat)))
        names.push_back(name);
    }
  const int64_t total = static_cast<int64_t>(names.size());
  SLMKIT_CHECK(total > 0, "every block linear of the compressed model equals --base: nothing to compensate");

  BlockRunner runner(compressed, windows, recipe.chunk);
  size_t next = 0;
  for (int64_t layer = 0; layer < compressed.config.num_layers(); ++layer) {
    const std::string prefix = Model::layer_prefix(layer);
    std::map<std::string, InputStats> stats;
    for (size_t i = next; i < names.size() && names[i].rfind(prefix, 0) == 0; ++i) stats[names[i]];
    if (!stats.empty()) {
      const LinearTap tap = [&](const std::string& name, const at::Tensor& x) {
        auto it = stats.find(name);
        if (it != stats.end()) it->second.add(x);
      };
      runner.run(&tap, /*keep_outputs=*/false);
      // All of a block's corrections come from the same (uncorrected-block) pass, as in EoRA.
      for (auto& [name, s] : stats) {
        const auto t1 = std::chrono::steady_clock::now();
        Linear& l = compressed.linear(name);
        CompensationReport r;
        r.name = name;
        r.out_features = l.out_features();
        r.in_features = l.in_features();
        r.form = form_of(l);
        LoraDelta delta = compensate_error(base.linear(name).dense_weight(), l.dense_weight(), s.xtx, recipe.method,
                                           &r.stats);
        if (r.stats.rank != config.r) {  // a layer narrower than the rank: its own r, still scaling 1
          std::string pattern;  // the full name as a regex (PEFT matches pattern keys as regexes)
          for (const char ch : name) pattern += ch == '.' ? std::string("\\.") : std::string(1, ch);
          config.rank_pattern[pattern] = r.stats.rank;
          config.alpha_pattern[pattern] = static_cast<double>(r.stats.rank);
        }
        l.adapter = std::make_shared<const LoraDelta>(delta);
        summary.adapter.modules.emplace(name, std::move(delta));
        summary.compensated_weights += r.out_features * r.in_features;
        r.seconds = seconds_since(t1);
        summary.tensors.push_back(r);
        ++next;
        if (progress) progress(r, static_cast<int64_t>(summary.tensors.size()), total);
      }
    }
    if (layer + 1 < compressed.config.num_layers()) runner.advance(runner.run(nullptr, /*keep_outputs=*/true));
  }
  std::vector<std::string> targets;
  for (const std::string& short_name : compressed.block_linear_names())
    targets.push_back(short_name.substr(short_name.rfind('.') + 1));
  config.target_modules = targets;
  summary.adapter_parameters = summary.adapter.parameter_count();
  summary.extra_bits_per_weight =
      16.0 * static_cast<double>(summary.adapter_parameters) / static_cast<double>(summary.compensated_weights);
  summary.seconds = seconds_since(t0);
  return summary;
}

}  // namespace slmkit
