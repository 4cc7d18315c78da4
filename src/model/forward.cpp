#include "model/forward.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace slmkit {
namespace {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  // Normalise in fp32 whatever the compute dtype (as transformers does).
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  return at::layer_norm(xf, {x.size(-1)}, weight.to(at::kFloat), bias.to(at::kFloat), eps).to(x.scalar_type());
}

at::Tensor norm(const Model& m, const std::string& prefix, const at::Tensor& x) {
  if (m.config.arch == Arch::kGPT2)
    return layer_norm(x, m.tensor(prefix + ".weight"), m.tensor(prefix + ".bias"), m.config.norm_eps);
  return rms_norm(x, m.tensor(prefix + ".weight"), m.config.norm_eps);
}

// x [B, heads, T, hd]; cos/sin [T, hd] in the rotate-half layout.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

// Additive mask [T, S] for queries at pos0..pos0+T-1 over keys 0..S-1: causal,
// and limited to the last `window` keys when a sliding window is set.
at::Tensor attention_mask(int64_t T, int64_t S, int64_t pos0, int64_t window, const at::TensorOptions& like) {
  const at::ScalarType dtype = like.dtype().toScalarType();
  const at::TensorOptions index = like.dtype(at::kLong);  // on the activations' device
  const at::Tensor q_pos = at::arange(pos0, pos0 + T, index).unsqueeze(1);
  const at::Tensor k_pos = at::arange(0, S, index).unsqueeze(0);
  at::Tensor blocked = k_pos > q_pos;
  if (window > 0) blocked = blocked.logical_or(k_pos <= q_pos - window);
  return at::zeros({T, S}, like.dtype(dtype)).masked_fill(blocked, -std::numeric_limits<float>::infinity());
}

at::Tensor run_linear(const Model& m, const std::string& name, const at::Tensor& x, const LinearTap* tap) {
  if (tap != nullptr && *tap) (*tap)(name, x);
  return m.linear(name).forward(x);
}

}  // namespace

at::Tensor attention_sublayer(const Model& m, int64_t layer, const at::Tensor& x, int64_t pos0, KVCache* cache,
                              const LinearTap* tap) {
  const ModelConfig& c = m.config;
  const LayerDims& dims = c.layers[static_cast<size_t>(layer)];
  const std::string p = Model::layer_prefix(layer) + "self_attn.";
  const int64_t B = x.size(0), T = x.size(1), hd = c.head_dim;
  const int64_t nh = dims.num_heads, nkv = dims.num_kv_heads, group = nh / nkv;

  at::Tensor q = run_linear(m, p + "q_proj", x, tap).view({B, T, nh, hd}).transpose(1, 2);
  at::Tensor k = run_linear(m, p + "k_proj", x, tap).view({B, T, nkv, hd}).transpose(1, 2);
  at::Tensor v = run_linear(m, p + "v_proj", x, tap).view({B, T, nkv, hd}).transpose(1, 2);
  if (c.arch != Arch::kGPT2) {
    SLMKIT_CHECK(pos0 + T <= c.max_positions, "sequence of ", pos0 + T, " positions exceeds the model's ",
                 c.max_positions, " (max_position_embeddings)");
    const at::Tensor cos = m.rope_cos.narrow(0, pos0, T).to(x.scalar_type());
    const at::Tensor sin = m.rope_sin.narrow(0, pos0, T).to(x.scalar_type());
    q = apply_rope(q, cos, sin);
    k = apply_rope(k, cos, sin);
  }
  if (cache != nullptr) {
    SLMKIT_CHECK(pos0 + T <= cache->capacity(), "KV cache holds ", cache->capacity(), " positions, ", pos0 + T,
                 " needed");
    SLMKIT_ASSERT(cache->batch() == B, "KV cache batch ", cache->batch(), " != input batch ", B);
    at::Tensor& kc = cache->k[static_cast<size_t>(layer)];
    at::Tensor& vc = cache->v[static_cast<size_t>(layer)];
    kc.narrow(2, pos0, T).copy_(k);
    vc.narrow(2, pos0, T).copy_(v);
    k = kc.narrow(2, 0, pos0 + T);
    v = vc.narrow(2, 0, pos0 + T);
  }
  const int64_t S = k.size(2);
  // Grouped-query attention without repeating K/V: the `group` query heads that
  // share one KV head are stacked along the query axis of that head, so one
  // batched product per KV head serves them all. Scale and mask are fused into
  // that product (baddbmm) to save passes over the score matrix.
  // Long prompts are processed in blocks of queries, each attending only to the
  // keys it can see (causal): the masked upper triangle is never computed, which
  // saves about 40% of the attention work at 512 tokens.
  const int64_t block = T >= 256 ? 128 : T;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const at::Tensor qg = q.reshape({B, nkv, group, T, hd});
  std::vector<at::Tensor> outs;
  for (int64_t t0 = 0; t0 < T; t0 += block) {
    const int64_t tb = std::min(block, T - t0), sb = std::min(S, pos0 + t0 + tb);
    const at::Tensor qb = qg.narrow(3, t0, tb).reshape({B * nkv, group * tb, hd});
    const at::Tensor kt = k.narrow(2, 0, sb).reshape({B * nkv, sb, hd}).transpose(1, 2);
    const at::Tensor mask = attention_mask(tb, sb, pos0 + t0, c.sliding_window, x.options()).repeat({group, 1});
    const at::Tensor scores = at::baddbmm(mask.unsqueeze(0), qb, kt, /*beta=*/1.0, /*alpha=*/scale);
    const at::Tensor probs = scores.softmax(-1, at::kFloat).to(x.scalar_type());
    outs.push_back(at::bmm(probs, v.narrow(2, 0, sb).reshape({B * nkv, sb, hd})).view({B, nh, tb, hd}));
  }
  const at::Tensor out = (outs.size() == 1 ? outs[0] : at::cat(outs, 2)).transpose(1, 2).reshape({B, T, nh * hd});
  return run_linear(m, p + "o_proj", out, tap);
}

at::Tensor mlp_sublayer(const Model& m, int64_t layer, const at::Tensor& x, const LinearTap* tap) {
  const std::string p = Model::layer_prefix(layer) + "mlp.";
  if (m.config.arch == Arch::kGPT2) {
    const char* approx = m.config.hidden_act == "gelu_new" ? "tanh" : "none";
    return run_linear(m, p + "down_proj", at::gelu(run_linear(m, p + "up_proj", x, tap), approx), tap);
  }
  const at::Tensor gate = at::silu(run_linear(m, p + "gate_proj", x, tap));
  return run_linear(m, p + "down_proj", gate.mul_(run_linear(m, p + "up_proj", x, tap)), tap);
}

at::Tensor block_norm(const Model& m, int64_t layer, bool before_attention, const at::Tensor& x) {
  return norm(m, Model::layer_prefix(layer) + (before_attention ? "input_layernorm" : "post_attention_layernorm"), x);
}

KVCache make_kv_cache(const Model& model, int64_t batch, int64_t capacity) {
  KVCache cache;
  const at::TensorOptions options =
      at::TensorOptions(model.dtype).device(model.tensor("model.embed_tokens.weight").device());
  for (const LayerDims& l : model.config.layers) {
    const std::vector<int64_t> shape = {batch, l.num_kv_heads, capacity, model.config.head_dim};
    cache.k.push_back(at::zeros(shape, options));
    cache.v.push_back(at::zeros(shape, options));
  }
  return cache;
}

at::Tensor embed(const Model& model, const at::Tensor& tokens, int64_t pos0) {
  const ModelConfig& c = model.config;
  SLMKIT_CHECK(tokens.dim() == 2, "tokens must be [batch, time], found ", tokens.dim(), " dims");
  const at::Tensor ids = tokens.to(at::kLong);
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    SLMKIT_CHECK(lo >= 0 && hi < c.vocab_size, "token id out of range [0, ", c.vocab_size, "): found ",
                 lo < 0 ? lo : hi);
  }
  at::Tensor h = at::embedding(model.tensor("model.embed_tokens.weight"), ids);
  if (c.arch == Arch::kGPT2) {
    const int64_t T = tokens.size(1);
    SLMKIT_CHECK(pos0 + T <= c.max_positions, "sequence of ", pos0 + T, " positions exceeds the model's ",
                 c.max_positions);
    h = h + model.tensor("model.embed_positions.weight").narrow(0, pos0, T);
  }
  return h;
}

at::Tensor decoder_layer(const Model& model, int64_t layer, const at::Tensor& hidden, int64_t pos0,
                         KVCache* cache, const LinearTap* tap) {
  const at::Tensor h =
      hidden + attention_sublayer(model, layer, block_norm(model, layer, true, hidden), pos0, cache, tap);
  return h + mlp_sublayer(model, layer, block_norm(model, layer, false, h), tap);
}

at::Tensor lm_logits(const Model& model, const at::Tensor& hidden) {
  return model.linear("lm_head").forward(norm(model, "model.norm", hidden)).to(at::kFloat);
}

at::Tensor forward(const Model& model, const at::Tensor& tokens, KVCache* cache) {
  const int64_t pos0 = cache != nullptr ? cache->length : 0;
  at::Tensor h = embed(model, tokens, pos0);
  for (int64_t l = 0; l < model.config.num_layers(); ++l) h = decoder_layer(model, l, h, pos0, cache);
  if (cache != nullptr) cache->length += tokens.size(1);
  return lm_logits(model, h);
}

}  // namespace slmkit
