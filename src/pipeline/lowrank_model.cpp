#include "pipeline/lowrank_model.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "lowrank/decomposition.h"
#include "lowrank/svd.h"
#include "model/forward.h"
#include "pipeline/calibration.h"

namespace slmkit {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The linears of one block grouped by the tensor they read: q/k/v share the
// normed attention input, gate/up the normed MLP input (forward.cpp passes the
// same tensor to each). Each group's statistics are collected once, from its
// first linear, and the groups run in this order (GPTQ's true-sequential order).
std::vector<std::vector<std::string>> input_groups(const Model& m) {
  if (m.config.arch == Arch::kGPT2)
    return {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, {"self_attn.o_proj"}, {"mlp.up_proj"},
            {"mlp.down_proj"}};
  return {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"},
          {"self_attn.o_proj"},
          {"mlp.gate_proj", "mlp.up_proj"},
          {"mlp.down_proj"}};
}

// Statistics of one group's input. `cross` (with the update) is Σ x xᵀ̂ between
// the dense model's input x and the input x̂ the block as it is now receives.
struct GroupStats {
  InputStats hat;
  at::Tensor cross;
};

// The block's linears kept aside while the model holds other forms of them.
using BlockLinears = std::map<std::string, Linear>;

BlockLinears copy_block(const Model& m, int64_t layer) {
  BlockLinears b;
  const std::string p = Model::layer_prefix(layer);
  for (const std::string& n : m.block_linear_names()) b[p + n] = m.linear(p + n);
  return b;
}

// Exchanges the model's block linears with `other` (twice restores both).
void swap_block(Model& m, BlockLinears& other) {
  for (auto& [name, l] : other) std::swap(m.linear(name), l);
}

// Block `layer` as the model holds it now, over `inputs` chunk by chunk → its outputs.
at::Tensor run_block(const Model& m, int64_t layer, const at::Tensor& inputs, int64_t chunk) {
  const int64_t n = inputs.size(0);
  at::Tensor outputs = at::empty_like(inputs);
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t k = std::min(chunk, n - s);
    outputs.narrow(0, s, k).copy_(decoder_layer(m, layer, inputs.narrow(0, s, k), 0, nullptr, nullptr));
  }
  return outputs;
}

// One block's group statistics in one run of the block as it is now: for each
// group that `wanted` marks, X̂ᵀX̂ and mean |x̂| of its input. With `dense`
// (the block's dense linears) and `dense_inputs`, also the cross term with the
// dense block's input on the dense model's hidden states, chunk by chunk so that
// the same tokens pair up.
std::vector<GroupStats> collect_stats(Model& m, int64_t layer, const at::Tensor& inputs,
                                      const std::vector<std::vector<std::string>>& groups,
                                      const std::vector<bool>& wanted, int64_t chunk, BlockLinears* dense,
                                      const at::Tensor& dense_inputs) {
  const std::string prefix = Model::layer_prefix(layer);
  std::vector<GroupStats> stats(groups.size());
  std::map<std::string, size_t> group_of;  // tapped linear → group
  for (size_t g = 0; g < groups.size(); ++g)
    if (wanted[g]) group_of[prefix + groups[g].front()] = g;
  const int64_t n = inputs.size(0);
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t k = std::min(chunk, n - s);
    std::vector<at::Tensor> seen(groups.size());
    const LinearTap tap = [&](const std::string& name, const at::Tensor& x) {
      const auto it = group_of.find(name);
      if (it == group_of.end()) return;
      const at::Tensor flat = x.reshape({-1, x.size(-1)}).to(at::kFloat);
      stats[it->second].hat.add(flat);
      // The float copy of a float32 input is the input itself: clone what must outlive the call.
      if (dense) seen[it->second] = flat.clone();
    };
    decoder_layer(m, layer, inputs.narrow(0, s, k), 0, nullptr, &tap);
    if (!dense) continue;
    swap_block(m, *dense);
    const LinearTap dense_tap = [&](const std::string& name, const at::Tensor& x) {
      const auto it = group_of.find(name);
      if (it == group_of.end()) return;
      GroupStats& st = stats[it->second];
      const at::Tensor xd = x.reshape({-1, x.size(-1)}).to(at::kFloat);
      if (!st.cross.defined()) st.cross = at::zeros({xd.size(1), xd.size(1)}, at::kFloat);
      st.cross.addmm_(xd.t(), seen[it->second]);  // Σ x x̂ᵀ
    };
    try {
      decoder_layer(m, layer, dense_inputs.narrow(0, s, k), 0, nullptr, &dense_tap);
    } catch (...) {
      swap_block(m, *dense);
      throw;
    }
    swap_block(m, *dense);
  }
  return stats;
}

Decomposition decompose(const LowRankRecipe& r, const at::Tensor& w, const InputStats* in,
                        LinearLowRankReport* rep) {
  if (r.method == "svd") return decompose_svd(w);
  SLMKIT_ASSERT(in != nullptr && in->tokens > 0, r.method, " needs calibration statistics");
  if (r.method == "asvd") {
    AsvdStats st;
    Decomposition d = decompose_asvd(w, in->abs_mean(), r.asvd, &st);
    if (rep) rep->floored_channels = st.floored_channels;
    return d;
  }
  SvdLlmStats st;
  Decomposition d = decompose_svd_llm(w, in->xtx, r.svd_llm, &st);
  if (rep) {
    rep->damp = st.damp;
    rep->dead_inputs = st.dead_inputs;
  }
  return d;
}

// The value of each term for the greedy allocation (see rank_allocation.h).
at::Tensor term_values(const Decomposition& d, const at::Tensor& w, const InputStats* in, RankSelection mode) {
  if (mode == RankSelection::kEnergy) {
    const at::Tensor energy = d.sigma.square();
    const double sum = energy.sum().item<double>();
    return sum > 0 ? energy / sum : energy;
  }
  SLMKIT_ASSERT(in != nullptr, "error-based rank selection needs calibration statistics");
  const double total = output_energy(w, in->xtx);
  const at::Tensor errors = term_output_errors(d, in->xtx);
  return total > 0 ? errors / total : errors;
}

bool is_known_method(const std::string& m) {
  for (const auto& info : low_rank_methods())
    if (m == info.name) return true;
  return false;
}

void notify(const LowRankProgress& progress, const char* stage, int64_t done, int64_t total,
            const LinearLowRankReport* linear = nullptr) {
  if (!progress) return;
  LowRankEvent e;
  e.stage = stage;
  e.done = done;
  e.total = total;
  e.linear = linear;
  progress(e);
}

}  // namespace

const std::vector<LowRankMethodInfo>& low_rank_methods() {
  static const std::vector<LowRankMethodInfo> methods = {
      {"svd", "truncated SVD of the weight (baseline; ignores the activations)"},
      {"asvd", "ASVD: input channels scaled by mean|x|^alpha before the SVD (Yuan et al. 2023)"},
      {"svd-llm", "SVD-LLM: whitening by the Cholesky factor of X^T X; truncation minimises the output error "
                  "(Wang et al. 2024)"},
  };
  return methods;
}

bool low_rank_needs_calibration(const LowRankRecipe& r) {
  return r.method != "svd" || r.ranks.mode == RankSelection::kError || r.update;
}

LowRankSummary low_rank_model(Model& m, const at::Tensor& windows, const LowRankRecipe& r,
                              const LowRankProgress& progress) {
  const auto t0 = Clock::now();
  SLMKIT_CHECK(is_known_method(r.method), "unknown low-rank method \"", r.method, "\" (see slmkit lowrank --help)");
  SLMKIT_CHECK(std::isfinite(r.target) && r.target > 0 && r.target <= 1, "--target must be in (0, 1] (the share of ",
               "the decoder blocks' parameters to keep), found ", r.target);
  SLMKIT_CHECK(m.config.arch != Arch::kGPT2, "low-rank factorization of GPT-2 models is not supported: their ",
               "checkpoints fuse q/k/v into one c_attn layer, which cannot hold per-projection factors");
  for (const auto& [name, l] : m.linears)
    SLMKIT_CHECK(l.is_dense() || name == "lm_head", name, " is ", l.is_quantized() ? "quantized" : "already low-rank",
                 "; factorize the dense model");
  // With windows the output errors are measured even where the method does not need them.
  const bool calibrated = windows.defined();
  SLMKIT_CHECK(calibrated || !low_rank_needs_calibration(r), "low-rank ", r.method, " needs calibration windows");

  LowRankSummary s;
  s.method = r.method;
  s.rank_selection = rank_selection_name(r.ranks.mode);
  s.block_params_before = m.block_parameter_count();
  s.model_params_before = m.parameter_count();
  s.target_params = std::llround(r.target * static_cast<double>(s.block_params_before));
  const int64_t n_layers = m.config.num_layers();
  const auto groups = input_groups(m);
  const std::vector<bool> all_groups(groups.size(), true);

  c10::InferenceMode guard;
  // ---- pass 1: statistics on the dense model, decompositions, rank allocation.
  std::vector<std::string> names;   // block linears in allocation order
  std::vector<LayerSpectrum> spectra;
  int64_t linear_weights = 0;       // Σ out·in over the block linears
  // Uniform ranks need neither the spectra nor the statistics.
  const bool observe = calibrated && r.ranks.mode != RankSelection::kUniform;
  std::optional<BlockRunner> runner;
  if (observe) runner.emplace(m, windows, r.chunk);
  for (int64_t l = 0; l < n_layers; ++l) {
    const std::string prefix = Model::layer_prefix(l);
    std::vector<GroupStats> st;
    if (observe) st = collect_stats(m, l, runner->inputs(), groups, all_groups, r.chunk, nullptr, at::Tensor());
    for (size_t g = 0; g < groups.size(); ++g)
      for (const std::string& short_name : groups[g]) {
        const std::string name = prefix + short_name;
        const at::Tensor w = m.linear(name).dense_weight();
        LayerSpectrum sp;
        sp.out_features = w.size(0);
        sp.in_features = w.size(1);
        linear_weights += sp.out_features * sp.in_features;
        if (r.ranks.mode != RankSelection::kUniform) {
          const InputStats* in = observe ? &st[g].hat : nullptr;
          sp.values = term_values(decompose(r, w, in, nullptr), w, in, r.ranks.mode);
        }
        names.push_back(name);
        spectra.push_back(std::move(sp));
      }
    if (observe && l + 1 < n_layers) runner->advance(run_block(m, l, runner->inputs(), r.chunk));
    notify(progress, "statistics", l + 1, n_layers);
  }
  // Whatever is not a block linear's weight (norms, biases) is kept as it is.
  const int64_t budget = s.target_params - (s.block_params_before - linear_weights);
  SLMKIT_CHECK(budget > 0, "--target ", r.target, " leaves no parameters for the block linears (the norms and ",
               "biases alone take ", s.block_params_before - linear_weights, ")");
  const RankAllocation allocation = allocate_ranks(spectra, budget, r.ranks);
  std::map<std::string, LayerRank> rank_of;
  for (size_t i = 0; i < names.size(); ++i) rank_of[names[i]] = allocation.layers[i];
  s.statistics_seconds = seconds_since(t0);

  // ---- pass 2: factorization, block by block.
  if (calibrated) runner.emplace(m, windows, r.chunk);
  at::Tensor dense_inputs;  // the dense model's hidden states (update only)
  if (r.update) dense_inputs = runner->inputs().clone();
  s.block_seconds.assign(static_cast<size_t>(n_layers), 0.0);
  for (int64_t l = 0; l < n_layers; ++l) {
    const auto t_block = Clock::now();
    const std::string prefix = Model::layer_prefix(l);
    BlockLinears dense = copy_block(m, l);
    // Without `sequential`, every group is factorized on the dense block's inputs
    // and the next block gets the dense block's outputs.
    at::Tensor dense_outputs;
    std::vector<GroupStats> fixed;
    if (calibrated && !r.sequential) {
      fixed = collect_stats(m, l, runner->inputs(), groups, all_groups, r.chunk, r.update ? &dense : nullptr,
                            dense_inputs);
      if (l + 1 < n_layers) dense_outputs = run_block(m, l, runner->inputs(), r.chunk);
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      std::vector<bool> wanted(groups.size(), false);
      wanted[g] = true;
      GroupStats st;
      if (calibrated)
        st = r.sequential ? std::move(collect_stats(m, l, runner->inputs(), groups, wanted, r.chunk,
                                                    r.update ? &dense : nullptr, dense_inputs)[g])
                          : fixed[g];
      for (const std::string& short_name : groups[g]) {
        const auto tl = Clock::now();
        const std::string name = prefix + short_name;
        Linear& linear = m.linear(name);
        const at::Tensor w = linear.dense_weight().to(at::kFloat);
        const LayerRank& lr = rank_of.at(name);
        LinearLowRankReport rep;
        rep.name = name;
        rep.out_features = w.size(0);
        rep.in_features = w.size(1);
        rep.break_even = break_even_rank(rep.out_features, rep.in_features);
        rep.params_before = w.numel();
        rep.relative_error = calibrated ? 0.0 : std::numeric_limits<double>::quiet_NaN();
        if (lr.dense) {
          rep.params_after = rep.params_before;
          ++s.kept_dense;
        } else {
          const Decomposition d = decompose(r, w, calibrated ? &st.hat : nullptr, &rep);
          LowRankWeights f = truncate(d, lr.rank);
          if (r.update) f.b = refit_b(w, f.a, st.cross, st.hat.xtx);
          if (calibrated) rep.relative_error = relative_output_error(w, at::mm(f.b, f.a), st.hat.xtx);
          rep.rank = lr.rank;
          rep.params_after = f.a.numel() + f.b.numel();
          linear.weights = LowRankWeights{f.a.to(m.dtype).contiguous(), f.b.to(m.dtype).contiguous()};
          ++s.factorized;
        }
        rep.seconds = seconds_since(tl);
        s.linears.push_back(rep);
        notify(progress, "factorizing", l, n_layers, &s.linears.back());
      }
    }
    if (calibrated && l + 1 < n_layers) {
      if (r.update) {  // the dense model's next hidden states, through the dense block
        swap_block(m, dense);
        at::Tensor next;
        try {
          next = run_block(m, l, dense_inputs, r.chunk);
        } catch (...) {
          swap_block(m, dense);
          throw;
        }
        swap_block(m, dense);
        dense_inputs = std::move(next);
      }
      runner->advance(r.sequential ? run_block(m, l, runner->inputs(), r.chunk) : std::move(dense_outputs));
    }
    s.block_seconds[static_cast<size_t>(l)] = seconds_since(t_block);
    notify(progress, "factorizing", l + 1, n_layers);
  }
  m.finalize("factorized model");
  s.block_params_after = m.block_parameter_count();
  s.model_params_after = m.parameter_count();
  s.seconds = seconds_since(t0);
  return s;
}

}  // namespace slmkit
