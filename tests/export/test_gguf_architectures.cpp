// GGUF export of the other architectures: Qwen2 (q/k/v biases, rotate-half RoPE
// kept as is), GPT-2 (fused attn_qkv, learned positions, LayerNorm biases, the
// output head written as llama.cpp's gpt2 graph requires) and an untied Llama head.
// Each file must load back to the same logits.
#include <gtest/gtest.h>

#include "export/gguf_encode.h"
#include "export_test_models.h"
#include "model/gguf_checkpoint.h"
#include "test_util.h"

namespace slmkit {
namespace {

ModelConfig base_config(const std::string& type) {
  ModelConfig c;
  c.model_type = type;
  c.arch = type == "gpt2" ? Arch::kGPT2 : Arch::kLlama;
  c.vocab_size = 64;
  c.hidden_size = 64;
  c.head_dim = 16;
  c.max_positions = 32;
  c.norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

GgufFile export_f32(const Model& m, std::string* path_out) {
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kF32;
  GgufExport out = export_gguf(m, test::tiny_vocab(64), cfg, {});
  *path_out = test::make_temp_dir() + "/m.gguf";
  write_gguf(*path_out, out.metadata, out.tensors);
  return read_gguf(*path_out);
}

at::Tensor as_stored(const GgufFile& f, const std::string& name) {
  const GgufTensor* t = f.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  return t->ne.size() == 1 ? decode_rows(t->data, t->type, 1, t->ne[0]).view({t->ne[0]})
                           : decode_rows(t->data, t->type, t->ne[1], t->ne[0]);
}

TEST(GgufArchitectures, Qwen2KeepsRotateHalfRowsAndItsBiases) {
  ModelConfig c = base_config("qwen2");
  c.layers = {{4, 2, 96}, {4, 2, 96}};
  c.qkv_bias = true;
  c.rope_theta = 1e6;
  const Model m = synthesize_model(c, 3);
  std::string path;
  const GgufFile f = export_f32(m, &path);
  EXPECT_EQ(f.get_string("general.architecture"), "qwen2");
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("qwen2.rope.freq_base")), 1e6f);
  EXPECT_TRUE(as_stored(f, "blk.0.attn_q.weight").equal(m.linear("model.layers.0.self_attn.q_proj").dense_weight()));
  EXPECT_TRUE(as_stored(f, "blk.1.attn_k.bias").equal(m.linear("model.layers.1.self_attn.k_proj").bias));
  EXPECT_EQ(f.find_tensor("blk.0.attn_output.bias"), nullptr);
  const Model back = load_gguf_model(path);
  EXPECT_EQ(back.config.model_type, "qwen2");
  EXPECT_TRUE(test::logits_of(back).equal(test::logits_of(m)));
}

TEST(GgufArchitectures, Gpt2FusesQkvAndWritesItsOutputHead) {
  ModelConfig c = base_config("gpt2");
  c.layers = {{4, 4, 256}, {4, 4, 256}};
  c.hidden_act = "gelu_new";
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  c.tie_word_embeddings = true;
  const Model m = synthesize_model(c, 4);
  std::string path;
  const GgufFile f = export_f32(m, &path);
  EXPECT_EQ(f.get_string("general.architecture"), "gpt2");
  EXPECT_EQ(f.get("gpt2.attention.layer_norm_epsilon").type(), GgufType::F32);
  EXPECT_EQ(f.find("gpt2.attention.head_count_kv"), nullptr);
  const std::string p = "model.layers.1.self_attn.";
  const at::Tensor qkv = at::cat({m.linear(p + "q_proj").dense_weight(), m.linear(p + "k_proj").dense_weight(),
                                  m.linear(p + "v_proj").dense_weight()});
  EXPECT_TRUE(as_stored(f, "blk.1.attn_qkv.weight").equal(qkv));
  EXPECT_EQ(as_stored(f, "blk.1.attn_qkv.bias").size(0), 3 * 64);
  EXPECT_TRUE(as_stored(f, "output.weight").equal(m.tensor("model.embed_tokens.weight")));
  EXPECT_TRUE(as_stored(f, "position_embd.weight").equal(m.tensor("model.embed_positions.weight")));
  EXPECT_NE(f.find_tensor("output_norm.bias"), nullptr);
  const Model back = load_gguf_model(path);
  EXPECT_EQ(back.config.arch, Arch::kGPT2);
  EXPECT_TRUE(test::logits_of(back).equal(test::logits_of(m)));
}

TEST(GgufArchitectures, UntiedLlamaHeadIsTheOutputTensor) {
  const Model m = test::tiny_llama({{4, 2, 96}}, 5, /*tied=*/false);
  std::string path;
  const GgufFile f = export_f32(m, &path);
  EXPECT_TRUE(as_stored(f, "output.weight").equal(m.linear("lm_head").dense_weight()));
  const Model back = load_gguf_model(path);
  EXPECT_FALSE(back.config.tie_word_embeddings);
  EXPECT_TRUE(test::logits_of(back).equal(test::logits_of(m)));
}

TEST(GgufArchitectures, PrunedQwen2IsRefusedWithTheReason) {
  ModelConfig c = base_config("qwen2");
  c.layers = {{4, 2, 96}, {4, 2, 64}};
  c.qkv_bias = true;
  const Model m = synthesize_model(c, 6);
  const std::string message =
      test::error_of([&] { export_gguf(m, test::tiny_vocab(64), GgufExportConfig{}, {}); });
  EXPECT_NE(message.find("qwen2 graph has one size for every layer"), std::string::npos) << message;
}

}  // namespace
}  // namespace slmkit
