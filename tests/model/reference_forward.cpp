#include "model/reference_forward.h"

#include <cmath>

namespace slmkit::test {
namespace {

at::Tensor get(const std::map<std::string, at::Tensor>& w, const std::string& name) {
  auto it = w.find(name);
  if (it == w.end()) throw std::runtime_error("reference forward: missing " + name);
  return it->second.to(at::kDouble);
}

at::Tensor maybe(const std::map<std::string, at::Tensor>& w, const std::string& name) {
  auto it = w.find(name);
  return it == w.end() ? at::Tensor() : it->second.to(at::kDouble);
}

at::Tensor lin(const at::Tensor& x, const at::Tensor& wt, const at::Tensor& b) {
  at::Tensor y = at::matmul(x, wt.t());
  return b.defined() ? y + b : y;
}

double inv_freq(const ModelConfig& c, int64_t i) {
  double f = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
  const auto& rs = c.rope_scaling;
  if (rs.type == "linear") return f / rs.factor;
  if (rs.type == "llama3") {
    const double wl = 2 * M_PI / f, orig = static_cast<double>(rs.original_max_positions);
    if (wl < orig / rs.high_freq_factor) return f;
    if (wl > orig / rs.low_freq_factor) return f / rs.factor;
    const double s = (orig / wl - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    return (1 - s) * f / rs.factor + s * f;
  }
  return f;
}

// Rotate-half RoPE on one head's vectors x [T, hd] (float64 angles).
at::Tensor rope(const ModelConfig& c, const at::Tensor& x) {
  const int64_t T = x.size(0), half = x.size(1) / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv[static_cast<size_t>(i)] = inv_freq(c, i);
  const at::Tensor angles = at::arange(T, at::kDouble).unsqueeze(1) * at::tensor(inv, at::kDouble).unsqueeze(0);
  const at::Tensor cs = at::cos(angles), sn = at::sin(angles);
  const at::Tensor x1 = x.narrow(1, 0, half), x2 = x.narrow(1, half, half);
  return at::cat({x1 * cs - x2 * sn, x2 * cs + x1 * sn}, 1);
}

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t window) {
  const int64_t T = q.size(0);
  at::Tensor scores = at::matmul(q, k.t()) / std::sqrt(static_cast<double>(q.size(1)));
  at::Tensor blocked = at::ones({T, T}, at::kBool).triu(1);
  if (window > 0) blocked = blocked.logical_or(at::ones({T, T}, at::kBool).tril(-window));
  return at::matmul(at::softmax(scores.masked_fill(blocked, -INFINITY), -1), v);
}

}  // namespace

at::Tensor reference_llama_logits(const ModelConfig& c, const std::map<std::string, at::Tensor>& w,
                                  const at::Tensor& tokens) {
  const int64_t hd = c.head_dim;
  at::Tensor x = get(w, "model.embed_tokens.weight").index_select(0, tokens);
  auto rms = [&](const at::Tensor& h, const at::Tensor& g) {
    return h / at::sqrt(h.pow(2).mean(-1, true) + c.norm_eps) * g;
  };
  for (int64_t l = 0; l < c.num_layers(); ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const LayerDims& d = c.layers[static_cast<size_t>(l)];
    const at::Tensor h = rms(x, get(w, p + "input_layernorm.weight"));
    const at::Tensor q = lin(h, get(w, p + "self_attn.q_proj.weight"), maybe(w, p + "self_attn.q_proj.bias"));
    const at::Tensor k = lin(h, get(w, p + "self_attn.k_proj.weight"), maybe(w, p + "self_attn.k_proj.bias"));
    const at::Tensor v = lin(h, get(w, p + "self_attn.v_proj.weight"), maybe(w, p + "self_attn.v_proj.bias"));
    std::vector<at::Tensor> heads;
    for (int64_t head = 0; head < d.num_heads; ++head) {
      const int64_t kv = head / (d.num_heads / d.num_kv_heads);  // HF repeat_kv
      heads.push_back(causal_attention(rope(c, q.narrow(1, head * hd, hd).contiguous()),
                                       rope(c, k.narrow(1, kv * hd, hd).contiguous()),
                                       v.narrow(1, kv * hd, hd), c.sliding_window));
    }
    x = x + lin(at::cat(heads, 1), get(w, p + "self_attn.o_proj.weight"), maybe(w, p + "self_attn.o_proj.bias"));
    const at::Tensor m = rms(x, get(w, p + "post_attention_layernorm.weight"));
    const at::Tensor gate = lin(m, get(w, p + "mlp.gate_proj.weight"), maybe(w, p + "mlp.gate_proj.bias"));
    const at::Tensor up = lin(m, get(w, p + "mlp.up_proj.weight"), maybe(w, p + "mlp.up_proj.bias"));
    x = x + lin(gate * at::sigmoid(gate) * up, get(w, p + "mlp.down_proj.weight"), maybe(w, p + "mlp.down_proj.bias"));
  }
  x = rms(x, get(w, "model.norm.weight"));
  const at::Tensor head = w.count("lm_head.weight") ? get(w, "lm_head.weight") : get(w, "model.embed_tokens.weight");
  return at::matmul(x, head.t());
}

at::Tensor reference_gpt2_logits(const ModelConfig& c, const std::map<std::string, at::Tensor>& w,
                                 const at::Tensor& tokens) {
  const int64_t T = tokens.size(0), H = c.hidden_size, hd = c.head_dim;
  at::Tensor x = get(w, "wte.weight").index_select(0, tokens) + get(w, "wpe.weight").narrow(0, 0, T);
  auto ln = [&](const at::Tensor& h, const std::string& n) {
    const at::Tensor mu = h.mean(-1, true);
    const at::Tensor var = (h - mu).pow(2).mean(-1, true);
    return (h - mu) / at::sqrt(var + c.norm_eps) * get(w, n + ".weight") + get(w, n + ".bias");
  };
  auto conv1d = [&](const at::Tensor& h, const std::string& n) {  // Conv1D: x @ W[in,out] + b
    return at::matmul(h, get(w, n + ".weight")) + get(w, n + ".bias");
  };
  for (int64_t l = 0; l < c.num_layers(); ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    const at::Tensor qkv = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn");
    std::vector<at::Tensor> heads;
    for (int64_t head = 0; head < c.layers[0].num_heads; ++head)
      heads.push_back(causal_attention(qkv.narrow(1, head * hd, hd), qkv.narrow(1, H + head * hd, hd),
                                       qkv.narrow(1, 2 * H + head * hd, hd), 0));
    x = x + conv1d(at::cat(heads, 1), p + "attn.c_proj");
    const at::Tensor u = conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc");
    const at::Tensor g = 0.5 * u * (1.0 + at::tanh(std::sqrt(2.0 / M_PI) * (u + 0.044715 * u.pow(3))));
    x = x + conv1d(g, p + "mlp.c_proj");
  }
  return at::matmul(ln(x, "ln_f"), get(w, "wte.weight").t());
}

}  // namespace slmkit::test
