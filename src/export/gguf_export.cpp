#include "export/gguf_export.h"

#include <cstring>

#include "core/error.h"
#include "export/gguf_encode.h"
#include "export/gguf_metadata.h"
#include "model/gguf_layout.h"

namespace slmkit {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }
bool takes_importance(GgmlType t) {
  return t == GgmlType::Q4_0 || t == GgmlType::Q4_1 || t == GgmlType::Q5_0 || t == GgmlType::Q4_K ||
         t == GgmlType::Q6_K;
}
bool is_k_quant(GgmlType t) { return ggml_type_info(t).block_size == 256; }

// One tensor of the output file, planned before anything is encoded.
struct Item {
  enum Kind { kVector, kEmbedding, kLinear, kFusedQkv } kind = kVector;
  std::string gguf_name;
  std::string source;     // canonical linear name (kLinear), layer prefix (kFusedQkv)
  int64_t layer = -1;
  int64_t rope_heads = 0;  // > 0: q/k rows to interleaved RoPE order, this many heads
  at::Tensor tensor;       // kVector / kEmbedding
};

std::string grid_note(const IntegerWeights& w, GgmlType type) {
  return cat("GPTQ ", w.bits, "-bit ", w.symmetric ? "sym" : "asym", " g", w.group_size, " -> ",
             ggml_type_name(type), " code for code");
}

IntegerWeights permute_grid_rows(IntegerWeights w, int64_t heads, int64_t head_dim) {
  w.codes = rows_to_interleaved_rope(w.codes, heads, head_dim);
  w.scales = rows_to_interleaved_rope(w.scales, heads, head_dim);
  w.zeros = rows_to_interleaved_rope(w.zeros, heads, head_dim);
  return w;
}

bool all_zero(const at::Tensor& t) { return !t.defined() || t.eq(0).all().item<bool>(); }

class Exporter {
 public:
  Exporter(const Model& m, const GgufExportConfig& cfg, const ImportanceMap& importance)
      : m_(m), c_(m.config), cfg_(cfg), importance_(importance), arch_(gguf_arch_for(m.config)) {}

  GgufArch arch() const { return arch_; }

  std::vector<Item> plan() {
    std::vector<Item> items;
    const bool tied = c_.tie_word_embeddings || c_.arch == Arch::kGPT2;
    has_output_ = !tied || arch_ == GgufArch::kGpt2;  // llama.cpp's gpt2 needs output.weight; the others reuse token_embd
    items.push_back(embedding("token_embd.weight", m_.tensor("model.embed_tokens.weight")));
    if (arch_ == GgufArch::kGpt2) items.push_back(vector_item("position_embd.weight", m_.tensor("model.embed_positions.weight")));
    if (const at::Tensor freqs = llama3_rope_divisors(c_); freqs.defined()) items.push_back(vector_item("rope_freqs.weight", freqs));
    for (int64_t i = 0; i < c_.num_layers(); ++i) plan_block(i, items);
    items.push_back(vector_item("output_norm.weight", m_.tensor("model.norm.weight")));
    if (arch_ == GgufArch::kGpt2) items.push_back(vector_item("output_norm.bias", m_.tensor("model.norm.bias")));
    if (has_output_) {
      if (tied) items.push_back(embedding("output.weight", m_.tensor("model.embed_tokens.weight")));
      else items.push_back(linear_item("output.weight", "lm_head", -1, 0));
    }
    SLMKIT_CHECK(all_zero(m_.linear("lm_head").bias), "GGUF export: lm_head has a bias, which llama.cpp's ",
                 gguf_arch_name(arch_), " graph does not apply");
    return items;
  }

  void encode(const Item& item, GgufExport& out) {
    GgufTensorReport r;
    r.name = item.gguf_name;
    std::vector<uint8_t> bytes;
    switch (item.kind) {
      case Item::kVector: {
        const at::Tensor t = item.tensor.to(at::kFloat).contiguous();
        r.shape = t.sizes().vec();
        r.type = GgmlType::F32;
        r.origin = TensorOrigin::kCopied;
        bytes.resize(static_cast<size_t>(t.numel()) * 4);
        std::memcpy(bytes.data(), t.data_ptr<float>(), bytes.size());
        break;
      }
      case Item::kEmbedding: {
        const at::Tensor w = item.tensor.to(at::kFloat);
        bytes = encode_float(w, item.gguf_name, -1, {}, /*from_grid=*/false, r);
        break;
      }
      case Item::kLinear: bytes = encode_linear(item, r); break;
      case Item::kFusedQkv: {
        const std::string& p = item.source;
        const at::Tensor w = at::cat({m_.linear(p + "self_attn.q_proj").dense_weight(),
                                      m_.linear(p + "self_attn.k_proj").dense_weight(),
                                      m_.linear(p + "self_attn.v_proj").dense_weight()})
                                 .to(at::kFloat);
        bytes = encode_float(w, item.gguf_name, item.layer, importance_for(p + "self_attn.q_proj"),
                             m_.linear(p + "self_attn.q_proj").is_quantized(), r);
        break;
      }
    }
    r.bytes = static_cast<int64_t>(bytes.size());
    GgufTensor t;
    t.name = item.gguf_name;
    t.type = r.type;
    t.ne.assign(r.shape.rbegin(), r.shape.rend());
    t.nbytes = bytes.size();
    out.tensors.push_back(t);
    out.storage.push_back(std::move(bytes));
    out.reports.push_back(r);
  }

 private:
  Item vector_item(std::string name, at::Tensor t, int64_t rope_heads = 0) {
    Item it;
    it.kind = Item::kVector;
    it.gguf_name = std::move(name);
    it.tensor = rope_heads > 0 ? rows_to_interleaved_rope(t, rope_heads, c_.head_dim) : std::move(t);
    return it;
  }
  Item embedding(std::string name, at::Tensor t) {
    Item it;
    it.kind = Item::kEmbedding;
    it.gguf_name = std::move(name);
    it.tensor = std::move(t);
    return it;
  }
  Item linear_item(std::string name, std::string linear, int64_t layer, int64_t rope_heads) {
    Item it;
    it.kind = Item::kLinear;
    it.gguf_name = std::move(name);
    it.source = std::move(linear);
    it.layer = layer;
    it.rope_heads = rope_heads;
    return it;
  }

  void plan_block(int64_t i, std::vector<Item>& items) {
    const std::string p = Model::layer_prefix(i), b = "blk." + std::to_string(i) + ".";
    const LayerDims& d = c_.layers[static_cast<size_t>(i)];
    const bool interleave = gguf_interleaves_rope(arch_);
    SLMKIT_CHECK(d.intermediate_size > 0, "GGUF export: layer ", i, " has no FFN channels left; llama.cpp cannot ",
                 "load a zero-width FFN");
    auto norm = [&](const char* canonical, const char* gguf) {
      items.push_back(vector_item(b + gguf + ".weight", m_.tensor(p + canonical + ".weight")));
      if (arch_ == GgufArch::kGpt2) items.push_back(vector_item(b + gguf + ".bias", m_.tensor(p + canonical + ".bias")));
    };
    // Biases: llama/deci read every one as optional, so all-zero ones (FLAP's
    // layout filler) are left out; qwen2 requires q/k/v and has no o/ffn bias; gpt2 requires all.
    auto bias = [&](const std::string& linear, const std::string& gguf, bool required, int64_t heads,
                    int64_t expected_rows) {
      const at::Tensor& t = m_.linear(linear).bias;
      if (!required && all_zero(t)) return;
      SLMKIT_CHECK(t.defined(), "GGUF export: ", linear, " has no bias but llama.cpp's ", gguf_arch_name(arch_),
                   " requires ", gguf);
      SLMKIT_CHECK(arch_ != GgufArch::kQwen2 || required, "GGUF export: ", linear, " has a non-zero bias (FLAP ",
                   "compensation?), which llama.cpp's qwen2 graph does not apply");
      SLMKIT_CHECK(expected_rows < 0 || t.size(0) == expected_rows, "GGUF export: ", linear, ".bias has ", t.size(0),
                   " values but llama.cpp's ", gguf_arch_name(arch_), " reads ", gguf, " with ", expected_rows,
                   " (its q bias has hidden-size rows); this pruned model's q bias cannot be stored");
      items.push_back(vector_item(gguf, t, heads));
    };
    const bool attention = d.num_heads > 0;
    SLMKIT_CHECK(attention || arch_ == GgufArch::kDeci, "GGUF export: layer ", i, " has no attention heads; only ",
                 "llama.cpp's deci architecture has attention-free layers");
    if (attention) {
      norm("input_layernorm", "attn_norm");
      if (arch_ == GgufArch::kGpt2) {
        Item it;
        it.kind = Item::kFusedQkv;
        it.gguf_name = b + "attn_qkv.weight";
        it.source = p;
        it.layer = i;
        items.push_back(it);
        items.push_back(vector_item(b + "attn_qkv.bias", at::cat({m_.linear(p + "self_attn.q_proj").bias,
                                                                   m_.linear(p + "self_attn.k_proj").bias,
                                                                   m_.linear(p + "self_attn.v_proj").bias})));
      } else {
        const int64_t q_heads = interleave ? d.num_heads : 0, k_heads = interleave ? d.num_kv_heads : 0;
        items.push_back(linear_item(b + "attn_q.weight", p + "self_attn.q_proj", i, q_heads));
        items.push_back(linear_item(b + "attn_k.weight", p + "self_attn.k_proj", i, k_heads));
        items.push_back(linear_item(b + "attn_v.weight", p + "self_attn.v_proj", i, 0));
        const bool qwen = arch_ == GgufArch::kQwen2;
        bias(p + "self_attn.q_proj", b + "attn_q.bias", qwen, q_heads, qwen ? -1 : c_.hidden_size);
        bias(p + "self_attn.k_proj", b + "attn_k.bias", qwen, k_heads, -1);
        bias(p + "self_attn.v_proj", b + "attn_v.bias", qwen, 0, -1);
      }
      items.push_back(linear_item(b + "attn_output.weight", p + "self_attn.o_proj", i, 0));
      bias(p + "self_attn.o_proj", b + "attn_output.bias", arch_ == GgufArch::kGpt2, 0, -1);
    } else {
      // deci's attention-free layer passes the residual through; a bias would be lost.
      SLMKIT_CHECK(all_zero(m_.linear(p + "self_attn.o_proj").bias), "GGUF export: layer ", i, " has no attention ",
                   "heads but a non-zero o_proj bias, which llama.cpp's attention-free layer drops");
    }
    norm("post_attention_layernorm", "ffn_norm");
    const bool gpt2 = arch_ == GgufArch::kGpt2;
    if (!gpt2) items.push_back(linear_item(b + "ffn_gate.weight", p + "mlp.gate_proj", i, 0));
    items.push_back(linear_item(b + "ffn_up.weight", p + "mlp.up_proj", i, 0));
    items.push_back(linear_item(b + "ffn_down.weight", p + "mlp.down_proj", i, 0));
    if (!gpt2) bias(p + "mlp.gate_proj", b + "ffn_gate.bias", false, 0, -1);
    bias(p + "mlp.up_proj", b + "ffn_up.bias", gpt2, 0, -1);
    bias(p + "mlp.down_proj", b + "ffn_down.bias", gpt2, 0, -1);
  }

  at::Tensor importance_for(const std::string& linear) const {
    auto it = importance_.find(linear);
    return it == importance_.end() ? at::Tensor() : it->second;
  }

  // The type llama-quantize would give this tensor, or the embedding override.
  GgmlType planned(const std::string& gguf_name, int64_t layer, int64_t cols) const {
    const bool embedding = gguf_name == "token_embd.weight" || gguf_name == "output.weight";
    if (embedding && cfg_.embedding_type) return *cfg_.embedding_type;
    TensorRole role{gguf_name, layer, c_.num_layers(), has_output_};
    return planned_tensor_type(cfg_.file_type, role, cols);
  }

  std::vector<uint8_t> encode_float(const at::Tensor& w, const std::string& gguf_name, int64_t layer,
                                    const at::Tensor& importance, bool from_grid, GgufTensorReport& r) {
    const int64_t cols = w.size(1);
    const GgmlType want = planned(gguf_name, layer, cols);
    r.type = fitting_type(want, cols);
    r.shape = w.sizes().vec();
    if (r.type != want) {
      r.fallback = true;
      r.note = cat("row length ", cols, " is not a multiple of ", ggml_type_info(want).block_size, " (",
                   ggml_type_name(want), "): ", ggml_type_name(r.type), " instead");
    }
    if (is_float_type(r.type)) {
      r.origin = r.type == GgmlType::F32 ? TensorOrigin::kCopied : TensorOrigin::kConverted;
    } else {
      r.origin = from_grid ? TensorOrigin::kRequantized : TensorOrigin::kQuantized;
      r.importance = importance.defined() && takes_importance(r.type);
    }
    return encode_rows(w, r.type, r.importance ? importance : at::Tensor());
  }

  std::vector<uint8_t> encode_linear(const Item& item, GgufTensorReport& r) {
    const Linear& l = m_.linear(item.source);
    std::string why_not;
    if (const auto* q = std::get_if<QuantizedWeights>(&l.weights)) {
      IntegerWeights w = unpack_gptq(*q);
      const bool k_mix = is_k_quant(base_ggml_type(cfg_.file_type));
      std::optional<GgmlType> fit;
      if (cfg_.requantize) why_not = "re-quantization was asked for";
      else if (k_mix) why_not = cat(gguf_file_type_name(cfg_.file_type), " uses 256-element K-quant blocks, no GPTQ grid fits them");
      else fit = exact_ggml_type(w, &why_not);
      if (fit) {
        r.note = grid_note(w, *fit);
        if (item.rope_heads > 0) w = permute_grid_rows(std::move(w), item.rope_heads, c_.head_dim);
        r.type = *fit;
        r.origin = TensorOrigin::kExact;
        r.shape = {w.out_features(), w.in_features()};
        return encode_grid_exact(w, *fit);
      }
    }
    at::Tensor w = l.dense_weight().to(at::kFloat);
    if (item.rope_heads > 0) w = rows_to_interleaved_rope(w, item.rope_heads, c_.head_dim);
    std::vector<uint8_t> bytes = encode_float(w, item.gguf_name, item.layer, importance_for(item.source),
                                              l.is_quantized(), r);
    if (!why_not.empty()) r.note = r.note.empty() ? why_not : why_not + "; " + r.note;
    return bytes;
  }

  const Model& m_;
  const ModelConfig& c_;
  const GgufExportConfig& cfg_;
  const ImportanceMap& importance_;
  GgufArch arch_;
  bool has_output_ = true;
};

}  // namespace

std::string_view tensor_origin_name(TensorOrigin o) {
  switch (o) {
    case TensorOrigin::kCopied: return "copied";
    case TensorOrigin::kConverted: return "converted";
    case TensorOrigin::kExact: return "exact";
    case TensorOrigin::kQuantized: return "quantized";
    case TensorOrigin::kRequantized: return "re-quantized";
  }
  return "unknown";
}

GgufExport export_gguf(const Model& model, GgufVocab vocab, const GgufExportConfig& config,
                       const ImportanceMap& importance, const GgufExportProgress& progress) {
  Exporter ex(model, config, importance);
  const std::vector<Item> items = ex.plan();
  GgufExport out;
  out.metadata = model_metadata(model.config, ex.arch(), config.file_type, config.name);
  pad_vocab(vocab, model.config.vocab_size);
  const int64_t total = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < total; ++i) {
    ex.encode(items[static_cast<size_t>(i)], out);
    if (progress) progress(out.reports.back(), i + 1, total);
  }
  bool quantized = false;
  for (const GgufTensor& t : out.tensors) quantized = quantized || !is_float_type(t.type);
  append_vocab_metadata(vocab, out.metadata);
  if (quantized) out.metadata.push_back({"general.quantization_version", GgufValue::u32(kQuantizationVersion)});
  for (size_t i = 0; i < out.tensors.size(); ++i) out.tensors[i].data = out.storage[i].data();
  return out;
}

}  // namespace slmkit
