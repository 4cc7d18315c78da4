#include "pipeline/lora_adapter.h"

#include <cmath>

#include "core/error.h"
#include "io/peft_adapter.h"
#include "model/tensor_adapter.h"
#include "quantize/quant_config.h"
#include "quantize/rtn.h"

namespace slmkit {
namespace {

double frobenius(const at::Tensor& t) { return t.to(at::kDouble).norm().item<double>(); }

at::Tensor stored_as(const at::Tensor& t, at::ScalarType dtype) { return t.to(dtype).contiguous(); }

}  // namespace

LoraAdapter load_lora_adapter(const std::string& dir, const Model& model) {
  const PeftAdapterFiles files = read_peft_adapter(dir);
  LoraAdapter adapter;
  adapter.config = files.config;
  for (const auto& [module, t] : files.modules) {
    const auto it = model.linears.find(module);
    SLMKIT_CHECK(it != model.linears.end(), files.weights_path, ": module ", module,
                 " is not a linear layer of this model (adapters address Hugging Face Llama-family module names, "
                 "e.g. model.layers.0.self_attn.q_proj or lm_head)");
    const Linear& l = it->second;
    SLMKIT_CHECK(t.a.shape[1] == l.in_features() && t.b.shape[0] == l.out_features(), files.weights_path,
                 ": module ", module, ": lora_A ", shape_str(t.a.shape), " / lora_B ", shape_str(t.b.shape),
                 " do not fit the layer's [out, in] = [", l.out_features(), ", ", l.in_features(),
                 "]; was the adapter made for another (e.g. unpruned) model?");
    LoraDelta d;
    d.a = to_torch(t.a, peft_tensor_name(module, true)).to(at::kFloat).clone();
    d.b = to_torch(t.b, peft_tensor_name(module, false)).to(at::kFloat).clone();
    d.scaling = files.config.scaling_for(module);
    adapter.modules.emplace(module, std::move(d));
  }
  return adapter;
}

void save_lora_adapter(const std::string& dir, const LoraAdapter& adapter, at::ScalarType dtype,
                       const std::map<std::string, std::string>& metadata) {
  SLMKIT_CHECK(dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16,
               "adapters are saved as float32, float16 or bfloat16, not ", dtype);
  std::map<std::string, at::Tensor> keep;  // the views borrow these
  std::map<std::string, PeftModuleTensors> modules;
  for (const auto& [name, d] : adapter.modules) {
    const double expected = adapter.config.scaling_for(name);
    SLMKIT_ASSERT(std::abs(d.scaling - expected) <= 1e-12 * std::abs(expected), "module ", name, " has scaling ",
                  d.scaling, " but its config gives ", expected);
    const at::Tensor a = keep[name + ".a"] = stored_as(d.a.detach(), dtype);
    const at::Tensor b = keep[name + ".b"] = stored_as(d.b.detach(), dtype);
    modules[name] = PeftModuleTensors{to_view(a), to_view(b)};
  }
  write_peft_adapter(dir, adapter.config, modules, metadata);
}

void attach_lora_adapter(Model& model, const LoraAdapter& adapter) {
  for (const auto& [name, d] : adapter.modules) model.linear(name).adapter = std::make_shared<const LoraDelta>(d);
}

void detach_lora_adapters(Model& model) {
  for (auto& [name, l] : model.linears) l.adapter.reset();
}

std::vector<LoraMergeReport> merge_lora_adapter(Model& model, const LoraAdapter& adapter) {
  std::vector<LoraMergeReport> reports;
  for (const auto& [name, d] : adapter.modules) {
    Linear& l = model.linear(name);
    LoraMergeReport r;
    r.name = name;
    if (auto* dense = std::get_if<DenseWeights>(&l.weights)) {
      r.form = "dense";
      dense->weight = merge_lora(dense->weight, d);
    } else if (auto* q = std::get_if<QuantizedWeights>(&l.weights)) {
      // Merge onto dequant(W_q), the base the adapter ran against, then round
      // the sum onto a fresh grid of the same bits and group size.
      r.form = "quantized";
      const QuantGrid grid{q->bits, q->group_size, q->symmetric};
      r.grid = describe(grid);
      const at::Tensor delta = lora_delta_weight(d);
      const at::Tensor exact = q->dequantize(at::kFloat).to(at::kDouble) + delta;
      QuantizedWeights requantized = pack_gptq(quantize_rtn(exact.to(at::kFloat), grid));
      const at::Tensor error = requantized.dequantize(at::kFloat).to(at::kDouble) - exact;
      r.relative_error = frobenius(error) / std::max(frobenius(exact), 1e-300);
      r.delta_error = frobenius(error) / std::max(frobenius(delta), 1e-300);
      *q = std::move(requantized);
    } else if (auto* lr = std::get_if<LowRankWeights>(&l.weights)) {
      // B_l·A_l + s·B·A = [B_l, B]·[A_l; s·A]: exact, the rank grows by r.
      r.form = "low-rank";
      const at::ScalarType t = lr->a.scalar_type();
      lr->a = at::cat({lr->a, d.a.to(at::kDouble).mul(d.scaling).to(t)}, 0);
      lr->b = at::cat({lr->b, d.b.to(t)}, 1);
    } else {
      SLMKIT_ASSERT(false, "merge_lora_adapter: unhandled weight form of ", name);
    }
    l.adapter.reset();
    reports.push_back(std::move(r));
  }
  return reports;
}

}  // namespace slmkit
