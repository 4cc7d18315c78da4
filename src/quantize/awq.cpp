#include "quantize/awq.h"

#include <functional>
#include <limits>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "model/forward.h"
#include "quantize/awq_search.h"

namespace slmkit {
namespace {

// Output of the part of the block a group's loss is measured on, for one chunk
// of that part's input.
using SubLayer = std::function<at::Tensor(const Model&, const at::Tensor&)>;

// One place in the block where AWQ reads activations: the input of `site`
// (a linear), which `consumers` all read. When `scaled` is non-empty, a scale
// group: `scaled` get columns × s, and the previous op (`prev_norm`, a norm
// prefix, or `prev_linear`) absorbs 1/s.
struct Site {
  std::string site;
  std::vector<std::string> consumers;
  std::string name;  // "prev_op -> linears", for the stats
  std::vector<std::string> scaled;
  std::string prev_norm, prev_linear;
  SubLayer sub_layer;
};

std::vector<Site> block_sites(const Model& model, int64_t layer) {
  const std::string p = Model::layer_prefix(layer);
  const bool gpt2 = model.config.arch == Arch::kGPT2;
  const std::string q = p + "self_attn.q_proj", k = p + "self_attn.k_proj", v = p + "self_attn.v_proj";
  const std::string o = p + "self_attn.o_proj", gate = p + "mlp.gate_proj", up = p + "mlp.up_proj";
  const std::string down = p + "mlp.down_proj";
  std::vector<Site> sites;

  sites.push_back({q, {q, k, v}, "input_layernorm -> q_proj,k_proj,v_proj", {q, k, v}, p + "input_layernorm", "",
                   [layer](const Model& m, const at::Tensor& x) {
                     return attention_sublayer(m, layer, x, /*pos0=*/0, /*cache=*/nullptr);
                   }});

  auto linear_only = [](const std::string& name) {
    return [name](const Model& m, const at::Tensor& x) { return m.linear(name).forward(x); };
  };
  // v's output channels are o's input channels only when every query head has
  // its own value head; with GQA one v channel feeds several o columns and a
  // per-column scale cannot be folded (llm-awq skips it by comparing shapes).
  Site o_site{o, {o}, "", {}, "", "", nullptr};
  if (model.linear(v).out_features() == model.linear(o).in_features()) {
    o_site.name = "v_proj -> o_proj";
    o_site.scaled = {o};
    o_site.prev_linear = v;
    o_site.sub_layer = linear_only(o);
  }
  sites.push_back(o_site);

  const SubLayer mlp = [layer](const Model& m, const at::Tensor& x) { return mlp_sublayer(m, layer, x); };
  if (gpt2) {
    sites.push_back({up, {up}, "post_attention_layernorm -> up_proj", {up}, p + "post_attention_layernorm", "", mlp});
    // GELU sits between up and down: a scale on up's rows does not commute with it.
    sites.push_back({down, {down}, "", {}, "", "", nullptr});
  } else {
    sites.push_back({up, {gate, up}, "post_attention_layernorm -> gate_proj,up_proj", {gate, up},
                     p + "post_attention_layernorm", "", mlp});
    sites.push_back({down, {down}, "up_proj -> down_proj", {down}, "", up, linear_only(down)});
  }
  return sites;
}

at::Tensor dense_weight_of(const Model& model, const std::string& name) {
  const Linear& l = model.linear(name);
  SLMKIT_CHECK(l.is_dense(), "AWQ needs dense weights, but ", name, " is already ",
               l.is_quantized() ? "quantized; run AWQ on the unquantized model" : "low-rank (factorized); "
               "quantize the dense model");
  return l.dense_weight();
}

void set_weight(Model& model, const std::string& name, const at::Tensor& weight_f32) {
  Linear& l = model.linear(name);
  l = make_dense_linear(weight_f32.to(model.dtype), l.bias);
}

// The input of linear `site` over all windows, [N, L, in], from the block as it
// is in `model` (run in chunks of windows).
at::Tensor capture_input(const Model& model, int64_t layer, const at::Tensor& inputs, const std::string& site,
                         int64_t chunk) {
  std::vector<at::Tensor> parts;
  const LinearTap tap = [&](const std::string& name, const at::Tensor& x) {
    if (name == site) parts.push_back(x);
  };
  for (int64_t n0 = 0; n0 < inputs.size(0); n0 += chunk) {
    decoder_layer(model, layer, inputs.narrow(0, n0, std::min(chunk, inputs.size(0) - n0)), 0, nullptr, &tap);
  }
  SLMKIT_ASSERT(!parts.empty(), "linear ", site, " never ran in block ", layer);
  return at::cat(parts, 0);
}

// At most `max_tokens` evenly strided tokens of x [N, L, C] → float [T, C].
at::Tensor subsample_tokens(const at::Tensor& x, int64_t max_tokens) {
  const at::Tensor tokens = x.reshape({-1, x.size(-1)});
  const int64_t n = tokens.size(0), stride = (n + max_tokens - 1) / max_tokens;
  return tokens.slice(0, 0, n, stride).to(at::kFloat);
}

// Output MSE of `sub_layer` in `trial` against `reference`, over all chunks of x.
double sub_layer_mse(const Model& trial, const SubLayer& sub_layer, const at::Tensor& x,
                     const std::vector<at::Tensor>& reference, int64_t chunk) {
  double sum_sq = 0;
  int64_t count = 0;
  for (size_t c = 0; c < reference.size(); ++c) {
    const int64_t n0 = static_cast<int64_t>(c) * chunk;
    const at::Tensor out = sub_layer(trial, x.narrow(0, n0, std::min(chunk, x.size(0) - n0)));
    sum_sq += (out.to(at::kFloat) - reference[c].to(at::kFloat)).pow_(2).sum().item<double>();
    count += out.numel();
  }
  return sum_sq / static_cast<double>(count);
}

struct ScaleChoice {
  at::Tensor s;  // float [in]
  double ratio = 0, loss_unscaled = 0, loss_best = 0;
};

// llm-awq's _search_module_scale: try s(ratio) for ratio = i/n_grid, weights of
// the scaled linears replaced by Q(W·diag(s))/s, and keep the s with the
// smallest sub-layer output MSE. Ratio 0 (s = 1, plain quantization) comes
// first and wins ties, so the chosen loss never exceeds the unscaled one.
ScaleChoice search_scale(const Model& original, const Site& site, const at::Tensor& x, const AwqConfig& config) {
  std::vector<at::Tensor> reference;
  for (int64_t n0 = 0; n0 < x.size(0); n0 += config.chunk)
    reference.push_back(site.sub_layer(original, x.narrow(0, n0, std::min(config.chunk, x.size(0) - n0))));
  const at::Tensor x_abs_mean = x.abs().mean(at::IntArrayRef{0, 1}, /*keepdim=*/false, at::kFloat);  // [in]

  std::vector<at::Tensor> weights;
  for (const std::string& name : site.scaled) weights.push_back(dense_weight_of(original, name).to(at::kFloat));
  Model trial = original;  // shares every tensor; only the scaled linears are replaced below
  auto loss_for = [&](const at::Tensor& s) {
    for (size_t i = 0; i < site.scaled.size(); ++i)
      set_weight(trial, site.scaled[i], awq_pseudo_quantize(weights[i] * s, config.grid) / s);
    return sub_layer_mse(trial, site.sub_layer, x, reference, config.chunk);
  };

  ScaleChoice best;
  best.loss_best = std::numeric_limits<double>::infinity();
  best.s = awq_scale_candidate(x_abs_mean, 0.0);
  best.loss_unscaled = loss_for(best.s);
  if (config.fixed_ratio >= 0) {
    best.ratio = config.fixed_ratio;
    best.s = awq_scale_candidate(x_abs_mean, config.fixed_ratio);
    best.loss_best = loss_for(best.s);
    return best;
  }
  for (int i = 0; i < config.n_grid; ++i) {
    const double ratio = static_cast<double>(i) / config.n_grid;
    const at::Tensor s = awq_scale_candidate(x_abs_mean, ratio);
    const double loss = i == 0 ? best.loss_unscaled : loss_for(s);
    if (loss < best.loss_best) {
      best.loss_best = loss;
      best.ratio = ratio;
      best.s = s;
    }
  }
  SLMKIT_CHECK(std::isfinite(best.loss_best), "AWQ scale search for ", site.name,
               ": every candidate gave a non-finite loss; the block's weights or inputs contain NaN/Inf");
  return best;
}

// Exact rewrite: prev(x)/s feeds linears whose columns are multiplied by s.
void fold_scale(Model& model, const Site& site, const at::Tensor& s) {
  if (!site.prev_norm.empty()) {
    for (const char* part : {".weight", ".bias"}) {
      const std::string name = site.prev_norm + part;
      const at::Tensor t = model.optional_tensor(name);
      if (t.defined()) model.tensors[name] = (t.to(at::kFloat) / s).to(t.scalar_type());
    }
  } else {
    Linear& prev = model.linear(site.prev_linear);
    const at::Tensor w = dense_weight_of(model, site.prev_linear).to(at::kFloat);
    at::Tensor bias = prev.bias;
    if (bias.defined()) bias = (bias.to(at::kFloat) / s).to(bias.scalar_type());
    prev = make_dense_linear((w / s.unsqueeze(1)).to(model.dtype), bias);
  }
  for (const std::string& name : site.scaled)
    set_weight(model, name, dense_weight_of(model, name).to(at::kFloat) * s);
}

void check_inputs(const Model& model, int64_t layer, const at::Tensor& inputs, const AwqConfig& config) {
  check_grid(config.grid);
  SLMKIT_CHECK(layer >= 0 && layer < model.config.num_layers(), "AWQ: layer ", layer, " out of range [0, ",
               model.config.num_layers(), ")");
  SLMKIT_CHECK(inputs.defined() && inputs.dim() == 3 && inputs.size(2) == model.config.hidden_size &&
                   inputs.size(0) > 0 && inputs.size(1) > 0,
               "AWQ: block inputs must be [windows, tokens, ", model.config.hidden_size, "], got ",
               inputs.defined() ? inputs.sizes() : at::IntArrayRef{});
  SLMKIT_CHECK(config.n_grid >= 1 && config.clip_grid >= 1 && config.chunk >= 1 && config.clip_tokens >= 1,
               "AWQ: n_grid, clip_grid, chunk and clip_tokens must be positive");
  SLMKIT_CHECK(config.max_shrink > 0 && config.max_shrink < 1, "AWQ: max_shrink must be in (0, 1), got ",
               config.max_shrink);
}

}  // namespace

void awq_transform_block(Model& model, int64_t layer, const at::Tensor& inputs, const AwqConfig& config,
                         AwqBlockStats* stats) {
  c10::InferenceMode guard;
  check_inputs(model, layer, inputs, config);
  const at::Tensor x_block = inputs.to(model.dtype);
  // Every search reads the unmodified block (as llm-awq, which searches all
  // groups before applying any scale); the groups' folds commute, so applying
  // each one right after its search gives the same block.
  const Model original = model;

  // Subsampled inputs of every clipped linear, in the scaled block's terms (x/s).
  std::vector<std::pair<std::string, at::Tensor>> clip_inputs;
  for (const Site& site : block_sites(model, layer)) {
    const at::Tensor x = capture_input(original, layer, x_block, site.site, config.chunk);
    at::Tensor x_tokens = subsample_tokens(x, config.clip_tokens);
    if (!site.scaled.empty()) {
      const ScaleChoice choice = search_scale(original, site, x, config);
      fold_scale(model, site, choice.s);
      x_tokens = x_tokens / choice.s;
      if (stats != nullptr) {
        stats->best_ratio.emplace_back(site.name, choice.ratio);
        stats->loss_before.emplace_back(site.name, choice.loss_unscaled);
        stats->loss_after.emplace_back(site.name, choice.loss_best);
      }
    }
    for (const std::string& name : site.consumers) {
      // llm-awq leaves q and k unclipped: their error is amplified through the q·kᵀ product.
      const bool query_or_key = name.size() >= 7 && (name.compare(name.size() - 7, 7, ".q_proj") == 0 ||
                                                     name.compare(name.size() - 7, 7, ".k_proj") == 0);
      if (!query_or_key) clip_inputs.emplace_back(name, x_tokens);
    }
  }

  if (!config.clip) return;
  for (const auto& [name, x_tokens] : clip_inputs) {
    const at::Tensor w = dense_weight_of(model, name).to(at::kFloat);
    const AwqClipResult clip = awq_search_clip(w, x_tokens, config);
    set_weight(model, name, awq_apply_clip(w, clip.max_val, config.grid));
    if (stats != nullptr) ++stats->clipped_linears;
  }
}

}  // namespace slmkit
