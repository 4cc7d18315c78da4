#include "model/synthetic_checkpoint.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>

#include "io/safetensors.h"
#include "model/tensor_adapter.h"

namespace slmkit::test {
namespace {

using nlohmann::json;

json llama_family_base(const std::string& type) {
  return {{"model_type", type},
          {"vocab_size", 64},
          {"hidden_size", 32},
          {"intermediate_size", 48},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"max_position_embeddings", 64},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"hidden_act", "silu"},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"tie_word_embeddings", false},
          {"torch_dtype", "float32"}};
}

// Draws tensors from one seeded generator so every test sees fixed weights.
struct Draw {
  at::Generator gen;
  at::Tensor normal(std::vector<int64_t> shape, double scale) {
    return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)) * scale;
  }
  // Scaled so activations stay O(1) but attention is far from uniform.
  at::Tensor weight(int64_t rows, int64_t cols, int64_t fan_in) {
    return normal({rows, cols}, 1.5 / std::sqrt(static_cast<double>(fan_in)));
  }
  at::Tensor norm_weight(int64_t n) { return 1.0 + normal({n}, 0.2); }
};

}  // namespace

json gpt2_config_json() {
  return {{"model_type", "gpt2"}, {"vocab_size", 64},     {"n_embd", 32},
          {"n_layer", 2},         {"n_head", 4},          {"n_positions", 64},
          {"n_ctx", 64},          {"n_inner", nullptr},  // null means 4 * n_embd
          {"layer_norm_epsilon", 1e-5}, {"activation_function", "gelu_new"},
          {"bos_token_id", 50},   {"eos_token_id", 50}};
}

json qwen2_config_json() {
  json j = llama_family_base("qwen2");
  j["rope_theta"] = 1000000.0;
  // Real Qwen2 configs carry a sliding_window that is inactive unless
  // use_sliding_window is true; 4 would change the logits if it were applied.
  j["sliding_window"] = 4;
  j["use_sliding_window"] = false;
  return j;
}

json llama3_config_json() {
  json j = llama_family_base("llama");
  j["head_dim"] = 12;
  j["tie_word_embeddings"] = true;
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 32}};
  return j;
}

json mistral_config_json() {
  json j = llama_family_base("mistral");
  j["sliding_window"] = 5;
  return j;
}

json llama_bias_config_json() {
  json j = llama_family_base("llama");
  j["attention_bias"] = true;
  j["mlp_bias"] = true;
  return j;
}

std::map<std::string, at::Tensor> random_hf_tensors(const ModelConfig& c, uint64_t seed) {
  Draw d{at::detail::createCPUGenerator(seed)};
  std::map<std::string, at::Tensor> w;
  const int64_t h = c.hidden_size, hd = c.head_dim, v = c.vocab_size;
  if (c.arch == Arch::kGPT2) {
    w["wte.weight"] = d.normal({v, h}, 1.0);
    w["wpe.weight"] = d.normal({c.max_positions, h}, 0.5);
    w["ln_f.weight"] = d.norm_weight(h);
    w["ln_f.bias"] = d.normal({h}, 0.1);
    for (int64_t i = 0; i < c.num_layers(); ++i) {
      const std::string p = "h." + std::to_string(i) + ".";
      const int64_t ffn = c.layers[static_cast<size_t>(i)].intermediate_size;
      for (const char* ln : {"ln_1", "ln_2"}) {
        w[p + ln + ".weight"] = d.norm_weight(h);
        w[p + ln + ".bias"] = d.normal({h}, 0.1);
      }
      // Conv1D: weight [in, out].
      w[p + "attn.c_attn.weight"] = d.weight(h, 3 * h, h);
      w[p + "attn.c_attn.bias"] = d.normal({3 * h}, 0.3);
      w[p + "attn.c_proj.weight"] = d.weight(h, h, h);
      w[p + "attn.c_proj.bias"] = d.normal({h}, 0.1);
      w[p + "mlp.c_fc.weight"] = d.weight(h, ffn, h);
      w[p + "mlp.c_fc.bias"] = d.normal({ffn}, 0.1);
      w[p + "mlp.c_proj.weight"] = d.weight(ffn, h, ffn);
      w[p + "mlp.c_proj.bias"] = d.normal({h}, 0.1);
    }
    return w;
  }
  w["model.embed_tokens.weight"] = d.normal({v, h}, 1.0);
  w["model.norm.weight"] = d.norm_weight(h);
  if (!c.tie_word_embeddings) w["lm_head.weight"] = d.weight(v, h, h);
  for (int64_t i = 0; i < c.num_layers(); ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const LayerDims& l = c.layers[static_cast<size_t>(i)];
    const int64_t q = l.num_heads * hd, kv = l.num_kv_heads * hd, ffn = l.intermediate_size;
    w[p + "input_layernorm.weight"] = d.norm_weight(h);
    w[p + "post_attention_layernorm.weight"] = d.norm_weight(h);
    const std::pair<const char*, std::pair<int64_t, int64_t>> linears[] = {
        {"self_attn.q_proj", {q, h}},    {"self_attn.k_proj", {kv, h}}, {"self_attn.v_proj", {kv, h}},
        {"self_attn.o_proj", {h, q}},    {"mlp.gate_proj", {ffn, h}},   {"mlp.up_proj", {ffn, h}},
        {"mlp.down_proj", {h, ffn}}};
    for (const auto& [name, shape] : linears) {
      const std::string n = name;
      w[p + n + ".weight"] = d.weight(shape.first, shape.second, shape.second);
      const bool qkv = n == "self_attn.q_proj" || n == "self_attn.k_proj" || n == "self_attn.v_proj";
      const bool bias = qkv ? c.qkv_bias : n == "self_attn.o_proj" ? c.o_bias : c.mlp_bias;
      if (bias) w[p + n + ".bias"] = d.normal({shape.first}, 0.3);
    }
  }
  return w;
}

void write_hf_checkpoint(const std::string& dir, const json& config, const std::map<std::string, at::Tensor>& tensors,
                         const std::string& name_prefix, const std::map<std::string, at::Tensor>& extra) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump(2) << "\n";
  std::map<std::string, TensorView> views;
  for (const auto& [name, t] : tensors) views[name_prefix + name] = to_view(t.contiguous());
  for (const auto& [name, t] : extra) views[name] = to_view(t.contiguous());
  write_safetensors(dir + "/model.safetensors", views, {{"format", "pt"}});
}

}  // namespace slmkit::test
