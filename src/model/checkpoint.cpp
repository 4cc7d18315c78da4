#include "model/checkpoint.h"

#include <filesystem>
#include <regex>

#include "core/error.h"
#include "core/strings.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "model/gguf_checkpoint.h"
#include "model/gptq_checkpoint.h"
#include "model/low_rank_checkpoint.h"
#include "model/tensor_adapter.h"

namespace slmkit {
namespace fs = std::filesystem;
namespace {


at::Tensor load_param(const TensorView& v, const std::string& name, at::ScalarType dtype) {
  at::Tensor t = to_torch(v, name);
  SLMKIT_CHECK(t.is_floating_point(), "tensor ", name, " has integer dtype ", dtype_name(v.dtype),
               "; expected a floating-point weight");
  return t.scalar_type() == dtype ? t : t.to(dtype);
}

void load_llama_family(Model& m, const TensorSet& set, const std::string& source) {
  static const std::regex linear_re(
      R"((model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)|lm_head)\.(weight|bias|qweight|qzeros|scales|g_idx|weight_a|weight_b))");
  static const std::regex norm_re(R"(model\.layers\.\d+\.(input|post_attention)_layernorm\.weight)");
  std::map<std::string, at::Tensor> biases;
  std::map<std::string, std::map<std::string, TensorView>> gptq_parts;  // linear → suffix → tensor
  std::map<std::string, std::map<std::string, TensorView>> low_rank_parts;
  for (const auto& [name, view] : set.tensors) {
    if (ends_with(name, "rotary_emb.inv_freq")) continue;  // old checkpoints store the RoPE table
    std::smatch mt;
    if (std::regex_match(name, mt, linear_re)) {
      const std::string base = mt[1], kind = mt[4];
      if (is_gptq_part(kind)) {
        gptq_parts[base][kind] = view;
        continue;
      }
      if (is_low_rank_part(kind)) {
        low_rank_parts[base][kind] = view;
        continue;
      }
      at::Tensor t = load_param(view, name, m.dtype);
      if (kind == "weight") m.linears[base].weights = DenseWeights{t};
      else biases[base] = t;
    } else if (name == "model.embed_tokens.weight" || name == "model.norm.weight" ||
               std::regex_match(name, norm_re)) {
      m.tensors[name] = load_param(view, name, m.dtype);
    } else {
      throw Error(cat(source, ": unexpected tensor \"", name, "\" for model_type ", m.config.model_type,
                      " (a different architecture, or a quantized format this build cannot read)"));
    }
  }
  load_gptq_linears(m, gptq_parts, source);
  load_low_rank_linears(m, low_rank_parts, source);
  for (auto& [base, b] : biases) {
    auto it = m.linears.find(base);
    SLMKIT_CHECK(it != m.linears.end(), source, ": bias ", base, ".bias has no matching weight");
    it->second.bias = b;
  }
}

// GPT-2 stores Conv1D weights as [in, out]: transpose to [out, in], split c_attn.
void load_gpt2(Model& m, const TensorSet& set, const std::string& source) {
  static const std::regex block_re(R"(h\.(\d+)\.(ln_1|ln_2|attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.(weight|bias))");
  static const std::regex mask_re(R"(h\.\d+\.attn\.(masked_)?bias)");
  const int64_t h = m.config.hidden_size;
  SLMKIT_CHECK(!m.config.quantization.enabled(), source, ": GPTQ-quantized GPT-2 checkpoints are not supported ",
               "(this build reads GPTQ for llama, mistral and qwen2)");
  for (const auto& [full, view] : set.tensors) {
    const std::string name = full.rfind("transformer.", 0) == 0 ? full.substr(12) : full;
    std::smatch mt;
    if (name == "wte.weight") {
      m.tensors["model.embed_tokens.weight"] = load_param(view, full, m.dtype);
    } else if (name == "wpe.weight") {
      m.tensors["model.embed_positions.weight"] = load_param(view, full, m.dtype);
    } else if (name == "ln_f.weight" || name == "ln_f.bias") {
      m.tensors[std::string("model.norm.") + (name == "ln_f.weight" ? "weight" : "bias")] =
          load_param(view, full, m.dtype);
    } else if (std::regex_match(name, mt, block_re)) {
      const std::string p = Model::layer_prefix(std::stoll(mt[1]));
      const std::string part = mt[2], kind = mt[3];
      at::Tensor t = load_param(view, full, m.dtype);
      if (part == "ln_1" || part == "ln_2") {
        m.tensors[p + (part == "ln_1" ? "input_layernorm." : "post_attention_layernorm.") + kind] = t;
        continue;
      }
      if (kind == "weight") {
        SLMKIT_CHECK(t.dim() == 2, source, ": ", full, " must be 2-D, found ", shape_str(t.sizes().vec()));
        t = t.t().contiguous();  // Conv1D [in, out] -> [out, in]
      }
      if (part == "attn.c_attn") {
        SLMKIT_CHECK(t.size(0) == 3 * h, source, ": ", full, " has ", t.size(0), " outputs, expected 3*n_embd = ", 3 * h);
        const char* names[3] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
        for (int i = 0; i < 3; ++i) {
          Linear& l = m.linears[p + names[i]];
          at::Tensor piece = t.narrow(0, i * h, h).contiguous();
          if (kind == "weight") l.weights = DenseWeights{piece};
          else l.bias = piece;
        }
        continue;
      }
      const std::string target = part == "attn.c_proj" ? "self_attn.o_proj" : part == "mlp.c_fc" ? "mlp.up_proj" : "mlp.down_proj";
      Linear& l = m.linears[p + target];
      if (kind == "weight") l.weights = DenseWeights{t};
      else l.bias = t;
    } else if (std::regex_match(name, mask_re) || name == "lm_head.weight") {
      continue;  // causal-mask buffers of old saves; the head is tied to wte
    } else {
      throw Error(cat(source, ": unexpected tensor \"", full, "\" for model_type gpt2"));
    }
  }
}

}  // namespace

Model model_from_hf_tensors(const ModelConfig& config, const TensorSet& tensors, at::ScalarType dtype,
                            const std::string& source) {
  Model m;
  m.config = config;
  m.dtype = dtype;
  if (config.arch == Arch::kGPT2) load_gpt2(m, tensors, source);
  else load_llama_family(m, tensors, source);
  auto embed = m.tensors.find("model.embed_tokens.weight");
  SLMKIT_CHECK(embed != m.tensors.end(), source, ": missing tensor model.embed_tokens.weight");
  if (config.tie_word_embeddings || config.arch == Arch::kGPT2) {
    m.linears["lm_head"] = make_dense_linear(embed->second);
  } else {
    SLMKIT_CHECK(m.linears.count("lm_head"), source,
                 ": missing lm_head.weight and tie_word_embeddings is false in config.json");
  }
  // Linears that got a bias but no weight would have an empty weight.
  for (const auto& [name, l] : m.linears)
    SLMKIT_CHECK(l.has_weight(), source, ": missing weight ", name, ".weight");
  m.finalize(source);
  return m;
}

Model load_model(const std::string& path, const LoadOptions& options) {
  if (!fs::is_directory(path) && looks_like_gguf(path)) return load_gguf_model(path, options.dtype);
  const RawCheckpoint raw = read_checkpoint(path);
  return model_from_hf_tensors(raw.config, raw.tensors, options.dtype, raw.weights_path);
}

std::map<std::string, at::Tensor> hf_state_dict(const Model& m) {
  std::map<std::string, at::Tensor> out;
  const ModelConfig& c = m.config;
  if (c.arch == Arch::kGPT2) {
    for (const auto& [name, l] : m.linears)
      SLMKIT_CHECK(l.is_dense(), "linear ", name, " is ", l.is_quantized() ? "quantized" : "low-rank",
                   "; GPT-2 checkpoints fuse q/k/v into c_attn and this build writes quantized and low-rank ",
                   "linears for llama-family models only");
    out["wte.weight"] = m.tensor("model.embed_tokens.weight");
    out["wpe.weight"] = m.tensor("model.embed_positions.weight");
    out["ln_f.weight"] = m.tensor("model.norm.weight");
    out["ln_f.bias"] = m.tensor("model.norm.bias");
    for (int64_t i = 0; i < c.num_layers(); ++i) {
      const std::string p = Model::layer_prefix(i), g = "h." + std::to_string(i) + ".";
      for (const char* kind : {"weight", "bias"}) {
        out[g + "ln_1." + kind] = m.tensor(p + "input_layernorm." + kind);
        out[g + "ln_2." + kind] = m.tensor(p + "post_attention_layernorm." + kind);
      }
      auto w = [&](const char* n) { return m.linear(p + n).dense_weight(); };
      auto b = [&](const char* n) { return m.linear(p + n).bias; };
      out[g + "attn.c_attn.weight"] = at::cat({w("self_attn.q_proj"), w("self_attn.k_proj"), w("self_attn.v_proj")}).t().contiguous();
      out[g + "attn.c_attn.bias"] = at::cat({b("self_attn.q_proj"), b("self_attn.k_proj"), b("self_attn.v_proj")});
      out[g + "attn.c_proj.weight"] = w("self_attn.o_proj").t().contiguous();
      out[g + "attn.c_proj.bias"] = b("self_attn.o_proj");
      out[g + "mlp.c_fc.weight"] = w("mlp.up_proj").t().contiguous();
      out[g + "mlp.c_fc.bias"] = b("mlp.up_proj");
      out[g + "mlp.c_proj.weight"] = w("mlp.down_proj").t().contiguous();
      out[g + "mlp.c_proj.bias"] = b("mlp.down_proj");
    }
    return out;
  }
  for (const auto& [name, t] : m.tensors) out[name] = t;
  for (const auto& [name, l] : m.linears) {
    if (name == "lm_head" && c.tie_word_embeddings) {
      SLMKIT_CHECK(l.is_dense(), "lm_head is quantized but tie_word_embeddings is true: a tied head is stored as ",
                   "the embedding; untie it before saving it quantized");
      continue;
    }
    if (const auto* q = std::get_if<QuantizedWeights>(&l.weights)) add_gptq_tensors(name, *q, out);
    else if (const auto* lr = std::get_if<LowRankWeights>(&l.weights)) add_low_rank_tensors(name, *lr, out);
    else out[name + ".weight"] = l.dense_weight();
    if (l.bias.defined()) out[name + ".bias"] = l.bias;
  }
  return out;
}

void save_model(const Model& model, const std::string& dir, const std::map<std::string, std::string>& metadata) {
  // quantization_config follows the linears as they are, whatever the pass that
  // changed them recorded; computed first so a model that cannot be saved writes nothing.
  for (const auto& [name, l] : model.linears)
    SLMKIT_CHECK(!l.adapter, "linear ", name, " has a LoRA adapter attached, which the checkpoint would silently ",
                 "drop; merge it into the weights first (slmkit merge) or save the adapter on its own");
  ModelConfig config = model.config;
  config.quantization = describe_quantization(model);
  config.low_rank = describe_low_rank(model);
  nlohmann::json cfg = to_hf_config(config);
  cfg["torch_dtype"] = model.dtype == at::kBFloat16 ? "bfloat16" : model.dtype == at::kHalf ? "float16" : "float32";
  std::map<std::string, TensorView> views;
  for (const auto& [name, t] : hf_state_dict(model)) views[name] = to_view(t);

  std::error_code ec;
  fs::create_directories(dir, ec);
  SLMKIT_CHECK(!ec, dir, ": cannot create output directory: ", ec.message());
  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");
  write_safetensors((fs::path(dir) / "model.safetensors").string(), views, meta);
  write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
}

}  // namespace slmkit
