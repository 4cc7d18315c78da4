#include "model/model.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/tensor_view.h"

namespace slmkit {
namespace {

std::vector<int64_t> sizes_of(const at::Tensor& t) { return t.sizes().vec(); }

void expect_shape(const at::Tensor& t, const std::vector<int64_t>& shape, const std::string& name,
                  const std::string& source) {
  SLMKIT_CHECK(sizes_of(t) == shape, source, ": tensor ", name, " has shape ", shape_str(sizes_of(t)),
               ", expected ", shape_str(shape), " from config.json");
}

}  // namespace

std::string Model::layer_prefix(int64_t layer) { return cat("model.layers.", layer, "."); }

const std::vector<std::string>& Model::block_linear_names() const {
  static const std::vector<std::string> llama = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                 "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                 "mlp.down_proj"};
  static const std::vector<std::string> gpt2 = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                "self_attn.o_proj", "mlp.up_proj",      "mlp.down_proj"};
  return config.arch == Arch::kGPT2 ? gpt2 : llama;
}

const Linear& Model::linear(const std::string& name) const {
  auto it = linears.find(name);
  SLMKIT_ASSERT(it != linears.end(), "no linear named ", name);
  return it->second;
}

Linear& Model::linear(const std::string& name) {
  auto it = linears.find(name);
  SLMKIT_ASSERT(it != linears.end(), "no linear named ", name);
  return it->second;
}

const at::Tensor& Model::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  SLMKIT_ASSERT(it != tensors.end(), "no tensor named ", name);
  return it->second;
}

at::Tensor Model::optional_tensor(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? at::Tensor() : it->second;
}

void Model::finalize(const std::string& source) {
  validate_config(config, source);
  const ModelConfig& c = config;
  const int64_t h = c.hidden_size, hd = c.head_dim;
  const bool gpt2 = c.arch == Arch::kGPT2;
  auto need_tensor = [&](const std::string& name, const std::vector<int64_t>& shape) {
    auto it = tensors.find(name);
    SLMKIT_CHECK(it != tensors.end(), source, ": missing tensor ", name);
    expect_shape(it->second, shape, name, source);
  };
  auto need_linear = [&](const std::string& name, int64_t out, int64_t in, bool bias) {
    auto it = linears.find(name);
    SLMKIT_CHECK(it != linears.end(), source, ": missing weight ", name, ".weight");
    const Linear& l = it->second;
    SLMKIT_CHECK(l.out_features() == out && l.in_features() == in, source, ": ", name,
                 l.is_quantized()  ? " (GPTQ) has [out, in] = ["
                 : l.is_low_rank() ? " (low-rank B·A) has [out, in] = ["
                                   : ".weight has shape [",
                 l.out_features(), ", ", l.in_features(), "], expected [", out, ", ", in, "] from config.json");
    if (bias) {
      SLMKIT_CHECK(l.bias.defined(), source, ": missing ", name, ".bias (the config says this layer has a bias)");
      expect_shape(l.bias, {out}, name + ".bias", source);
    }
  };
  need_tensor("model.embed_tokens.weight", {c.vocab_size, h});
  if (gpt2) need_tensor("model.embed_positions.weight", {c.max_positions, h});
  need_tensor("model.norm.weight", {h});
  if (gpt2) need_tensor("model.norm.bias", {h});
  for (int64_t i = 0; i < c.num_layers(); ++i) {
    const LayerDims& l = c.layers[static_cast<size_t>(i)];
    const std::string p = layer_prefix(i);
    for (const char* norm : {"input_layernorm", "post_attention_layernorm"}) {
      need_tensor(p + norm + ".weight", {h});
      if (gpt2) need_tensor(p + norm + ".bias", {h});
    }
    need_linear(p + "self_attn.q_proj", l.num_heads * hd, h, c.qkv_bias);
    need_linear(p + "self_attn.k_proj", l.num_kv_heads * hd, h, c.qkv_bias);
    need_linear(p + "self_attn.v_proj", l.num_kv_heads * hd, h, c.qkv_bias);
    need_linear(p + "self_attn.o_proj", h, l.num_heads * hd, c.o_bias);
    if (!gpt2) need_linear(p + "mlp.gate_proj", l.intermediate_size, h, c.mlp_bias);
    need_linear(p + "mlp.up_proj", l.intermediate_size, h, c.mlp_bias);
    need_linear(p + "mlp.down_proj", h, l.intermediate_size, c.mlp_bias);
  }
  need_linear("lm_head", c.vocab_size, h, false);

  // RoPE tables in the rotate-half layout: cos/sin = cat(freqs, freqs).
  if (!gpt2) {
    const std::vector<double> inv = rope_inverse_frequencies(c);
    const int64_t half = hd / 2;
    at::Tensor cos = at::empty({c.max_positions, hd}, at::kFloat);
    at::Tensor sin = at::empty({c.max_positions, hd}, at::kFloat);
    float* pc = cos.data_ptr<float>();
    float* ps = sin.data_ptr<float>();
    for (int64_t pos = 0; pos < c.max_positions; ++pos)
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos) * inv[static_cast<size_t>(i)];
        pc[pos * hd + i] = pc[pos * hd + i + half] = static_cast<float>(std::cos(angle));
        ps[pos * hd + i] = ps[pos * hd + i + half] = static_cast<float>(std::sin(angle));
      }
    rope_cos = cos;
    rope_sin = sin;
  }
}

void Model::to(at::ScalarType target) {
  SLMKIT_CHECK(target == at::kFloat || target == at::kBFloat16 || target == at::kHalf,
               "unsupported compute dtype ", c10::toString(target), " (use float32, bfloat16 or float16)");
  auto convert = [&](at::Tensor& t) {
    if (t.defined() && t.is_floating_point() && t.scalar_type() != target) t = t.to(target);
  };
  // Keep tied weights tied: convert the embedding once and alias the head to it.
  const at::Tensor embed_before = tensors.at("model.embed_tokens.weight");
  for (auto& [name, t] : tensors) convert(t);
  for (auto& [name, l] : linears) {
    if (auto* d = std::get_if<DenseWeights>(&l.weights)) {
      if (d->weight.is_same(embed_before)) d->weight = tensors.at("model.embed_tokens.weight");
      else convert(d->weight);
    } else if (auto* lr = std::get_if<LowRankWeights>(&l.weights)) {
      convert(lr->a);
      convert(lr->b);
    }
    convert(l.bias);
  }
  dtype = target;
}

int64_t Model::parameter_count() const {
  std::set<const void*> seen;
  int64_t n = 0;
  auto add = [&](const at::Tensor& t) {
    if (!t.defined()) return;
    if (seen.insert(t.data_ptr()).second) n += t.numel();
  };
  for (const auto& [name, t] : tensors) add(t);
  for (const auto& [name, l] : linears) {
    if (const auto* d = std::get_if<DenseWeights>(&l.weights)) add(d->weight);
    else n += l.parameter_count() - (l.bias.defined() ? l.bias.numel() : 0);
    add(l.bias);
  }
  return n;
}

int64_t Model::block_parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : tensors)
    if (name.rfind("model.layers.", 0) == 0) n += t.numel();
  for (const auto& [name, l] : linears)
    if (name.rfind("model.layers.", 0) == 0) n += l.parameter_count();
  return n;
}

}  // namespace slmkit
