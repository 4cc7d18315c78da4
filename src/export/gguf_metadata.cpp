#include "export/gguf_metadata.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace slmkit {
namespace {

uint32_t u32_of(int64_t v, const char* what) {
  SLMKIT_CHECK(v >= 0 && v <= std::numeric_limits<uint32_t>::max(), "GGUF export: ", what, " = ", v,
               " does not fit the u32 llama.cpp reads");
  return static_cast<uint32_t>(v);
}

// One value when every layer agrees (u32, as the converter writes it), else an
// i32 array with one entry per layer (what llama.cpp's get_key_or_arr accepts).
GgufValue per_layer(const ModelConfig& c, int64_t LayerDims::*field, const char* what) {
  bool same = true;
  for (const LayerDims& l : c.layers) same = same && l.*field == c.layers[0].*field;
  if (same) return GgufValue::u32(u32_of(c.layers[0].*field, what));
  std::vector<int32_t> values;
  for (const LayerDims& l : c.layers) {
    SLMKIT_CHECK(l.*field >= 0 && l.*field <= std::numeric_limits<int32_t>::max(), "GGUF export: ", what, " = ",
                 l.*field, " does not fit an i32 array element");
    values.push_back(static_cast<int32_t>(l.*field));
  }
  return GgufValue::i32_array(values);
}

}  // namespace

std::vector<GgufKeyValue> model_metadata(const ModelConfig& c, GgufArch arch, GgufFileType file_type,
                                         const std::string& name) {
  const std::string a(gguf_arch_name(arch));
  std::vector<GgufKeyValue> md;
  auto add = [&](const std::string& key, GgufValue v) { md.push_back({key, std::move(v)}); };
  add("general.architecture", GgufValue::string(a));
  add("general.type", GgufValue::string("model"));
  if (!name.empty()) add("general.name", GgufValue::string(name));
  add(a + ".block_count", GgufValue::u32(u32_of(c.num_layers(), "block_count")));
  add(a + ".context_length", GgufValue::u32(u32_of(c.max_positions, "context_length")));
  add(a + ".embedding_length", GgufValue::u32(u32_of(c.hidden_size, "embedding_length")));
  add(a + ".feed_forward_length", per_layer(c, &LayerDims::intermediate_size, "feed_forward_length"));
  add(a + ".attention.head_count", per_layer(c, &LayerDims::num_heads, "attention.head_count"));
  if (arch == GgufArch::kGpt2) {
    add(a + ".attention.layer_norm_epsilon", GgufValue::f32(static_cast<float>(c.norm_eps)));
  } else {
    add(a + ".attention.head_count_kv", per_layer(c, &LayerDims::num_kv_heads, "attention.head_count_kv"));
    add(a + ".rope.freq_base", GgufValue::f32(static_cast<float>(c.rope_theta)));
    add(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(c.norm_eps)));
    // llama.cpp derives head_dim from layer 0 (n_embd / n_head) unless told: say it
    // whenever that would be wrong, and always for per-layer head counts.
    const bool derived_ok = arch != GgufArch::kDeci && c.layers[0].num_heads > 0 &&
                            c.hidden_size == c.layers[0].num_heads * c.head_dim;
    if (!derived_ok) {
      add(a + ".attention.key_length", GgufValue::u32(u32_of(c.head_dim, "attention.key_length")));
      add(a + ".attention.value_length", GgufValue::u32(u32_of(c.head_dim, "attention.value_length")));
    }
    add(a + ".vocab_size", GgufValue::u32(u32_of(c.vocab_size, "vocab_size")));
    add(a + ".rope.dimension_count", GgufValue::u32(u32_of(c.head_dim, "rope.dimension_count")));
    if (c.rope_scaling.type == "linear") {
      add(a + ".rope.scaling.type", GgufValue::string("linear"));
      add(a + ".rope.scaling.factor", GgufValue::f32(static_cast<float>(c.rope_scaling.factor)));
    } else {
      SLMKIT_CHECK(c.rope_scaling.type.empty() || c.rope_scaling.type == "llama3", "GGUF export: RoPE scaling \"",
                   c.rope_scaling.type, "\" has no GGUF form in this build (supported: linear, llama3)");
    }
  }
  add("general.file_type", GgufValue::u32(llama_ftype_id(file_type)));
  return md;
}

at::Tensor llama3_rope_divisors(const ModelConfig& c) {
  if (c.rope_scaling.type != "llama3") return {};
  const RopeScaling& s = c.rope_scaling;
  const int64_t half = c.head_dim / 2;
  const double low_wavelen = s.original_max_positions / s.low_freq_factor;
  const double high_wavelen = s.original_max_positions / s.high_freq_factor;
  at::Tensor out = at::empty({half}, at::kFloat);
  float* p = out.data_ptr<float>();
  for (int64_t i = 0; i < half; ++i) {
    const double inv_freq = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
    const double wavelen = 2 * M_PI / inv_freq;
    double divisor = 1.0;
    if (wavelen > low_wavelen) {
      divisor = s.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (s.original_max_positions / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      divisor = 1.0 / ((1 - smooth) / s.factor + smooth);
    }
    p[i] = static_cast<float>(divisor);
  }
  return out;
}

}  // namespace slmkit
