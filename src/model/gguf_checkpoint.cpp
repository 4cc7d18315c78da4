#include "model/gguf_checkpoint.h"

#include <cstring>
#include <fstream>

#include <ATen/Parallel.h>

#include "core/error.h"
#include "model/gguf_layout.h"

namespace slmkit {
namespace {

constexpr int64_t kBlock = 32;

// A key that holds one count or, for per-layer sizes, an array of them.
std::vector<int64_t> per_layer(const GgufFile& f, const std::string& key, int64_t n_layers) {
  const GgufValue& v = f.get(key);
  std::vector<int64_t> out;
  if (v.type() == GgufType::ARRAY) {
    SLMKIT_CHECK(static_cast<int64_t>(v.size()) == n_layers, f.path, ": ", key, " has ", v.size(),
                 " entries for ", n_layers, " layers");
    for (uint64_t i = 0; i < v.size(); ++i) out.push_back(v.element(i).as_int());
  } else {
    out.assign(static_cast<size_t>(n_layers), static_cast<int64_t>(f.get_uint(key)));
  }
  for (int64_t x : out) SLMKIT_CHECK(x >= 0, f.path, ": ", key, " has a negative entry ", x);
  return out;
}

// Float values of any codec type as float32 [rows, cols] (or [n] for 1-D).
at::Tensor dequantized(const GgufTensor& t, const std::string& file) {
  const GgmlTypeInfo& info = ggml_type_info(t.type);
  SLMKIT_CHECK(info.has_codec, file, ": tensor ", t.name, " has type ", info.name,
               ", which slmkit cannot decode (it reads f32, f16, bf16, q4_0, q4_1, q5_0, q8_0, q4_K, q6_K)");
  const std::vector<int64_t> shape = t.torch_shape();
  const int64_t cols = t.ne.empty() ? 1 : t.ne[0];
  const int64_t rows = cols > 0 ? t.numel() / cols : 0;
  const size_t row_bytes = ggml_row_bytes(t.type, cols);
  at::Tensor out = at::empty({rows, cols}, at::kFloat);
  float* y = out.data_ptr<float>();
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) dequantize_row(t.type, t.data + static_cast<size_t>(r) * row_bytes, cols, y + r * cols);
  });
  return out.view(shape);
}

// Q4_0 / Q8_0 rows as the symmetric 4-/8-bit group-32 grid they are.
IntegerWeights grid_of(const GgufTensor& t) {
  const int64_t cols = t.ne[0], rows = t.ne[1], blocks = cols / kBlock;
  const size_t row_bytes = ggml_row_bytes(t.type, cols);
  const bool q8 = t.type == GgmlType::Q8_0;
  IntegerWeights w;
  w.bits = q8 ? 8 : 4;
  w.group_size = kBlock;
  w.symmetric = true;
  w.codes = at::empty({rows, cols}, at::kInt);
  w.scales = at::empty({rows, blocks}, at::kFloat);
  w.zeros = at::full({rows, blocks}, q8 ? 128 : 8, at::kInt);
  w.g_idx = at::arange(cols, at::kInt).div(kBlock, "floor").to(at::kInt);
  int32_t* codes = w.codes.data_ptr<int32_t>();
  float* scales = w.scales.data_ptr<float>();
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int32_t* c = codes + r * cols;
      decode_row_exact(t.type, t.data + static_cast<size_t>(r) * row_bytes, cols, c, scales + r * blocks, nullptr);
      if (q8)
        for (int64_t i = 0; i < cols; ++i) c[i] += 128;  // Q8_0 stores q − 128
    }
  });
  return w;
}

IntegerWeights rows_from_rope(IntegerWeights w, int64_t heads, int64_t head_dim) {
  w.codes = rows_from_interleaved_rope(w.codes, heads, head_dim);
  w.scales = rows_from_interleaved_rope(w.scales, heads, head_dim);
  w.zeros = rows_from_interleaved_rope(w.zeros, heads, head_dim);
  return w;
}

class GgufModelBuilder {
 public:
  GgufModelBuilder(const GgufFile& f, at::ScalarType dtype) : f_(f), dtype_(dtype) {
    m_.config = config_from_gguf(f);
    m_.dtype = dtype;
    arch_ = *gguf_arch_from_name(f.get_string("general.architecture"));
  }

  Model build() {
    for (const GgufTensor& t : f_.tensors) add(t);
    fill_missing_biases();
    Linear& head = m_.linears["lm_head"];
    if (m_.config.tie_word_embeddings) head = make_dense_linear(m_.tensor("model.embed_tokens.weight"));
    m_.finalize(f_.path);
    return std::move(m_);
  }

 private:
  at::Tensor dense(const GgufTensor& t) const { return dequantized(t, f_.path).to(dtype_); }

  // Rows in interleaved RoPE order for layer `layer`'s q (heads) or k (kv heads), or 0.
  int64_t rope_heads(const std::string& canonical, int64_t layer) const {
    if (!gguf_interleaves_rope(arch_) || layer < 0) return 0;
    const LayerDims& d = m_.config.layers[static_cast<size_t>(layer)];
    if (canonical.find("self_attn.q_proj.") != std::string::npos) return d.num_heads;
    if (canonical.find("self_attn.k_proj.") != std::string::npos) return d.num_kv_heads;
    return 0;
  }

  static int64_t layer_of(const std::string& canonical) {
    const std::string prefix = "model.layers.";
    if (canonical.compare(0, prefix.size(), prefix) != 0) return -1;
    return std::stoll(canonical.substr(prefix.size()));
  }

  void add(const GgufTensor& t) {
    if (t.name == "rope_freqs.weight")
      throw Error(cat(f_.path, ": rope_freqs.weight (Llama-3 RoPE scaling) is not supported by slmkit's GGUF loader"));
    if (arch_ == GgufArch::kGpt2 && add_gpt2(t)) return;
    const std::optional<std::string> canonical = canonical_tensor_name(t.name);
    SLMKIT_CHECK(canonical.has_value(), f_.path, ": unexpected tensor \"", t.name, "\" for architecture ",
                 gguf_arch_name(arch_));
    const std::string& name = *canonical;
    const int64_t layer = layer_of(name);
    const int64_t heads = rope_heads(name, layer);
    const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    const std::string stem = name.substr(0, name.rfind('.'));
    const bool is_linear = stem.find("_proj") != std::string::npos || stem == "lm_head";
    if (!is_linear) {
      m_.tensors[name] = dense(t);
      return;
    }
    if (is_bias) {
      at::Tensor b = dense(t);
      m_.linears[stem].bias = heads > 0 ? rows_from_interleaved_rope(b, heads, m_.config.head_dim) : b;
      return;
    }
    SLMKIT_CHECK(t.ne.size() == 2, f_.path, ": linear weight ", t.name, " must be 2-D, found ", t.ne.size(), " dims");
    Linear& l = m_.linears[stem];
    if (t.type == GgmlType::Q4_0 || t.type == GgmlType::Q8_0) {
      IntegerWeights w = grid_of(t);
      if (heads > 0) w = rows_from_rope(std::move(w), heads, m_.config.head_dim);
      l.weights = pack_gptq(w);
    } else {
      at::Tensor w = dense(t);
      l.weights = DenseWeights{heads > 0 ? rows_from_interleaved_rope(w, heads, m_.config.head_dim) : w};
    }
  }

  // GPT-2's own names: position_embd, the fused attn_qkv, and the tied output.
  bool add_gpt2(const GgufTensor& t) {
    if (t.name == "position_embd.weight") {
      m_.tensors["model.embed_positions.weight"] = dense(t);
      return true;
    }
    if (t.name == "output.weight") return true;  // a copy of token_embd; the Model ties the head
    const std::string prefix = "blk.";
    const size_t dot = t.name.find('.', prefix.size());
    if (t.name.compare(0, prefix.size(), prefix) != 0 || dot == std::string::npos) return false;
    const std::string part = t.name.substr(dot + 1);
    if (part != "attn_qkv.weight" && part != "attn_qkv.bias") return false;
    const std::string p = Model::layer_prefix(std::stoll(t.name.substr(prefix.size(), dot - prefix.size())));
    const at::Tensor fused = dense(t);
    const int64_t h = m_.config.hidden_size;
    SLMKIT_CHECK(fused.size(0) == 3 * h, f_.path, ": ", t.name, " has ", fused.size(0), " rows, expected 3·", h);
    const char* names[3] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
    for (int i = 0; i < 3; ++i) {
      Linear& l = m_.linears[p + names[i]];
      at::Tensor piece = fused.narrow(0, i * h, h).contiguous();
      if (part == "attn_qkv.weight") l.weights = DenseWeights{piece};
      else l.bias = piece;
    }
    return true;
  }

  // llama/deci store only non-zero biases; the Model wants one per linear the config flags.
  void fill_missing_biases() {
    const ModelConfig& c = m_.config;
    for (int64_t i = 0; i < c.num_layers(); ++i) {
      const std::string p = Model::layer_prefix(i);
      auto fill = [&](const char* name, bool flag) {
        auto it = m_.linears.find(p + name);
        if (!flag || it == m_.linears.end() || it->second.bias.defined()) return;
        it->second.bias = at::zeros({it->second.out_features()}, dtype_);
      };
      for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}) fill(n, c.qkv_bias);
      fill("self_attn.o_proj", c.o_bias);
      for (const char* n : {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) fill(n, c.mlp_bias);
    }
  }

  const GgufFile& f_;
  at::ScalarType dtype_;
  GgufArch arch_ = GgufArch::kLlama;
  Model m_;
};

}  // namespace

bool looks_like_gguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

ModelConfig config_from_gguf(const GgufFile& f) {
  const std::string arch_name = f.get_string("general.architecture");
  const std::optional<GgufArch> arch = gguf_arch_from_name(arch_name);
  SLMKIT_CHECK(arch.has_value(), f.path, ": general.architecture \"", arch_name,
               "\" is not one slmkit can run (llama, deci, qwen2, gpt2)");
  const std::string a = arch_name + ".";
  ModelConfig c;
  c.arch = *arch == GgufArch::kGpt2 ? Arch::kGPT2 : Arch::kLlama;
  c.model_type = *arch == GgufArch::kGpt2 ? "gpt2" : *arch == GgufArch::kQwen2 ? "qwen2" : "llama";
  c.hidden_act = *arch == GgufArch::kGpt2 ? "gelu_new" : "silu";
  const int64_t n_layers = static_cast<int64_t>(f.get_uint(a + "block_count"));
  SLMKIT_CHECK(n_layers > 0 && n_layers <= 4096, f.path, ": ", a, "block_count = ", n_layers, " is not a layer count");
  c.hidden_size = static_cast<int64_t>(f.get_uint(a + "embedding_length"));
  c.max_positions = static_cast<int64_t>(f.get_uint(a + "context_length"));
  const std::vector<int64_t> ff = per_layer(f, a + "feed_forward_length", n_layers);
  const std::vector<int64_t> heads = per_layer(f, a + "attention.head_count", n_layers);
  const std::vector<int64_t> kv = f.find(a + "attention.head_count_kv") ? per_layer(f, a + "attention.head_count_kv", n_layers)
                                                                        : heads;
  for (int64_t i = 0; i < n_layers; ++i) c.layers.push_back({heads[static_cast<size_t>(i)], kv[static_cast<size_t>(i)], ff[static_cast<size_t>(i)]});
  SLMKIT_CHECK(heads[0] > 0, f.path, ": layer 0 has no attention heads (attention-free layers are not supported)");
  c.head_dim = f.find(a + "attention.key_length") ? static_cast<int64_t>(f.get_uint(a + "attention.key_length"))
                                                  : c.hidden_size / heads[0];
  if (f.find(a + "attention.value_length"))
    SLMKIT_CHECK(static_cast<int64_t>(f.get_uint(a + "attention.value_length")) == c.head_dim, f.path,
                 ": key and value head sizes differ, which slmkit's attention does not support");
  if (*arch == GgufArch::kGpt2) {
    c.norm_eps = f.get_float(a + "attention.layer_norm_epsilon");
  } else {
    c.norm_eps = f.get_float(a + "attention.layer_norm_rms_epsilon");
    c.rope_theta = f.find(a + "rope.freq_base") ? f.get_float(a + "rope.freq_base") : 10000.0;
    if (f.find(a + "rope.dimension_count"))
      SLMKIT_CHECK(static_cast<int64_t>(f.get_uint(a + "rope.dimension_count")) == c.head_dim, f.path, ": ", a,
                   "rope.dimension_count differs from the head size (partial RoPE is not supported)");
    if (f.find(a + "rope.scaling.type")) {
      const std::string type = f.get_string(a + "rope.scaling.type");
      SLMKIT_CHECK(type == "linear" || type == "none", f.path, ": RoPE scaling \"", type, "\" is not supported (linear)");
      if (type == "linear") {
        c.rope_scaling.type = "linear";
        c.rope_scaling.factor = f.get_float(a + "rope.scaling.factor");
      }
    }
  }
  const GgufTensor* embd = f.find_tensor("token_embd.weight");
  SLMKIT_CHECK(embd != nullptr && embd->ne.size() == 2, f.path, ": no 2-D token_embd.weight");
  c.vocab_size = embd->ne[1];
  c.tie_word_embeddings = *arch == GgufArch::kGpt2 || f.find_tensor("output.weight") == nullptr;
  auto any = [&](const char* part) {
    for (int64_t i = 0; i < n_layers; ++i)
      if (f.find_tensor("blk." + std::to_string(i) + "." + part)) return true;
    return false;
  };
  if (*arch == GgufArch::kGpt2) {
    c.qkv_bias = c.o_bias = c.mlp_bias = true;
  } else if (*arch == GgufArch::kQwen2) {
    c.qkv_bias = true;
  } else {
    // HF llama's attention_bias covers q, k, v and o together; slmkit's exporter leaves zero ones out.
    c.qkv_bias = c.o_bias = any("attn_q.bias") || any("attn_k.bias") || any("attn_v.bias") || any("attn_output.bias");
    c.mlp_bias = any("ffn_gate.bias") || any("ffn_up.bias") || any("ffn_down.bias");
  }
  if (f.find("tokenizer.ggml.bos_token_id")) c.bos_token_id = static_cast<int32_t>(f.get_uint("tokenizer.ggml.bos_token_id"));
  if (f.find("tokenizer.ggml.eos_token_id"))
    c.eos_token_ids = {static_cast<int32_t>(f.get_uint("tokenizer.ggml.eos_token_id"))};
  validate_config(c, f.path);
  return c;
}

Model load_gguf_model(const std::string& path, at::ScalarType dtype) {
  const GgufFile file = read_gguf(path);
  return GgufModelBuilder(file, dtype).build();
}

}  // namespace slmkit
