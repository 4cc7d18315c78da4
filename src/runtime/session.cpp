#include "runtime/session.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "runtime/vector_ops.h"

namespace slmkit::runtime {
namespace {

int64_t resolve_capacity(const ModelConfig& c, int64_t requested) {
  SLMKIT_CHECK(requested >= 0, "session capacity must be >= 0, found ", requested);
  SLMKIT_CHECK(requested <= c.max_positions, "session capacity ", requested, " exceeds the model's ",
               c.max_positions, " positions (max_position_embeddings)");
  return requested > 0 ? requested : c.max_positions;
}

// x[i] += y[i] over rows·width values, rows in parallel.
void add_rows(float* x, const float* y, int64_t rows, int64_t width) {
#pragma omp parallel for if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) axpy(1.0f, y + r * width, x + r * width, width);
}

// gate ← silu(gate)·up over rows of `width`; a single row (decoding) is split
// across the team, prompt rows are handed out whole.
void silu_mul_rows(float* gate, const float* up, int64_t rows, int64_t width) {
  constexpr int64_t kBlock = 512;
  if (rows == 1) {
#pragma omp parallel for if (width >= 4 * kBlock)
    for (int64_t b = 0; b < width; b += kBlock) silu_mul(gate + b, up + b, std::min(kBlock, width - b));
    return;
  }
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) silu_mul(gate + r * width, up + r * width, width);
}

}  // namespace

Session::Session(const DecoderModel& model, const SessionOptions& options)
    : model_(model),
      cache_(model.config, resolve_capacity(model.config, options.capacity), options.kv_dtype),
      max_chunk_(std::max<int64_t>(1, std::min(options.max_chunk, cache_.capacity()))) {
  const ModelConfig& c = model.config;
  const int64_t h = c.hidden_size, hd = c.head_dim, cap = cache_.capacity();
  int64_t q_width = 0, kv_width = 0, inter = 0;
  for (const LayerDims& l : c.layers) {
    q_width = std::max(q_width, l.num_heads * hd);
    kv_width = std::max(kv_width, l.num_kv_heads * hd);
    inter = std::max(inter, l.intermediate_size);
  }
  auto rows = [&](int64_t width) { return std::vector<float>(static_cast<size_t>(max_chunk_ * width)); };
  x_ = rows(h);
  xn_ = rows(h);
  q_ = rows(q_width);
  k_ = rows(kv_width);
  v_ = rows(kv_width);
  att_ = rows(q_width);
  gate_ = rows(inter);
  up_ = rows(inter);
  proj_ = rows(h);
  logits_.assign(static_cast<size_t>(c.vocab_size), 0.0f);
  attention_scratch_ = AttentionScratch(omp_get_max_threads(), cap, hd);
  reserve_kernel_scratch(std::max({h, q_width, inter}), max_chunk_);

  if (c.arch != Arch::kGPT2) {  // RoPE tables as Model::finalize builds them: float64 angles, float32 values
    const std::vector<double> inv = rope_inverse_frequencies(c);
    const int64_t half = hd / 2;
    rope_cos_.resize(static_cast<size_t>(cap * half));
    rope_sin_.resize(static_cast<size_t>(cap * half));
    for (int64_t pos = 0; pos < cap; ++pos)
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos) * inv[static_cast<size_t>(i)];
        rope_cos_[static_cast<size_t>(pos * half + i)] = static_cast<float>(std::cos(angle));
        rope_sin_[static_cast<size_t>(pos * half + i)] = static_cast<float>(std::sin(angle));
      }
  }
}

int64_t Session::bytes() const {
  size_t floats = rope_cos_.size() + rope_sin_.size() + logits_.size();
  for (const auto* b : {&x_, &xn_, &q_, &k_, &v_, &att_, &gate_, &up_, &proj_}) floats += b->size();
  return cache_.bytes() + static_cast<int64_t>(floats * sizeof(float));
}

const float* Session::forward(const int32_t* tokens, int64_t n) {
  forward_all(tokens, n, nullptr);
  return logits_.data();
}

void Session::forward_all(const int32_t* tokens, int64_t n, float* all_logits) {
  SLMKIT_CHECK(n > 0, "forward needs at least one token");
  SLMKIT_CHECK(position() + n <= capacity(), "sequence of ", position() + n, " positions exceeds the session's ",
               capacity(), " (its KV cache capacity)");
  const int64_t vocab = model_.config.vocab_size;
  for (int64_t t = 0; t < n; ++t)
    SLMKIT_CHECK(tokens[t] >= 0 && tokens[t] < vocab, "token id out of range [0, ", vocab, "): found ", tokens[t]);
  for (int64_t done = 0; done < n; done += max_chunk_) {
    const int64_t m = std::min(max_chunk_, n - done);
    run_chunk(tokens + done, m, all_logits ? all_logits + done * vocab : nullptr);
  }
}

void Session::run_chunk(const int32_t* tokens, int64_t n, float* all_logits) {
  const ModelConfig& c = model_.config;
  const int64_t h = c.hidden_size, pos0 = position();
  for (int64_t t = 0; t < n; ++t) {
    model_.tokens.row(tokens[t], x_.data() + t * h);
    if (model_.positions.rows > 0) {
      model_.positions.row(pos0 + t, xn_.data());
      axpy(1.0f, xn_.data(), x_.data() + t * h, h);
    }
  }
  for (int64_t l = 0; l < c.num_layers(); ++l) {
    attention_block(l, n, pos0);
    mlp_block(l, n);
  }
  cache_.set_length(pos0 + n);
  if (all_logits != nullptr) {
    norm_rows(model_.final_norm, x_.data(), n, xn_.data());
    linear(model_.lm_head, xn_.data(), n, all_logits);
  } else {
    norm_rows(model_.final_norm, x_.data() + (n - 1) * h, 1, xn_.data());
    linear(model_.lm_head, xn_.data(), 1, logits_.data());
  }
}

void Session::attention_block(int64_t layer, int64_t n, int64_t pos0) {
  const ModelConfig& c = model_.config;
  const LayerWeights& w = model_.layers[static_cast<size_t>(layer)];
  const LayerDims& d = c.layers[static_cast<size_t>(layer)];
  const int64_t hd = c.head_dim, qw = d.num_heads * hd, kw = d.num_kv_heads * hd, half = hd / 2;
  norm_rows(w.attn_norm, x_.data(), n, xn_.data());
  if (n == 1) {  // decode: one parallel region, activations quantized once
    const MatvecTask tasks[3] = {{&w.q.weight, w.q.bias_or_null(), q_.data()},
                                 {&w.k.weight, w.k.bias_or_null(), k_.data()},
                                 {&w.v.weight, w.v.bias_or_null(), v_.data()}};
    matvec_fused(tasks, 3, xn_.data());
  } else {
    linear(w.q, xn_.data(), n, q_.data());
    linear(w.k, xn_.data(), n, k_.data());
    linear(w.v, xn_.data(), n, v_.data());
  }
  for (int64_t t = 0; t < n; ++t) {
    if (c.arch != Arch::kGPT2) {
      const float* cos = rope_cos_.data() + (pos0 + t) * half;
      const float* sin = rope_sin_.data() + (pos0 + t) * half;
      apply_rope(q_.data() + t * qw, d.num_heads, hd, cos, sin);
      apply_rope(k_.data() + t * kw, d.num_kv_heads, hd, cos, sin);
    }
    cache_.store(layer, pos0 + t, k_.data() + t * kw, v_.data() + t * kw);
  }
  const AttentionShape shape{d.num_heads, d.num_kv_heads, hd, c.sliding_window};
  attend(cache_, layer, shape, q_.data(), n, pos0, attention_scratch_, att_.data());
  linear(w.o, att_.data(), n, proj_.data());
  add_rows(x_.data(), proj_.data(), n, c.hidden_size);
}

void Session::mlp_block(int64_t layer, int64_t n) {
  const ModelConfig& c = model_.config;
  const LayerWeights& w = model_.layers[static_cast<size_t>(layer)];
  const int64_t inter = c.layers[static_cast<size_t>(layer)].intermediate_size;
  norm_rows(w.mlp_norm, x_.data(), n, xn_.data());
  if (c.arch == Arch::kGPT2) {
    linear(w.up, xn_.data(), n, gate_.data());
    const bool tanh = c.hidden_act == "gelu_new";
#pragma omp parallel for if (n > 1)
    for (int64_t t = 0; t < n; ++t) gelu(gate_.data() + t * inter, inter, tanh);
  } else {
    if (n == 1) {
      const MatvecTask tasks[2] = {{&w.gate.weight, w.gate.bias_or_null(), gate_.data()},
                                   {&w.up.weight, w.up.bias_or_null(), up_.data()}};
      matvec_fused(tasks, 2, xn_.data());
    } else {
      linear(w.gate, xn_.data(), n, gate_.data());
      linear(w.up, xn_.data(), n, up_.data());
    }
    silu_mul_rows(gate_.data(), up_.data(), n, inter);
  }
  linear(w.down, gate_.data(), n, proj_.data());
  add_rows(x_.data(), proj_.data(), n, c.hidden_size);
}

void Session::norm_rows(const NormWeights& w, const float* x, int64_t n, float* y) const {
  const ModelConfig& c = model_.config;
  const int64_t h = c.hidden_size;
#pragma omp parallel for if (n > 1)
  for (int64_t t = 0; t < n; ++t) {
    if (c.arch == Arch::kGPT2) layer_norm(x + t * h, w.weight.data(), w.bias.data(), h, c.norm_eps, y + t * h);
    else rms_norm(x + t * h, w.weight.data(), h, c.norm_eps, y + t * h);
  }
}

void Session::linear(const RuntimeLinear& l, const float* x, int64_t n, float* y) const {
  if (n == 1) matvec(l.weight, x, l.bias_or_null(), y);
  else matmul(l.weight, x, n, l.bias_or_null(), y);
}

}  // namespace slmkit::runtime
