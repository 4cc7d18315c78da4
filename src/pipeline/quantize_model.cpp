#include "pipeline/quantize_model.h"

#include <chrono>
#include <map>
#include <set>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "linalg/damped_hessian.h"
#include "pipeline/calibration.h"
#include "quantize/awq.h"
#include "quantize/rtn.h"

namespace slmkit {
namespace {

using Clock = std::chrono::steady_clock;

// Linears of one block in the order GPTQ's --true-sequential quantizes them.
std::vector<std::vector<std::string>> sequential_groups(const Model& m, bool true_sequential) {
  std::vector<std::vector<std::string>> groups;
  if (m.config.arch == Arch::kGPT2)
    groups = {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, {"self_attn.o_proj"}, {"mlp.up_proj"},
              {"mlp.down_proj"}};
  else
    groups = {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"},
              {"self_attn.o_proj"},
              {"mlp.gate_proj", "mlp.up_proj"},
              {"mlp.down_proj"}};
  if (true_sequential) return groups;
  std::vector<std::string> all;
  for (const auto& g : groups) all.insert(all.end(), g.begin(), g.end());
  return {all};
}

const QuantOverride* find_override(const QuantizeRecipe& r, const std::string& name) {
  for (const QuantOverride& o : r.overrides)
    if (std::regex_search(name, std::regex(o.pattern))) return &o;
  return nullptr;
}

double relative_error(const at::Tensor& w, const at::Tensor& q, const at::Tensor& xtx) {
  const at::Tensor d = w - q;
  const double num = (at::mm(d, xtx) * d).sum().item<double>();
  const double den = (at::mm(w, xtx) * w).sum().item<double>();
  return den > 0 ? num / den : 0.0;
}

}  // namespace

const std::vector<QuantMethodInfo>& quant_methods() {
  static const std::vector<QuantMethodInfo> methods = {
      {"rtn", "round to nearest on each group's min/max grid (baseline, no calibration needed)"},
      {"gptq", "GPTQ: error feedback through the inverse Hessian of calibration inputs (Frantar et al. 2023)"},
      {"awq", "AWQ: activation-aware channel scales and clipping, then RTN (Lin et al. 2024, llm-awq)"},
  };
  return methods;
}

int64_t model_storage_bytes(const Model& model) {
  std::set<const void*> seen;
  int64_t bytes = 0;
  for (const auto& [name, t] : model.tensors)
    if (seen.insert(t.data_ptr()).second) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  for (const auto& [name, l] : model.linears) {
    if (l.is_dense() && !seen.insert(l.dense_weight().data_ptr()).second) continue;  // tied head
    bytes += l.storage_bytes();
  }
  return bytes;
}

QuantizeSummary quantize_model(Model& model, const at::Tensor& windows, const QuantizeRecipe& recipe,
                               const TensorProgress& progress, BlockCheckpoint* checkpoint) {
  const auto t0 = Clock::now();
  bool known = false;
  for (const auto& m : quant_methods()) known = known || recipe.method == m.name;
  SLMKIT_CHECK(known, "unknown quantization method \"", recipe.method, "\" (see slmkit quantize --help)");
  for (const auto& [name, l] : model.linears)
    SLMKIT_CHECK(!l.is_low_rank(), name, " is low-rank (factorized B·A); quantizing factors is not supported: ",
                 "quantize the dense model instead");
  QuantizeSummary summary;
  const auto groups = sequential_groups(model, recipe.true_sequential);
  const int64_t total = model.config.num_layers() * static_cast<int64_t>(model.block_linear_names().size());

  c10::InferenceMode guard;
  BlockRunner runner(model, windows, recipe.chunk);
  // model_bytes_before is taken before a restore changes the finished blocks.
  summary.model_bytes_before = model_storage_bytes(model);
  int64_t first_layer = 0;
  if (checkpoint) {
    at::Tensor next_inputs;
    first_layer = checkpoint->restore(model, &next_inputs, &summary.tensors);
    SLMKIT_ASSERT(first_layer >= 0 && first_layer <= model.config.num_layers(), "restored ", first_layer, " blocks");
    if (first_layer > 0 && first_layer < model.config.num_layers()) runner.restart_at(first_layer, next_inputs);
  }
  const bool awq = recipe.method == "awq";
  summary.block_seconds.assign(static_cast<size_t>(model.config.num_layers()), 0.0);
  for (int64_t layer = first_layer; layer < model.config.num_layers(); ++layer) {
    const auto t_block = Clock::now();
    const std::string prefix = Model::layer_prefix(layer);
    // AWQ propagates full-precision activations: the block's outputs before any change.
    at::Tensor fp_outputs;
    if (awq) {
      fp_outputs = runner.run(nullptr, /*keep_outputs=*/true);
      AwqConfig cfg;
      cfg.grid = recipe.gptq.grid;
      cfg.chunk = recipe.chunk;
      awq_transform_block(model, layer, runner.inputs(), cfg);
    }
    for (const auto& group : groups) {
      // One pass of the block collects the inputs of this group's linears (as the
      // block is now: earlier groups already quantized), accumulated over chunks.
      // Linears fed the same tensor (q/k/v, gate/up) share one set of statistics.
      std::map<std::string, InputStats> accumulated;
      std::map<std::string, std::string> same_input_as;  // gate/up, q/k/v share one input tensor
      const void* previous_input = nullptr;
      std::string previous_name;
      const std::set<std::string> wanted(group.begin(), group.end());
      LinearTap accumulate = [&](const std::string& name, const at::Tensor& x) {
        if (!wanted.count(name.substr(prefix.size()))) return;
        // Same tensor as the previous (different) linear within this chunk. The name
        // check matters: the next chunk's input may reuse the freed address.
        if (x.data_ptr() == previous_input && name != previous_name && !accumulated.count(name)) {
          same_input_as[name] = previous_name;
          return;
        }
        previous_input = x.data_ptr();
        previous_name = name;
        accumulated[name].add(x);
      };
      runner.run(&accumulate, /*keep_outputs=*/false);

      for (const std::string& short_name : group) {
        const auto tl = Clock::now();
        const std::string name = prefix + short_name;
        Linear& linear = model.linear(name);
        TensorReport rep;
        rep.name = name;
        rep.out_features = linear.out_features();
        rep.in_features = linear.in_features();
        const QuantOverride* ov = find_override(recipe, name);
        rep.grid = ov ? ov->grid : recipe.gptq.grid;
        rep.kept_dense = ov && ov->keep_dense;
        rep.bytes_before = linear.storage_bytes();
        if (!rep.kept_dense) {
          const at::Tensor w = linear.dense_weight().to(at::kFloat);
          const auto alias = same_input_as.find(name);
          const at::Tensor& xtx = accumulated.at(alias == same_input_as.end() ? name : alias->second).xtx;
          // Every numerical failure (non-finite weights or Hessian, fp16 scale
          // overflow, Cholesky failing after maximum damping) names the tensor.
          try {
            IntegerWeights iw;
            if (recipe.method == "rtn" || awq) {
              iw = quantize_rtn(w, rep.grid);
            } else {
              GptqConfig cfg = recipe.gptq;
              cfg.grid = rep.grid;
              GptqStats gs;
              try {
                iw = quantize_gptq(w, xtx, cfg, &gs);
                rep.damp = gs.damp_used;
              } catch (const NotPositiveDefinite& e) {
                if (!recipe.rtn_fallback)
                  throw Error(cat(e.what(), ". Or pass --fallback rtn to round this module to nearest instead ",
                                  "(recorded in its report)"));
                iw = quantize_rtn(w, rep.grid);
                rep.rtn_fallback = true;
              }
            }
            QuantizedWeights packed = pack_gptq(iw);
            rep.relative_error = relative_error(w, packed.dequantize(at::kFloat), xtx);
            linear.weights = std::move(packed);
          } catch (const Error& e) {
            throw Error(cat("block ", layer, ", tensor ", name, ": ", e.what()));
          }
        }
        rep.bytes_after = linear.storage_bytes();
        rep.seconds = std::chrono::duration<double>(Clock::now() - tl).count();
        summary.tensors.push_back(rep);
        if (progress) progress(rep, static_cast<int64_t>(summary.tensors.size()), total);
      }
    }
    // GPTQ's sequential mode: the quantized block's outputs feed the next block.
    const bool last = layer + 1 == model.config.num_layers();
    if (!last) {
      runner.advance(awq ? fp_outputs : runner.run(nullptr, /*keep_outputs=*/true));
      SLMKIT_CHECK(at::isfinite(runner.inputs()).all().item<bool>(), "block ", layer,
                   " produced NaN/Inf activations on the calibration windows (quantized with ", recipe.method,
                   "); the next block cannot be calibrated. Check the block's weights and norms");
    }
    summary.block_seconds[static_cast<size_t>(layer)] = std::chrono::duration<double>(Clock::now() - t_block).count();
    if (checkpoint) checkpoint->save(model, layer, last ? at::Tensor() : runner.inputs(), summary.tensors);
  }
  int64_t quantized_weights = 0, quantized_bytes = 0;
  for (const TensorReport& r : summary.tensors) {
    summary.linear_bytes_before += r.bytes_before;
    summary.linear_bytes_after += r.bytes_after;
    if (r.kept_dense) continue;
    quantized_weights += r.out_features * r.in_features;
    quantized_bytes += r.bytes_after;
  }
  summary.model_bytes_after = model_storage_bytes(model);
  summary.bits_per_weight =
      quantized_weights > 0 ? 8.0 * static_cast<double>(quantized_bytes) / static_cast<double>(quantized_weights) : 0;
  summary.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return summary;
}

std::string describe_recipe(const QuantizeRecipe& r) {
  const GptqConfig& g = r.gptq;
  std::string s = cat("method=", r.method, " bits=", g.grid.bits, " group=", g.grid.group_size,
                      " sym=", g.grid.symmetric, " percdamp=", g.percdamp, " block=", g.block_size,
                      " act_order=", g.act_order, " static_groups=", g.static_groups,
                      " damp_retries=", g.max_damp_retries, " true_sequential=", r.true_sequential,
                      " chunk=", r.chunk);
  for (const QuantOverride& o : r.overrides)
    s += cat(" override[", o.pattern, "]=", o.keep_dense ? std::string("dense") : describe(o.grid));
  if (r.rtn_fallback) s += " fallback=rtn";
  return s;
}

}  // namespace slmkit
