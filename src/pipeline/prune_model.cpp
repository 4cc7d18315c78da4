#include "pipeline/prune_model.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <optional>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "pipeline/calibration.h"
#include "prune/importance.h"
#include "prune/layer_removal.h"
#include "prune/structured.h"
#include "prune/structures.h"

namespace slmkit {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A block's linears read four distinct tensors: q/k/v share the normed
// attention input and gate/up the normed MLP input (forward.cpp passes the
// same tensor to each), so statistics are kept once per input.
enum Slot { kAttentionIn = 0, kOIn = 1, kMlpIn = 2, kDownIn = 3, kSlots = 4 };

Slot input_slot(const std::string& short_name) {
  if (short_name == "self_attn.o_proj") return kOIn;
  if (short_name == "mlp.down_proj") return kDownIn;
  if (short_name.rfind("self_attn.", 0) == 0) return kAttentionIn;
  return kMlpIn;
}

// The one linear per slot whose input the tap records (its siblings see the same tensor).
bool records_slot(const std::string& short_name, bool gpt2) {
  return short_name == "self_attn.q_proj" || short_name == "self_attn.o_proj" || short_name == "mlp.down_proj" ||
         short_name == (gpt2 ? "mlp.up_proj" : "mlp.gate_proj");
}

using BlockStats = std::array<InputStats, kSlots>;

// Runs the runner's current block over every window, accumulating its inputs' statistics.
at::Tensor observe_block(const Model& m, const BlockRunner& runner, bool with_xtx, bool keep_outputs,
                         BlockStats* stats) {
  const std::string prefix = Model::layer_prefix(runner.layer());
  const bool gpt2 = m.config.arch == Arch::kGPT2;
  for (InputStats& s : *stats) {
    s.keep_xtx = with_xtx;
    s.keep_moments = true;
  }
  const LinearTap tap = [&](const std::string& name, const at::Tensor& x) {
    const std::string short_name = name.substr(prefix.size());
    if (records_slot(short_name, gpt2)) (*stats)[input_slot(short_name)].add(x);
  };
  return runner.run(&tap, keep_outputs);
}

ChannelMoments moments(const InputStats& s) { return ChannelMoments{s.sum, s.sq_sum, s.tokens}; }

int64_t layer_param_count(const Model& m, int64_t layer) {
  const std::string p = Model::layer_prefix(layer);
  int64_t n = 0;
  for (const auto& [name, t] : m.tensors)
    if (name.rfind(p, 0) == 0) n += t.numel();
  for (const auto& [name, l] : m.linears)
    if (name.rfind(p, 0) == 0) n += l.parameter_count();
  return n;
}

bool uniform_shape(const ModelConfig& c) {
  for (const LayerDims& l : c.layers) {
    const LayerDims& f = c.layers.front();
    if (l.num_heads != f.num_heads || l.num_kv_heads != f.num_kv_heads || l.intermediate_size != f.intermediate_size)
      return false;
  }
  return true;
}

std::vector<int64_t> complement(const std::vector<int64_t>& kept, int64_t n) {
  std::vector<int64_t> out;
  size_t k = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (k < kept.size() && kept[k] == i) ++k;
    else out.push_back(i);
  }
  return out;
}

BlockWeights block_weights(const Model& m, int64_t layer) {
  const std::string p = Model::layer_prefix(layer);
  auto w = [&](const char* n) { return m.linear(p + n).dense_weight(); };
  BlockWeights b{w("self_attn.q_proj"), w("self_attn.k_proj"), w("self_attn.v_proj"), w("self_attn.o_proj"),
                 at::Tensor(), w("mlp.up_proj"), w("mlp.down_proj")};
  if (m.config.arch != Arch::kGPT2) b.gate = w("mlp.gate_proj");
  return b;
}

int64_t target_from_fraction(double fraction, int64_t params) {
  SLMKIT_CHECK(std::isfinite(fraction) && fraction > 0 && fraction <= 1, "--target-params must be in (0, 1] ",
               "(the share of the decoder blocks' parameters to keep), found ", fraction);
  return std::llround(fraction * static_cast<double>(params));
}

void notify(const PruneProgress& progress, const char* stage, int64_t done, int64_t total,
            const LayerPruneReport* layer = nullptr) {
  if (!progress) return;
  PruneEvent e;
  e.stage = stage;
  e.done = done;
  e.total = total;
  e.layer = layer;
  progress(e);
}

// ---- structured: KV groups and MLP channels --------------------------------

bool removes_kv_groups(const Allocation& a, const std::vector<LayerCandidates>& c) {
  for (size_t l = 0; l < a.layers.size(); ++l)
    if (static_cast<int64_t>(a.layers[l].kv_groups.size()) < c[l].kv_groups) return true;
  return false;
}

bool removes_channels(const Allocation& a, const std::vector<LayerCandidates>& c) {
  for (size_t l = 0; l < a.layers.size(); ++l)
    if (static_cast<int64_t>(a.layers[l].channels.size()) < c[l].channel_scores.numel()) return true;
  return false;
}

// Allocates with the parameter costs the pruned model will really have: bias
// compensation gives every layer attention biases (q/k/v/o) once any KV group
// goes, and MLP biases once any channel goes. A first plan assumes both; when
// it leaves a kind of structure untouched, a second plan without that kind's
// biases is used if it still leaves it untouched (it can only keep more).
Allocation plan_structures(const Model& m, std::vector<LayerCandidates>& candidates, int64_t target,
                           const AllocationConfig& config, bool compensate) {
  const bool gpt2 = m.config.arch == Arch::kGPT2;  // has every bias already
  auto allocate_with = [&](bool attention_biases, bool mlp_biases) {
    ModelConfig layout = m.config;
    if (compensate && !gpt2) {
      if (attention_biases) layout.qkv_bias = layout.o_bias = true;
      if (mlp_biases) layout.mlp_bias = true;
    }
    for (int64_t l = 0; l < m.config.num_layers(); ++l) candidates[static_cast<size_t>(l)].costs = block_costs(layout, l);
    return allocate_structures(candidates, target, config);
  };
  // Nothing to remove: nothing to compensate, and the model stays as it is.
  if (target >= m.block_parameter_count()) {
    Allocation all;
    for (const LayerCandidates& c : candidates) {
      LayerKeep keep;
      for (int64_t g = 0; g < c.kv_groups; ++g) keep.kv_groups.push_back(g);
      for (int64_t ch = 0; ch < c.channel_scores.numel(); ++ch) keep.channels.push_back(ch);
      all.layers.push_back(std::move(keep));
    }
    all.params = m.block_parameter_count();
    return all;
  }
  Allocation first = allocate_with(true, true);
  if (!compensate || gpt2) return first;
  const bool kv = removes_kv_groups(first, candidates), ch = removes_channels(first, candidates);
  if (kv && ch) return first;
  Allocation second = allocate_with(kv, ch);
  const bool consistent = (kv || !removes_kv_groups(second, candidates)) && (ch || !removes_channels(second, candidates));
  return consistent ? second : first;
}

void prune_structured(Model& m, const at::Tensor& windows, const PruneRecipe& r, const PruneProgress& progress,
                      PruneSummary& s) {
  const StructureCriterion criterion = parse_structure_criterion(s.criterion);
  const int64_t n_layers = m.config.num_layers();
  const bool attention_prunable = m.config.arch != Arch::kGPT2;
  if (!attention_prunable)
    s.notes.push_back("GPT-2 attention heads are kept: its config.json derives head_dim from n_embd / n_head");
  const bool wants_compensation = criterion == StructureCriterion::kFlap && r.bias_compensation;
  const bool compensate = wants_compensation && can_store_compensation_bias(m.config);
  if (wants_compensation && !compensate)
    s.notes.push_back(cat("no bias compensation: model_type ", m.config.model_type,
                          " has no o_proj/down_proj bias in Hugging Face transformers"));
  std::vector<BlockInputMoments> inputs(static_cast<size_t>(n_layers));
  std::vector<double> layer_seconds(static_cast<size_t>(n_layers), 0.0);
  if (criterion != StructureCriterion::kMagnitude) {
    // Every layer is scored on the dense model's activations.
    BlockRunner runner(m, windows, r.chunk);
    for (int64_t l = 0; l < n_layers; ++l) {
      const auto t0 = Clock::now();
      BlockStats st;
      const bool last = l + 1 == n_layers;
      at::Tensor outputs = observe_block(m, runner, /*with_xtx=*/false, /*keep_outputs=*/!last, &st);
      inputs[static_cast<size_t>(l)] = {moments(st[kAttentionIn]), moments(st[kOIn]), moments(st[kMlpIn]),
                                        moments(st[kDownIn])};
      if (!last) runner.advance(std::move(outputs));
      layer_seconds[static_cast<size_t>(l)] += seconds_since(t0);
      notify(progress, "scoring", l + 1, n_layers);
    }
  }

  std::vector<LayerCandidates> candidates;
  for (int64_t l = 0; l < n_layers; ++l) {
    const auto t0 = Clock::now();
    const LayerDims& dims = m.config.layers[static_cast<size_t>(l)];
    const ChannelScores cs = channel_scores(block_weights(m, l), inputs[static_cast<size_t>(l)], dims.num_kv_heads,
                                            m.config.head_dim, criterion);
    LayerCandidates c;
    c.kv_groups = dims.num_kv_heads;
    if (attention_prunable) c.kv_group_scores = kv_group_scores(standardize(cs.attention), dims.num_kv_heads);
    c.channel_scores = standardize(cs.mlp);
    candidates.push_back(std::move(c));
    layer_seconds[static_cast<size_t>(l)] += seconds_since(t0);
  }
  s.target_params = target_from_fraction(r.target_params, s.block_params_before);
  const Allocation allocation = plan_structures(m, candidates, s.target_params, r.allocation, compensate);

  for (int64_t l = 0; l < n_layers; ++l) {
    const auto t0 = Clock::now();
    const LayerKeep& keep = allocation.layers[static_cast<size_t>(l)];
    LayerPruneReport rep;
    rep.layer = l;
    rep.before = m.config.layers[static_cast<size_t>(l)];
    rep.params_before = layer_param_count(m, l);
    rep.removed_kv_groups = complement(keep.kv_groups, rep.before.num_kv_heads);
    rep.removed_channels = complement(keep.channels, rep.before.intermediate_size);
    const BlockInputMoments& in = inputs[static_cast<size_t>(l)];
    prune_block_structures(m, l, keep, compensate ? in.o_in.mean() : at::Tensor(),
                           compensate ? in.down_in.mean() : at::Tensor());
    rep.after = m.config.layers[static_cast<size_t>(l)];
    rep.seconds = layer_seconds[static_cast<size_t>(l)] + seconds_since(t0);
    s.layers.push_back(std::move(rep));
  }
  // Biases first (they change the parameter counts), then the reports.
  complete_bias_layout(m);
  for (LayerPruneReport& rep : s.layers) {
    s.bias_compensation = s.bias_compensation ||
                          (compensate && (!rep.removed_kv_groups.empty() || !rep.removed_channels.empty()));
    rep.params_after = layer_param_count(m, rep.layer);
    notify(progress, "pruning", rep.layer + 1, n_layers, &rep);
  }
}

// ---- layers: ShortGPT block influence ---------------------------------------

void prune_layers(Model& m, const at::Tensor& windows, const PruneRecipe& r, const PruneProgress& progress,
                  PruneSummary& s) {
  SLMKIT_CHECK(s.criterion.empty() || s.criterion == "block-influence", "--method layers ranks blocks by ShortGPT's ",
               "block influence; it takes no --criterion (found \"", s.criterion, "\")");
  s.criterion = "block-influence";
  const int64_t n_layers = m.config.num_layers();
  std::vector<double> influence;
  std::vector<int64_t> params;
  std::vector<double> layer_seconds;
  BlockRunner runner(m, windows, r.chunk);
  for (int64_t l = 0; l < n_layers; ++l) {
    const auto t0 = Clock::now();
    at::Tensor outputs = runner.run(nullptr, /*keep_outputs=*/true);
    BlockInfluence bi;
    bi.add(runner.inputs(), outputs);
    influence.push_back(bi.value());
    params.push_back(layer_param_count(m, l));
    if (l + 1 < n_layers) runner.advance(std::move(outputs));
    layer_seconds.push_back(seconds_since(t0));
    notify(progress, "scoring", l + 1, n_layers);
  }
  s.target_params = target_from_fraction(r.target_params, s.block_params_before);
  const std::vector<int64_t> removed = choose_layers_to_remove(influence, params, s.target_params);
  for (int64_t l = 0; l < n_layers; ++l) {
    LayerPruneReport rep;
    rep.layer = l;
    rep.before = rep.after = m.config.layers[static_cast<size_t>(l)];
    rep.block_influence = influence[static_cast<size_t>(l)];
    rep.removed = std::find(removed.begin(), removed.end(), l) != removed.end();
    rep.params_before = params[static_cast<size_t>(l)];
    rep.params_after = rep.removed ? 0 : rep.params_before;
    rep.seconds = layer_seconds[static_cast<size_t>(l)];
    s.layers.push_back(std::move(rep));
  }
  remove_layers(m, removed);
  for (const LayerPruneReport& rep : s.layers) notify(progress, "pruning", rep.layer + 1, n_layers, &rep);
}

// ---- unstructured: magnitude, Wanda, SparseGPT --------------------------------

void prune_unstructured(Model& m, const at::Tensor& windows, const PruneRecipe& r, const PruneProgress& progress,
                        PruneSummary& s) {
  const std::string& criterion = s.criterion;
  SLMKIT_CHECK(criterion == "magnitude" || criterion == "wanda" || criterion == "sparsegpt", "unstructured pruning ",
               "takes --criterion magnitude, wanda or sparsegpt (found \"", criterion, "\")");
  SparseGptConfig sparsegpt = r.sparsegpt;
  sparsegpt.target = r.sparsity;
  const bool calibrated = criterion != "magnitude";
  const int64_t n_layers = m.config.num_layers();
  for (const std::string& name : m.block_linear_names())
    for (int64_t l = 0; l < n_layers; ++l)
      check_sparsity_config(r.sparsity, m.linear(Model::layer_prefix(l) + name).in_features());
  std::optional<BlockRunner> runner;
  if (calibrated) runner.emplace(m, windows, r.chunk);
  for (int64_t l = 0; l < n_layers; ++l) {
    const auto t0 = Clock::now();
    const std::string prefix = Model::layer_prefix(l);
    BlockStats st;
    if (calibrated) observe_block(m, *runner, /*with_xtx=*/criterion == "sparsegpt", /*keep_outputs=*/false, &st);
    LayerPruneReport rep;
    rep.layer = l;
    rep.before = rep.after = m.config.layers[static_cast<size_t>(l)];
    rep.params_before = rep.params_after = layer_param_count(m, l);
    for (const std::string& short_name : m.block_linear_names()) {
      Linear& linear = m.linear(prefix + short_name);
      at::Tensor w = linear.dense_weight().to(at::kFloat);
      const InputStats& in = st[input_slot(short_name)];
      if (criterion == "magnitude") {
        w = w.masked_fill(magnitude_mask(w, r.sparsity), 0.0f);
      } else if (criterion == "wanda") {
        w = w.masked_fill(wanda_mask(w, moments(in).l2_norm(), r.sparsity), 0.0f);
      } else {
        w = prune_sparsegpt(w, in.xtx, sparsegpt);
      }
      linear.weights = DenseWeights{w.to(m.dtype).contiguous()};
      rep.weights += w.numel();
      rep.zeros += (w == 0).sum().item<int64_t>();
    }
    // As GPTQ does: the next block sees what the pruned block computes.
    if (calibrated && l + 1 < n_layers) runner->advance(runner->run(nullptr, /*keep_outputs=*/true));
    rep.seconds = seconds_since(t0);
    s.layers.push_back(rep);
    notify(progress, "pruning", l + 1, n_layers, &s.layers.back());
  }
}

}  // namespace

const std::vector<PruneOptionInfo>& prune_methods() {
  static const std::vector<PruneOptionInfo> methods = {
      {"structured", "remove whole KV groups (GQA-aware) and MLP channels to --target-params; the model gets smaller"},
      {"layers", "remove whole decoder blocks, lowest ShortGPT block influence first (Men et al. 2024)"},
      {"unstructured", "set --sparsity of each block linear's weights (or an N:M --pattern) to zero, shapes unchanged"},
  };
  return methods;
}

const std::vector<PruneOptionInfo>& prune_criteria() {
  static const std::vector<PruneOptionInfo> criteria = {
      {"magnitude", "weight magnitudes only, no calibration (structured, unstructured)"},
      {"wanda", "|W|·‖X‖ per weight (Sun et al. 2024; structured as Wanda-sp) (structured, unstructured)"},
      {"flap", "fluctuation of o_proj/down_proj inputs × ‖W[:,j]‖², bias compensation (An et al. 2024) (structured)"},
      {"sparsegpt", "OBS weight updates through the inverse Hessian (Frantar & Alistarh 2023) (unstructured)"},
  };
  return criteria;
}

bool prune_needs_calibration(const PruneRecipe& r) {
  if (r.method == "layers") return true;
  return r.criterion != "magnitude";
}

PruneSummary prune_model(Model& m, const at::Tensor& windows, const PruneRecipe& r, const PruneProgress& progress) {
  const auto t0 = Clock::now();
  bool known = false;
  for (const auto& info : prune_methods()) known = known || r.method == info.name;
  SLMKIT_CHECK(known, "unknown pruning method \"", r.method, "\" (see slmkit prune --help)");
  for (const auto& [name, l] : m.linears)
    SLMKIT_CHECK(l.is_dense() || name == "lm_head", name, " is ", l.is_quantized() ? "quantized" : "low-rank",
                 "; prune the dense model, then quantize or factorize it");
  PruneSummary s;
  s.method = r.method;
  s.criterion = r.criterion.empty() && r.method != "layers" ? (r.method == "structured" ? "flap" : "wanda")
                                                            : r.criterion;
  PruneRecipe resolved = r;
  resolved.criterion = s.criterion;
  SLMKIT_CHECK(!prune_needs_calibration(resolved) || windows.defined(), "pruning with ", r.method, "/", s.criterion,
               " needs calibration windows");
  s.block_params_before = m.block_parameter_count();
  s.model_params_before = m.parameter_count();

  c10::InferenceMode guard;
  if (r.method == "structured") prune_structured(m, windows, r, progress, s);
  else if (r.method == "layers") prune_layers(m, windows, r, progress, s);
  else prune_unstructured(m, windows, r, progress, s);
  // Every shape against the (updated) config, and the RoPE tables rebuilt.
  m.finalize("pruned model");

  s.block_params_after = m.block_parameter_count();
  s.model_params_after = m.parameter_count();
  s.uniform_shape = uniform_shape(m.config);
  s.seconds = seconds_since(t0);
  return s;
}

}  // namespace slmkit
