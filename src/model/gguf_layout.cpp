#include "model/gguf_layout.h"

#include <array>
#include <utility>

#include "core/error.h"

namespace slmkit {
namespace {

// Canonical part inside a block ↔ llama.cpp's LLM_TENSOR names (llama-arch.cpp).
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kBlockParts = {{
    {"input_layernorm", "attn_norm"},
    {"post_attention_layernorm", "ffn_norm"},
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kGlobalParts = {{
    {"model.embed_tokens", "token_embd"},
    {"model.embed_positions", "position_embd"},
    {"model.norm", "output_norm"},
    {"lm_head", "output"},
}};

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Splits "<stem>.<suffix>" at the last dot; suffix must be weight or bias.
bool split_suffix(const std::string& name, std::string& stem, std::string& suffix) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  stem = name.substr(0, dot);
  suffix = name.substr(dot + 1);
  return suffix == "weight" || suffix == "bias";
}

// "<prefix><digits>.<rest>" → layer and rest; false if not of that form.
bool split_layer(const std::string& stem, std::string_view prefix, int64_t& layer, std::string& rest) {
  if (!starts_with(stem, prefix)) return false;
  size_t i = prefix.size(), digits = 0;
  while (i < stem.size() && stem[i] >= '0' && stem[i] <= '9' && digits < 9) ++i, ++digits;
  if (digits == 0 || i >= stem.size() || stem[i] != '.') return false;
  if (digits > 1 && stem[prefix.size()] == '0') return false;  // no leading zeros: one name per layer
  layer = std::stoll(stem.substr(prefix.size(), digits));
  rest = stem.substr(i + 1);
  return true;
}

}  // namespace

std::string_view gguf_arch_name(GgufArch arch) {
  switch (arch) {
    case GgufArch::kLlama: return "llama";
    case GgufArch::kDeci: return "deci";
    case GgufArch::kQwen2: return "qwen2";
    case GgufArch::kGpt2: return "gpt2";
  }
  return "unknown";
}

std::optional<GgufArch> gguf_arch_from_name(std::string_view name) {
  for (GgufArch a : {GgufArch::kLlama, GgufArch::kDeci, GgufArch::kQwen2, GgufArch::kGpt2})
    if (gguf_arch_name(a) == name) return a;
  return std::nullopt;
}

bool has_uniform_layers(const ModelConfig& c) {
  for (const LayerDims& l : c.layers)
    if (l.num_heads != c.layers[0].num_heads || l.num_kv_heads != c.layers[0].num_kv_heads ||
        l.intermediate_size != c.layers[0].intermediate_size)
      return false;
  return true;
}

GgufArch gguf_arch_for(const ModelConfig& c) {
  SLMKIT_CHECK(!c.layers.empty(), "model has no layers; nothing to write to GGUF");
  const bool uniform = has_uniform_layers(c);
  if (c.arch == Arch::kGPT2) {
    SLMKIT_CHECK(uniform, "GGUF export: llama.cpp's gpt2 graph has one size for every layer; this GPT-2 model ",
                 "has per-layer sizes (structurally pruned), which llama.cpp cannot load");
    return GgufArch::kGpt2;
  }
  if (c.model_type == "qwen2") {
    SLMKIT_CHECK(uniform, "GGUF export: llama.cpp's qwen2 graph has one size for every layer; this Qwen2 model ",
                 "has per-layer sizes (structurally pruned), which llama.cpp cannot load");
    SLMKIT_CHECK(c.layers[0].num_heads * c.head_dim == c.hidden_size, "GGUF export: llama.cpp's qwen2 needs ",
                 "heads·head_dim == hidden size; this model has ", c.layers[0].num_heads, "·", c.head_dim, " != ",
                 c.hidden_size);
    return GgufArch::kQwen2;
  }
  SLMKIT_CHECK(c.model_type == "llama" || c.model_type == "mistral", "GGUF export: model_type \"", c.model_type,
               "\" has no GGUF mapping in this build (supported: llama, mistral, qwen2, gpt2)");
  return uniform ? GgufArch::kLlama : GgufArch::kDeci;
}

std::optional<std::string> gguf_tensor_name(const std::string& canonical) {
  std::string stem, suffix, rest;
  if (!split_suffix(canonical, stem, suffix)) return std::nullopt;
  for (const auto& [from, to] : kGlobalParts)
    if (stem == from) return std::string(to) + "." + suffix;
  int64_t layer = 0;
  if (!split_layer(stem, "model.layers.", layer, rest)) return std::nullopt;
  for (const auto& [from, to] : kBlockParts)
    if (rest == from) return "blk." + std::to_string(layer) + "." + std::string(to) + "." + suffix;
  return std::nullopt;
}

std::optional<std::string> canonical_tensor_name(const std::string& gguf_name) {
  std::string stem, suffix, rest;
  if (!split_suffix(gguf_name, stem, suffix)) return std::nullopt;
  for (const auto& [to, from] : kGlobalParts)
    if (stem == from) return std::string(to) + "." + suffix;
  int64_t layer = 0;
  if (!split_layer(stem, "blk.", layer, rest)) return std::nullopt;
  for (const auto& [to, from] : kBlockParts)
    if (rest == from) return "model.layers." + std::to_string(layer) + "." + std::string(to) + "." + suffix;
  return std::nullopt;
}

std::vector<int64_t> interleaved_rope_order(int64_t n_heads, int64_t head_dim) {
  SLMKIT_CHECK(n_heads >= 0 && head_dim > 0 && head_dim % 2 == 0, "RoPE row order: head_dim must be even, found ",
               head_dim);
  std::vector<int64_t> order(static_cast<size_t>(n_heads * head_dim));
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) order[static_cast<size_t>(h * head_dim + 2 * i + j)] = h * head_dim + j * half + i;
  return order;
}

namespace {
at::Tensor order_tensor(int64_t n_heads, int64_t head_dim, bool inverse) {
  const std::vector<int64_t> order = interleaved_rope_order(n_heads, head_dim);
  std::vector<int64_t> index(order.size());
  for (size_t r = 0; r < order.size(); ++r) {
    if (inverse) index[static_cast<size_t>(order[r])] = static_cast<int64_t>(r);
    else index[r] = order[r];
  }
  return at::tensor(index, at::kLong);
}

at::Tensor permute(const at::Tensor& t, int64_t n_heads, int64_t head_dim, bool inverse) {
  SLMKIT_CHECK(t.dim() >= 1 && t.size(0) == n_heads * head_dim, "RoPE row order: tensor has ", t.size(0),
               " rows, expected heads·head_dim = ", n_heads, "·", head_dim);
  return t.index_select(0, order_tensor(n_heads, head_dim, inverse)).contiguous();
}
}  // namespace

at::Tensor rows_to_interleaved_rope(const at::Tensor& t, int64_t n_heads, int64_t head_dim) {
  return permute(t, n_heads, head_dim, false);
}

at::Tensor rows_from_interleaved_rope(const at::Tensor& t, int64_t n_heads, int64_t head_dim) {
  return permute(t, n_heads, head_dim, true);
}

}  // namespace slmkit
