// load_decoder_model: checkpoint tensors → DecoderModel. The names follow
// model/checkpoint.cpp (the LibTorch loader) so both read the same files; the
// checks are the runtime's own, with the same kind of messages.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <map>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/strings.h"
#include "model/raw_checkpoint.h"
#include "runtime/decoder_model.h"

namespace slmkit::runtime {
namespace {


bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Asks the kernel to drop the whole pages inside a tensor that was read once
// (GPTQ words, once repacked) from this process's resident set. Advisory and
// non-destructive: the bytes stay valid (a file page is re-read if touched).
void release_pages(const TensorView& v) {
#ifdef MADV_PAGEOUT
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t start = reinterpret_cast<uintptr_t>(v.data);
  const uintptr_t begin = (start + page - 1) / page * page, end = (start + v.nbytes()) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#endif
}

// A view whose bytes are a private copy (owner = the copy).
TensorView copy_view(const TensorView& v) {
  auto bytes = std::shared_ptr<uint8_t[]>(new uint8_t[v.nbytes()]);
  std::memcpy(bytes.get(), v.data, v.nbytes());
  TensorView c = v;
  c.data = bytes.get();
  c.owner = std::shared_ptr<const void>(bytes, bytes.get());
  return c;
}

class Loader {
 public:
  explicit Loader(const RawCheckpoint& raw) : raw_(raw), c_(raw.config) {}

  // A floating tensor of the given shape, as a view of the file (copied only when misaligned).
  TensorView dense_view(const std::string& name, const TensorView& v, const std::vector<int64_t>& shape) {
    SLMKIT_CHECK(is_float(v.dtype), source(), ": tensor ", name, " has dtype ", dtype_name(v.dtype),
                 ", expected a floating-point weight (F32, F16 or BF16)");
    SLMKIT_CHECK(v.shape == shape, source(), ": tensor ", name, " has shape ", shape_str(v.shape), ", expected ",
                 shape_str(shape), " from config.json");
    const bool aligned = reinterpret_cast<uintptr_t>(v.data) % dtype_size(v.dtype) == 0;
    return aligned ? v : copy_view(v);
  }

  // A floating tensor of `shape` converted to float32 (row-major).
  std::vector<float> floats(const std::string& name, const TensorView& v, const std::vector<int64_t>& shape) {
    const TensorView d = dense_view(name, v, shape);
    const int64_t n = d.numel();
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = d.data + i * static_cast<int64_t>(dtype_size(d.dtype));
      uint16_t h;
      float f;
      switch (d.dtype) {
        case DType::F32:
          std::memcpy(&f, p, 4);
          break;
        case DType::F16:
          std::memcpy(&h, p, 2);
          f = f16_to_f32(h);
          break;
        default:
          std::memcpy(&h, p, 2);
          f = bf16_to_f32(h);
      }
      out[static_cast<size_t>(i)] = f;
    }
    return out;
  }

  EmbeddingTable table(const std::string& name, const TensorView& v, int64_t rows, int64_t cols) {
    const TensorView d = dense_view(name, v, {rows, cols});
    EmbeddingTable t;
    t.rows = rows;
    t.cols = cols;
    t.dtype = d.dtype;
    t.data = d.data;
    t.owner = d.owner;
    return t;
  }

  // One linear from its tensors (suffix → view): dense .weight or GPTQ parts, + .bias.
  RuntimeLinear linear(const std::string& name, const std::map<std::string, TensorView>& parts, int64_t out,
                       int64_t in, bool bias) {
    RuntimeLinear l;
    const QuantSettings s = c_.quantization.settings_for(name);
    auto w = parts.find("weight");
    if (w != parts.end()) {
      SLMKIT_CHECK(!parts.count("qweight"), source(), ": linear ", name, " has both a dense ", name,
                   ".weight and GPTQ tensors");
      SLMKIT_CHECK(!s.quantized, source(), ": tensor ", name, ".weight is dense, but quantization_config says ", name,
                   " is ", s.bits, "-bit GPTQ; expected ", name, ".qweight/.qzeros/.scales/.g_idx");
      l.weight = pack_dense(dense_view(name + ".weight", w->second, {out, in}));
    } else {
      SLMKIT_CHECK(parts.count("qweight"), source(), ": missing weight ", name, ".weight");
      SLMKIT_CHECK(s.quantized, source(), ": GPTQ tensors for ", name, ", but quantization_config leaves ", name,
                   " unquantized", name == "lm_head" ? " (set \"lm_head\": true)" : "");
      for (const char* part : {"qzeros", "scales"})
        SLMKIT_CHECK(parts.count(part), source(), ": missing tensor ", name, ".", part, " (GPTQ linear ", name,
                     " needs qweight, qzeros, scales and g_idx)");
      auto g = parts.find("g_idx");
      l.weight = pack_gptq(parts.at("qweight"), parts.at("qzeros"), parts.at("scales"),
                           g == parts.end() ? nullptr : &g->second, s.bits, s.group_size);
      SLMKIT_CHECK(l.weight.out_features == out && l.weight.in_features == in, source(), ": ", name,
                   " (GPTQ) has [out, in] = [", l.weight.out_features, ", ", l.weight.in_features, "], expected [",
                   out, ", ", in, "] from config.json");
      for (const auto& [suffix, view] : parts)
        if (suffix != "bias") release_pages(view);  // repacked: the file's copy is not read again
    }
    auto b = parts.find("bias");
    if (bias) SLMKIT_CHECK(b != parts.end(), source(), ": missing ", name, ".bias (the config says this layer has a bias)");
    if (b != parts.end()) l.bias = floats(name + ".bias", b->second, {out});
    return l;
  }

  const std::string& source() const { return raw_.weights_path; }

  DecoderModel load_llama() {
    static const std::regex linear_re(
        R"((model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)|lm_head)\.(weight|bias|qweight|qzeros|scales|g_idx))");
    std::map<std::string, std::map<std::string, TensorView>> linears;
    std::map<std::string, TensorView> params;
    for (const auto& [name, view] : raw_.tensors.tensors) {
      if (ends_with(name, "rotary_emb.inv_freq")) continue;  // old checkpoints store the RoPE table
      std::smatch m;
      if (std::regex_match(name, m, linear_re)) linears[m[1]][m[4]] = view;
      else params[name] = view;
    }
    auto param = [&](const std::string& name) -> const TensorView& {
      auto it = params.find(name);
      SLMKIT_CHECK(it != params.end(), source(), ": missing tensor ", name);
      used_.insert(name);
      return it->second;
    };
    auto lin = [&](const std::string& name, int64_t out, int64_t in, bool bias) {
      auto it = linears.find(name);
      SLMKIT_CHECK(it != linears.end(), source(), ": missing weight ", name, ".weight");
      used_linears_.insert(name);
      return linear(name, it->second, out, in, bias);
    };

    DecoderModel m;
    const int64_t h = c_.hidden_size, hd = c_.head_dim;
    m.tokens = table("model.embed_tokens.weight", param("model.embed_tokens.weight"), c_.vocab_size, h);
    for (int64_t i = 0; i < c_.num_layers(); ++i) {
      const LayerDims& d = c_.layers[static_cast<size_t>(i)];
      const std::string p = cat("model.layers.", i, ".");
      LayerWeights l;
      l.attn_norm.weight = floats(p + "input_layernorm.weight", param(p + "input_layernorm.weight"), {h});
      l.mlp_norm.weight = floats(p + "post_attention_layernorm.weight", param(p + "post_attention_layernorm.weight"), {h});
      l.q = lin(p + "self_attn.q_proj", d.num_heads * hd, h, c_.qkv_bias);
      l.k = lin(p + "self_attn.k_proj", d.num_kv_heads * hd, h, c_.qkv_bias);
      l.v = lin(p + "self_attn.v_proj", d.num_kv_heads * hd, h, c_.qkv_bias);
      l.o = lin(p + "self_attn.o_proj", h, d.num_heads * hd, c_.o_bias);
      l.gate = lin(p + "mlp.gate_proj", d.intermediate_size, h, c_.mlp_bias);
      l.up = lin(p + "mlp.up_proj", d.intermediate_size, h, c_.mlp_bias);
      l.down = lin(p + "mlp.down_proj", h, d.intermediate_size, c_.mlp_bias);
      m.layers.push_back(std::move(l));
    }
    m.final_norm.weight = floats("model.norm.weight", param("model.norm.weight"), {h});
    if (linears.count("lm_head") && !c_.tie_word_embeddings) {
      m.lm_head = lin("lm_head", c_.vocab_size, h, false);
    } else {
      SLMKIT_CHECK(c_.tie_word_embeddings, source(),
                   ": missing lm_head.weight and tie_word_embeddings is false in config.json");
      if (linears.count("lm_head")) used_linears_.insert("lm_head");  // a stored copy of the tied table
      m.lm_head.weight = tied_head(m.tokens);
    }
    for (const auto& [name, view] : params)
      SLMKIT_CHECK(used_.count(name), source(), ": unexpected tensor \"", name, "\" for model_type ", c_.model_type,
                   " (a different architecture, or a quantized format this build cannot read)");
    for (const auto& [name, parts] : linears)
      SLMKIT_CHECK(used_linears_.count(name), source(), ": unexpected tensor \"", name, ".", parts.begin()->first,
                   "\" (no such layer in this config)");
    return m;
  }

  // GPT-2 stores Conv1D weights as [in, out] and fuses q/k/v into c_attn: the
  // runtime transposes them into [out, in] copies once.
  DecoderModel load_gpt2() {
    SLMKIT_CHECK(!c_.quantization.enabled(), source(), ": GPTQ-quantized GPT-2 checkpoints are not supported ",
                 "(this build reads GPTQ for llama, mistral and qwen2)");
    static const std::regex mask_re(R"(h\.\d+\.attn\.(masked_)?bias)");
    std::map<std::string, TensorView> t;
    for (const auto& [full, view] : raw_.tensors.tensors) {
      const std::string name = full.rfind("transformer.", 0) == 0 ? full.substr(12) : full;
      if (std::regex_match(name, mask_re) || name == "lm_head.weight") continue;  // mask buffers; the tied head
      t[name] = view;
    }
    auto get = [&](const std::string& name) -> const TensorView& {
      auto it = t.find(name);
      SLMKIT_CHECK(it != t.end(), source(), ": missing tensor ", name);
      used_.insert(name);
      return it->second;
    };
    const int64_t h = c_.hidden_size;
    // Conv1D [in, out_total] columns [col0, col0 + out) → dense [out, in] float32.
    auto conv1d = [&](const std::string& name, int64_t in, int64_t out_total, int64_t col0, int64_t out,
                      const std::string& bias_name) {
      const std::vector<float> w = floats(name, get(name), {in, out_total});
      std::vector<float> wt(static_cast<size_t>(out * in));
      for (int64_t i = 0; i < in; ++i)
        for (int64_t o = 0; o < out; ++o) wt[static_cast<size_t>(o * in + i)] = w[static_cast<size_t>(i * out_total + col0 + o)];
      RuntimeLinear l;
      l.weight = pack_dense(wt.data(), DType::F32, out, in);
      const std::vector<float> b = floats(bias_name, get(bias_name), {out_total});
      l.bias.assign(b.begin() + col0, b.begin() + col0 + out);
      return l;
    };
    auto norm = [&](const std::string& prefix) {
      NormWeights n;
      n.weight = floats(prefix + ".weight", get(prefix + ".weight"), {h});
      n.bias = floats(prefix + ".bias", get(prefix + ".bias"), {h});
      return n;
    };
    DecoderModel m;
    m.tokens = table("wte.weight", get("wte.weight"), c_.vocab_size, h);
    m.positions = table("wpe.weight", get("wpe.weight"), c_.max_positions, h);
    for (int64_t i = 0; i < c_.num_layers(); ++i) {
      const LayerDims& d = c_.layers[static_cast<size_t>(i)];
      const std::string p = cat("h.", i, ".");
      SLMKIT_CHECK(d.num_heads * c_.head_dim == h && d.num_kv_heads == d.num_heads, source(), ": layer ", i,
                   " of a GPT-2 model must keep n_embd = heads · head_dim (no pruned heads in GPT-2 checkpoints)");
      LayerWeights l;
      l.attn_norm = norm(p + "ln_1");
      l.mlp_norm = norm(p + "ln_2");
      l.q = conv1d(p + "attn.c_attn.weight", h, 3 * h, 0, h, p + "attn.c_attn.bias");
      l.k = conv1d(p + "attn.c_attn.weight", h, 3 * h, h, h, p + "attn.c_attn.bias");
      l.v = conv1d(p + "attn.c_attn.weight", h, 3 * h, 2 * h, h, p + "attn.c_attn.bias");
      l.o = conv1d(p + "attn.c_proj.weight", h, h, 0, h, p + "attn.c_proj.bias");
      l.up = conv1d(p + "mlp.c_fc.weight", h, d.intermediate_size, 0, d.intermediate_size, p + "mlp.c_fc.bias");
      l.down = conv1d(p + "mlp.c_proj.weight", d.intermediate_size, h, 0, h, p + "mlp.c_proj.bias");
      m.layers.push_back(std::move(l));
    }
    m.final_norm = norm("ln_f");
    m.lm_head.weight = tied_head(m.tokens);
    for (const auto& [name, view] : t)
      SLMKIT_CHECK(used_.count(name), source(), ": unexpected tensor \"", name, "\" for model_type gpt2");
    return m;
  }

 private:
  // The head shares the embedding table's bytes (one copy in memory).
  static PackedLinear tied_head(const EmbeddingTable& e) {
    TensorView v;
    v.dtype = e.dtype;
    v.shape = {e.rows, e.cols};
    v.data = e.data;
    v.owner = e.owner;
    return pack_dense(v);
  }

  const RawCheckpoint& raw_;
  const ModelConfig& c_;
  std::set<std::string> used_, used_linears_;
};

}  // namespace

DecoderModel load_decoder_model(const std::string& path) {
  DecoderModel m;
  {
    // Scoped: once the DecoderModel is built the raw tensor list is released; the
    // mapping lives on while dense weights borrow from it.
    const RawCheckpoint raw = read_checkpoint(path);
    validate_config(raw.config, raw.weights_path);
    SLMKIT_CHECK(raw.config.low_rank.empty(), raw.weights_path, ": factorized linears (slmkit_low_rank in ",
                 "config.json) are not supported by the edge runtime; use the LibTorch engine (--engine torch)");
    Loader loader(raw);
    m = raw.config.arch == Arch::kGPT2 ? loader.load_gpt2() : loader.load_llama();
    m.config = raw.config;
    m.source = raw.weights_path;
    m.format = raw.format;
  }
#ifdef __GLIBC__
  // Repacking freed large temporaries that glibc keeps in its heap; hand them
  // back so the resident size is the model's, not the loader's high-water mark.
  malloc_trim(0);
#endif
  return m;
}

}  // namespace slmkit::runtime
