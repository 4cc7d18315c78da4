#include "model/synthetic.h"

#include "core/error.h"

namespace slmkit {
namespace {

struct Preset {
  const char* name;
  int64_t hidden, layers, heads, kv_heads, head_dim, ffn, vocab, positions;
  bool tied;
};

// Shapes from the models' published config.json files.
constexpr Preset kPresets[] = {
    {"smollm2-135m", 576, 30, 9, 3, 64, 1536, 49152, 8192, true},
    {"tinyllama-1.1b", 2048, 22, 32, 4, 64, 5632, 32000, 2048, false},
    {"stories260k", 64, 5, 8, 4, 8, 172, 512, 512, true},
    {"mixed-en-13m", 256, 6, 4, 2, 64, 768, 32000, 256, true},
};

}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Preset& p : kPresets) n.push_back(p.name);
    return n;
  }();
  return names;
}

ModelConfig preset_config(const std::string& name) {
  for (const Preset& p : kPresets) {
    if (name != p.name) continue;
    ModelConfig c;
    c.model_type = "llama";
    c.arch = Arch::kLlama;
    c.vocab_size = p.vocab;
    c.hidden_size = p.hidden;
    c.head_dim = p.head_dim;
    c.max_positions = p.positions;
    c.layers.assign(static_cast<size_t>(p.layers), LayerDims{p.heads, p.kv_heads, p.ffn});
    c.norm_eps = 1e-5;
    c.tie_word_embeddings = p.tied;
    c.bos_token_id = 1;
    c.eos_token_ids = {2};
    return c;
  }
  std::string list;
  for (const auto& n : preset_names()) list += (list.empty() ? "" : ", ") + n;
  throw Error(cat("unknown model preset \"", name, "\" (known: ", list, ")"));
}

Model synthesize_model(const ModelConfig& config, uint64_t seed, at::ScalarType dtype) {
  validate_config(config, "synthetic model");
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto randn = [&](std::vector<int64_t> shape) { return at::normal(0.0, 0.02, shape, gen).to(dtype); };
  auto ones = [&](int64_t n) { return at::ones({n}, dtype); };
  Model m;
  m.config = config;
  m.dtype = dtype;
  const int64_t h = config.hidden_size, hd = config.head_dim;
  const bool gpt2 = config.arch == Arch::kGPT2;
  m.tensors["model.embed_tokens.weight"] = randn({config.vocab_size, h});
  if (gpt2) m.tensors["model.embed_positions.weight"] = randn({config.max_positions, h});
  m.tensors["model.norm.weight"] = ones(h);
  if (gpt2) m.tensors["model.norm.bias"] = at::zeros({h}, dtype);
  for (int64_t i = 0; i < config.num_layers(); ++i) {
    const LayerDims& l = config.layers[static_cast<size_t>(i)];
    const std::string p = Model::layer_prefix(i);
    for (const char* norm : {"input_layernorm", "post_attention_layernorm"}) {
      m.tensors[p + norm + ".weight"] = ones(h);
      if (gpt2) m.tensors[p + norm + ".bias"] = at::zeros({h}, dtype);
    }
    auto linear = [&](const std::string& name, int64_t out, int64_t in, bool bias) {
      m.linears[p + name] = make_dense_linear(randn({out, in}), bias ? randn({out}) : at::Tensor());
    };
    linear("self_attn.q_proj", l.num_heads * hd, h, config.qkv_bias);
    linear("self_attn.k_proj", l.num_kv_heads * hd, h, config.qkv_bias);
    linear("self_attn.v_proj", l.num_kv_heads * hd, h, config.qkv_bias);
    linear("self_attn.o_proj", h, l.num_heads * hd, config.o_bias);
    if (!gpt2) linear("mlp.gate_proj", l.intermediate_size, h, config.mlp_bias);
    linear("mlp.up_proj", l.intermediate_size, h, config.mlp_bias);
    linear("mlp.down_proj", h, l.intermediate_size, config.mlp_bias);
  }
  m.linears["lm_head"] = config.tie_word_embeddings || gpt2 ? make_dense_linear(m.tensors["model.embed_tokens.weight"])
                                                           : make_dense_linear(randn({config.vocab_size, h}));
  m.finalize("synthetic model");
  return m;
}

}  // namespace slmkit
