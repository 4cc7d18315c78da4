// GGUF export: what llama.cpp reads (key types, tensor names, q/k RoPE order,
// per-layer arrays), exact transfer of GPTQ grids (tensor by tensor and through
// the GGUF loader's forward pass), re-quantization and fallbacks with their
// reports, and byte-exact round trips of the files written.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <random>

#include "core/dtype.h"
#include "export/gguf_encode.h"
#include "export_test_models.h"
#include "model/gguf_checkpoint.h"
#include "model/gguf_layout.h"
#include "test_util.h"

namespace slmkit {
namespace {

using test::error_of;

std::string export_to_file(const Model& m, const GgufExportConfig& cfg, const ImportanceMap& importance = {},
                           std::vector<GgufTensorReport>* reports = nullptr) {
  GgufExport out = export_gguf(m, test::tiny_vocab(static_cast<int>(m.config.vocab_size)), cfg, importance);
  const std::string path = test::make_temp_dir() + "/model.gguf";
  write_gguf(path, out.metadata, out.tensors);
  if (reports != nullptr) *reports = out.reports;
  return path;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const GgufTensorReport& report(const std::vector<GgufTensorReport>& reports, const std::string& name) {
  for (const GgufTensorReport& r : reports)
    if (r.name == name) return r;
  ADD_FAILURE() << "no report for " << name;
  return reports.front();
}

// The weight a GGUF tensor holds, as float32 [rows, cols] in Hugging Face row order.
at::Tensor stored_weight(const GgufFile& f, const std::string& gguf_name, int64_t rope_heads, int64_t head_dim) {
  const GgufTensor* t = f.find_tensor(gguf_name);
  EXPECT_NE(t, nullptr) << gguf_name;
  at::Tensor w = decode_rows(t->data, t->type, t->ne[1], t->ne[0]);
  return rope_heads > 0 ? rows_from_interleaved_rope(w, rope_heads, head_dim) : w;
}

struct LinearName {
  const char* canonical;
  const char* gguf;
};
constexpr LinearName kBlockLinears[] = {
    {"self_attn.q_proj", "attn_q"},   {"self_attn.k_proj", "attn_k"}, {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"}};

int64_t rope_heads_of(const Model& m, int64_t layer, const std::string& canonical) {
  const LayerDims& d = m.config.layers[static_cast<size_t>(layer)];
  return canonical == "self_attn.q_proj" ? d.num_heads : canonical == "self_attn.k_proj" ? d.num_kv_heads : 0;
}

// Every block linear of the file dequantizes to exactly the model's weight.
void expect_block_weights_exact(const Model& m, const std::string& path) {
  const GgufFile f = read_gguf(path);
  for (int64_t i = 0; i < m.config.num_layers(); ++i)
    for (const LinearName& n : kBlockLinears) {
      const at::Tensor stored = stored_weight(f, "blk." + std::to_string(i) + "." + n.gguf + ".weight",
                                              rope_heads_of(m, i, n.canonical), m.config.head_dim);
      EXPECT_TRUE(stored.equal(m.linear(Model::layer_prefix(i) + n.canonical).dense_weight()))
          << "layer " << i << " " << n.canonical;
    }
}

// ---------------------------------------------------------------- layout

TEST(GgufExportLayout, RopeRowOrderFollowsTheConverter) {
  // GGUF row h·hd + 2i + j holds HF row h·hd + j·hd/2 + i (convert_hf_to_gguf.py LlamaModel.permute).
  const std::vector<int64_t> order = interleaved_rope_order(2, 8);
  const std::vector<int64_t> expected = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
  EXPECT_EQ(order, expected);
  const at::Tensor w = at::randn({16, 3});
  EXPECT_TRUE(rows_from_interleaved_rope(rows_to_interleaved_rope(w, 2, 8), 2, 8).equal(w));
}

TEST(GgufExportLayout, InterleavedRopeOfPermutedRowsEqualsPermutedRotateHalf) {
  // RoPE_norm(P·q) == P·RoPE_neox(q): what makes the permuted file compute the same attention.
  const int64_t hd = 8, half = hd / 2;
  const at::Tensor q = at::randn({hd}, at::kDouble);
  const double pos = 5;
  auto theta = [&](int64_t i) { return pos * std::pow(10000.0, -2.0 * static_cast<double>(i) / hd); };
  at::Tensor neox = q.clone();  // rotate-half: pairs (i, i + hd/2)
  for (int64_t i = 0; i < half; ++i) {
    const double c = std::cos(theta(i)), s = std::sin(theta(i));
    neox[i] = q[i].item<double>() * c - q[i + half].item<double>() * s;
    neox[i + half] = q[i].item<double>() * s + q[i + half].item<double>() * c;
  }
  const at::Tensor pq = rows_to_interleaved_rope(q, 1, hd);
  at::Tensor norm = pq.clone();  // interleaved: pairs (2i, 2i + 1)
  for (int64_t i = 0; i < half; ++i) {
    const double c = std::cos(theta(i)), s = std::sin(theta(i));
    norm[2 * i] = pq[2 * i].item<double>() * c - pq[2 * i + 1].item<double>() * s;
    norm[2 * i + 1] = pq[2 * i].item<double>() * s + pq[2 * i + 1].item<double>() * c;
  }
  EXPECT_TRUE(at::allclose(norm, rows_to_interleaved_rope(neox, 1, hd), 0, 1e-12));
}

TEST(GgufExportLayout, TensorNamesMapBothWays) {
  EXPECT_EQ(gguf_tensor_name("model.layers.12.self_attn.q_proj.weight"), "blk.12.attn_q.weight");
  EXPECT_EQ(gguf_tensor_name("model.layers.0.mlp.down_proj.bias"), "blk.0.ffn_down.bias");
  EXPECT_EQ(gguf_tensor_name("model.embed_tokens.weight"), "token_embd.weight");
  EXPECT_EQ(gguf_tensor_name("lm_head.weight"), "output.weight");
  EXPECT_EQ(gguf_tensor_name("model.norm.weight"), "output_norm.weight");
  EXPECT_EQ(gguf_tensor_name("model.layers.1.input_layernorm.weight"), "blk.1.attn_norm.weight");
  EXPECT_EQ(canonical_tensor_name("blk.3.ffn_gate.weight"), "model.layers.3.mlp.gate_proj.weight");
  EXPECT_EQ(canonical_tensor_name("blk.03.ffn_gate.weight"), std::nullopt);  // one spelling per layer
  EXPECT_EQ(canonical_tensor_name("blk.3.ffn_gate_exps.weight"), std::nullopt);
}

// ---------------------------------------------------------------- dense models

TEST(GgufExportDense, F32FileLoadsBackToIdenticalLogits) {
  const Model m = test::tiny_llama();
  std::vector<GgufTensorReport> reports;
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kF32;
  const std::string path = export_to_file(m, cfg, {}, &reports);
  const Model back = load_gguf_model(path);
  EXPECT_EQ(back.config.layers.size(), 2u);
  EXPECT_TRUE(back.config.tie_word_embeddings);
  EXPECT_TRUE(test::logits_of(back).equal(test::logits_of(m)));
  for (const GgufTensorReport& r : reports) EXPECT_EQ(r.type, GgmlType::F32) << r.name;
}

TEST(GgufExportDense, MetadataHasTheKeyTypesLlamaCppRequires) {
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ8_0;
  cfg.name = "tiny";
  const GgufFile f = read_gguf(export_to_file(test::tiny_llama(), cfg));
  EXPECT_EQ(f.metadata.front().key, "general.architecture");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("general.name"), "tiny");
  for (const char* key : {"llama.block_count", "llama.context_length", "llama.embedding_length",
                          "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
                          "llama.rope.dimension_count", "llama.vocab_size", "general.file_type",
                          "general.quantization_version", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"})
    EXPECT_EQ(f.get(key).type(), GgufType::U32) << key;
  for (const char* key : {"llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"})
    EXPECT_EQ(f.get(key).type(), GgufType::F32) << key;
  EXPECT_EQ(f.get_uint("llama.attention.head_count"), 4u);
  EXPECT_EQ(f.get_uint("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(f.get_uint("general.file_type"), 7u);  // LLAMA_FTYPE_MOSTLY_Q8_0
  EXPECT_EQ(f.get_uint("general.quantization_version"), 2u);
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(f.get("tokenizer.ggml.token_type").element_type(), GgufType::I32);
  EXPECT_EQ(f.get("tokenizer.ggml.scores").element_type(), GgufType::F32);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.find("llama.attention.key_length"), nullptr);  // hidden = heads·head_dim: llama.cpp derives it
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);        // tied: llama.cpp reuses token_embd
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->ne, (std::vector<int64_t>{64, 64}));  // ggml order: [in, out]
  EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->ne, (std::vector<int64_t>{96, 64}));
}

TEST(GgufExportDense, FloatFileHasNoQuantizationVersion) {
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kF16;
  const GgufFile f = read_gguf(export_to_file(test::tiny_llama(), cfg));
  EXPECT_EQ(f.find("general.quantization_version"), nullptr);
  EXPECT_EQ(f.get_uint("general.file_type"), 1u);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->type, GgmlType::F16);
}

TEST(GgufExportDense, QkRowsAreStoredInterleaved) {
  const Model m = test::tiny_llama();
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kF32;
  const GgufFile f = read_gguf(export_to_file(m, cfg));
  const at::Tensor q = m.linear("model.layers.0.self_attn.q_proj").dense_weight();
  const at::Tensor stored = stored_weight(f, "blk.0.attn_q.weight", 0, 16);
  EXPECT_TRUE(stored[1].equal(q[8]));   // head 0: GGUF row 1 = HF row hd/2
  EXPECT_TRUE(stored[2].equal(q[1]));
  EXPECT_TRUE(stored[17].equal(q[24]));  // head 1
  const at::Tensor v = m.linear("model.layers.0.self_attn.v_proj").dense_weight();
  EXPECT_TRUE(stored_weight(f, "blk.0.attn_v.weight", 0, 16).equal(v));  // v keeps its order
}

TEST(GgufExportDense, WrittenFilesRoundTripByteForByte) {
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_K_M;
  const std::string path = export_to_file(test::tiny_llama({{4, 2, 256}, {4, 2, 256}}), cfg);
  const GgufFile f = read_gguf(path);
  const std::string copy = test::make_temp_dir() + "/copy.gguf";
  write_gguf(copy, f.metadata, f.tensors);
  EXPECT_EQ(file_bytes(copy), file_bytes(path));
}

// ---------------------------------------------------------------- exact transfer

TEST(GgufExportExact, Gptq4BitSymG32IsQ4_0CodeForCodeAndEvaluatesIdentically) {
  Model m = test::tiny_llama();
  test::quantize_blocks(m, QuantGrid{4, 32, true});
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_0;
  cfg.embedding_type = GgmlType::F32;  // the embedding is not quantized in the source either
  std::vector<GgufTensorReport> reports;
  const std::string path = export_to_file(m, cfg, {}, &reports);
  for (const GgufTensorReport& r : reports)
    if (r.shape.size() == 2 && r.name != "token_embd.weight") {
      EXPECT_EQ(r.origin, TensorOrigin::kExact) << r.name << ": " << r.note;
      EXPECT_EQ(r.type, GgmlType::Q4_0) << r.name;
    }
  expect_block_weights_exact(m, path);
  const Model back = load_gguf_model(path);
  EXPECT_TRUE(back.linear("model.layers.1.self_attn.k_proj").is_quantized());
  EXPECT_TRUE(test::logits_of(back).equal(test::logits_of(m)));
}

TEST(GgufExportExact, LargerGroupsRepeatTheirScalePerBlock) {
  for (int64_t group : {int64_t{64}, int64_t{0}}) {  // 0: one group per row
    Model m = test::tiny_llama();
    test::quantize_blocks(m, QuantGrid{4, group, true});
    GgufExportConfig cfg;
    cfg.file_type = GgufFileType::kQ4_0;
    std::vector<GgufTensorReport> reports;
    const std::string path = export_to_file(m, cfg, {}, &reports);
    EXPECT_EQ(report(reports, "blk.0.ffn_down.weight").origin, TensorOrigin::kExact) << group;
    expect_block_weights_exact(m, path);
  }
}

TEST(GgufExportExact, EightBitSymmetricIsQ8_0Exactly) {
  Model m = test::tiny_llama();
  test::quantize_blocks(m, QuantGrid{8, 32, true});
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_0;  // the grid decides: 8-bit stays 8-bit
  std::vector<GgufTensorReport> reports;
  const std::string path = export_to_file(m, cfg, {}, &reports);
  EXPECT_EQ(report(reports, "blk.1.attn_output.weight").type, GgmlType::Q8_0);
  expect_block_weights_exact(m, path);
}

TEST(GgufExportExact, AsymmetricIsQ4_1WithinOneFp16RoundingOfTheMinimum) {
  Model m = test::tiny_llama();
  test::quantize_blocks(m, QuantGrid{4, 32, false});
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_0;
  std::vector<GgufTensorReport> reports;
  const GgufFile f = read_gguf(export_to_file(m, cfg, {}, &reports));
  const std::string name = "model.layers.0.mlp.up_proj";
  EXPECT_EQ(report(reports, "blk.0.ffn_up.weight").type, GgmlType::Q4_1);
  const GgufTensor* t = f.find_tensor("blk.0.ffn_up.weight");
  const IntegerWeights src = unpack_gptq(std::get<QuantizedWeights>(m.linear(name).weights));
  const int64_t rows = t->ne[1], cols = t->ne[0];
  std::vector<int32_t> codes(static_cast<size_t>(cols));
  std::vector<float> d(static_cast<size_t>(cols / 32)), mins(d.size());
  const size_t row_bytes = ggml_row_bytes(GgmlType::Q4_1, cols);
  for (int64_t r = 0; r < rows; ++r) {
    decode_row_exact(GgmlType::Q4_1, t->data + r * row_bytes, cols, codes.data(), d.data(), mins.data());
    for (int64_t b = 0; b < cols / 32; ++b) {
      const float s = src.scales[r][b].item<float>();
      const float exact_min = -s * static_cast<float>(src.zeros[r][b].item<int32_t>());
      EXPECT_EQ(d[static_cast<size_t>(b)], s);
      EXPECT_EQ(mins[static_cast<size_t>(b)], f16_to_f32(f32_to_f16(exact_min)));  // one rounding, nothing else
      for (int64_t j = 0; j < 32; ++j)
        ASSERT_EQ(codes[static_cast<size_t>(b * 32 + j)], src.codes[r][b * 32 + j].item<int32_t>());
    }
  }
}

TEST(GgufExportExact, ActOrderIsRequantizedAndSaysWhy) {
  Model m = test::tiny_llama();
  test::quantize_blocks(m, QuantGrid{4, 32, true});
  Linear& l = m.linear("model.layers.0.self_attn.o_proj");
  IntegerWeights w = unpack_gptq(std::get<QuantizedWeights>(l.weights));
  w.g_idx = w.g_idx.flip(0).contiguous();  // a valid grid, but not contiguous groups
  l.weights = pack_gptq(w);
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_0;
  std::vector<GgufTensorReport> reports;
  export_to_file(m, cfg, {}, &reports);
  const GgufTensorReport& r = report(reports, "blk.0.attn_output.weight");
  EXPECT_EQ(r.origin, TensorOrigin::kRequantized);
  EXPECT_NE(r.note.find("not contiguous"), std::string::npos) << r.note;
  EXPECT_EQ(report(reports, "blk.0.attn_q.weight").origin, TensorOrigin::kExact);
}

TEST(GgufExportExact, KQuantMixAndRequantizeFlagRequantize) {
  Model m = test::tiny_llama({{4, 2, 256}, {4, 2, 256}});
  test::quantize_blocks(m, QuantGrid{4, 32, true});
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_K_M;
  std::vector<GgufTensorReport> reports;
  export_to_file(m, cfg, {}, &reports);
  EXPECT_EQ(report(reports, "blk.0.ffn_up.weight").origin, TensorOrigin::kRequantized);
  cfg.file_type = GgufFileType::kQ8_0;
  cfg.requantize = true;
  export_to_file(m, cfg, {}, &reports);
  EXPECT_EQ(report(reports, "blk.0.ffn_up.weight").origin, TensorOrigin::kRequantized);
  EXPECT_EQ(report(reports, "blk.0.ffn_up.weight").type, GgmlType::Q8_0);
}

// ---------------------------------------------------------------- type plan and fallbacks

TEST(GgufExportTypes, Q4KMixFollowsLlamaQuantize) {
  // use_more_bits over 8 layers: 0, 3, 6 and 7 get Q6_K for attn_v and ffn_down.
  for (int64_t layer = 0; layer < 8; ++layer) {
    const bool more = layer == 0 || layer == 3 || layer == 6 || layer == 7;
    const TensorRole v{"blk." + std::to_string(layer) + ".attn_v.weight", layer, 8, true};
    const TensorRole q{"blk." + std::to_string(layer) + ".attn_q.weight", layer, 8, true};
    EXPECT_EQ(planned_tensor_type(GgufFileType::kQ4_K_M, v, 4096), more ? GgmlType::Q6_K : GgmlType::Q4_K) << layer;
    EXPECT_EQ(planned_tensor_type(GgufFileType::kQ4_K_M, q, 4096), GgmlType::Q4_K) << layer;
  }
  EXPECT_EQ(planned_tensor_type(GgufFileType::kQ4_0, {"output.weight", -1, 8, true}, 4096), GgmlType::Q6_K);
  EXPECT_EQ(planned_tensor_type(GgufFileType::kQ4_0, {"token_embd.weight", -1, 8, false}, 4096), GgmlType::Q6_K);
  EXPECT_EQ(planned_tensor_type(GgufFileType::kQ4_0, {"token_embd.weight", -1, 8, true}, 4096), GgmlType::Q4_0);
  EXPECT_EQ(planned_tensor_type(GgufFileType::kQ4_0, {"token_embd.weight", -1, 8, false}, 64), GgmlType::Q8_0);
  EXPECT_EQ(planned_tensor_type(GgufFileType::kQ8_0, {"output.weight", -1, 8, true}, 4096), GgmlType::Q8_0);
  EXPECT_EQ(fitting_type(GgmlType::Q4_K, 96), GgmlType::Q5_0);
  EXPECT_EQ(fitting_type(GgmlType::Q6_K, 96), GgmlType::Q8_0);
  EXPECT_EQ(fitting_type(GgmlType::Q4_K, 172), GgmlType::F16);
  EXPECT_EQ(fitting_type(GgmlType::Q4_0, 172), GgmlType::F16);
}

TEST(GgufExportTypes, RowsThatDoNotFitFallBackAndAreReported) {
  const Model m = test::tiny_llama({{4, 2, 80}, {4, 2, 80}});  // ffn_down rows of 80
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_0;
  std::vector<GgufTensorReport> reports;
  export_to_file(m, cfg, {}, &reports);
  const GgufTensorReport& down = report(reports, "blk.0.ffn_down.weight");
  EXPECT_EQ(down.type, GgmlType::F16);
  EXPECT_TRUE(down.fallback);
  EXPECT_NE(down.note.find("row length 80"), std::string::npos) << down.note;
  EXPECT_FALSE(report(reports, "blk.0.ffn_up.weight").fallback);
  cfg.file_type = GgufFileType::kQ4_K_M;  // hidden 64: every K-quant row falls back to Q5_0
  export_to_file(m, cfg, {}, &reports);
  EXPECT_EQ(report(reports, "blk.0.ffn_up.weight").type, GgmlType::Q5_0);
  EXPECT_EQ(report(reports, "token_embd.weight").type, GgmlType::Q8_0);
}

TEST(GgufExportTypes, ImportanceChangesTheRequantizedBlocks) {
  const Model m = test::tiny_llama();
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_0;
  ImportanceMap importance;
  importance["model.layers.0.mlp.up_proj"] = at::rand({64}) * at::rand({64});
  std::vector<GgufTensorReport> with, without;
  const GgufFile a = read_gguf(export_to_file(m, cfg, importance, &with));
  const GgufFile b = read_gguf(export_to_file(m, cfg, {}, &without));
  EXPECT_TRUE(report(with, "blk.0.ffn_up.weight").importance);
  EXPECT_FALSE(report(with, "blk.0.ffn_gate.weight").importance);
  const GgufTensor* ta = a.find_tensor("blk.0.ffn_up.weight");
  const GgufTensor* tb = b.find_tensor("blk.0.ffn_up.weight");
  EXPECT_NE(std::string(reinterpret_cast<const char*>(ta->data), ta->nbytes),
            std::string(reinterpret_cast<const char*>(tb->data), tb->nbytes));
}

// ---------------------------------------------------------------- pruned models

TEST(GgufExportPruned, PerLayerSizesUseDeciArrays) {
  const Model m = test::tiny_llama({{4, 2, 96}, {2, 1, 64}});
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kF32;
  const std::string path = export_to_file(m, cfg);
  const GgufFile f = read_gguf(path);
  EXPECT_EQ(f.get_string("general.architecture"), "deci");
  const GgufValue& heads = f.get("deci.attention.head_count");
  ASSERT_EQ(heads.type(), GgufType::ARRAY);
  EXPECT_EQ(heads.element_type(), GgufType::I32);
  EXPECT_EQ(heads.element(1).as_int(), 2);
  EXPECT_EQ(f.get("deci.attention.head_count_kv").element(1).as_int(), 1);
  EXPECT_EQ(f.get("deci.feed_forward_length").element(0).as_int(), 96);
  EXPECT_EQ(f.get_uint("deci.attention.key_length"), 16u);  // layer 0's hidden/heads would not say it
  const Model back = load_gguf_model(path);
  EXPECT_EQ(back.config.layers[1].num_kv_heads, 1);
  EXPECT_TRUE(test::logits_of(back).equal(test::logits_of(m)));
}

TEST(GgufExportPruned, CompensationBiasesAreWrittenAndZeroOnesLeftOut) {
  Model m = test::tiny_llama({{4, 2, 96}, {2, 1, 64}});
  m.config.qkv_bias = m.config.o_bias = m.config.mlp_bias = true;
  for (auto& [name, l] : m.linears)
    if (name != "lm_head") l.bias = at::zeros({l.out_features()});
  m.linear("model.layers.1.self_attn.o_proj").bias = at::randn({64});   // FLAP's compensation
  m.linear("model.layers.1.mlp.down_proj").bias = at::randn({64});
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kF32;
  const std::string path = export_to_file(m, cfg);
  const GgufFile f = read_gguf(path);
  EXPECT_NE(f.find_tensor("blk.1.attn_output.bias"), nullptr);
  EXPECT_NE(f.find_tensor("blk.1.ffn_down.bias"), nullptr);
  EXPECT_EQ(f.find_tensor("blk.0.attn_output.bias"), nullptr);
  EXPECT_EQ(f.find_tensor("blk.1.attn_q.bias"), nullptr);
  const Model back = load_gguf_model(path);
  EXPECT_TRUE(test::logits_of(back).equal(test::logits_of(m)));
}

// ---------------------------------------------------------------- bad input

TEST(GgufExportErrors, TokenizerLargerThanTheEmbeddingIsRefused) {
  const Model m = test::tiny_llama();
  const std::string message = error_of([&] { export_gguf(m, test::tiny_vocab(65), GgufExportConfig{}, {}); });
  EXPECT_NE(message.find("65 tokens"), std::string::npos) << message;
}

TEST(GgufExportErrors, CorruptedExportsGetSpecificErrors) {
  GgufExportConfig cfg;
  cfg.file_type = GgufFileType::kQ4_0;
  const std::string path = export_to_file(test::tiny_llama(), cfg);
  const std::string bytes = file_bytes(path);
  auto parse = [](const std::string& b) {
    return parse_gguf(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "bad.gguf");
  };
  std::string truncated = bytes.substr(0, bytes.size() - 100);
  EXPECT_NE(error_of([&] { parse(truncated); }).find("bad.gguf"), std::string::npos);
  std::string magic = bytes;
  magic[0] = 'X';
  EXPECT_NE(error_of([&] { parse(magic); }).find("magic"), std::string::npos);
  // The first tensor info's type field: find "token_embd.weight" and step over n_dims and ne.
  const size_t name_at = bytes.find("token_embd.weight");
  ASSERT_NE(name_at, std::string::npos);
  std::string bad_type = bytes;
  const size_t type_at = name_at + 17 + 4 + 2 * 8;
  const uint32_t unknown = 4;  // a removed ggml type id
  std::memcpy(&bad_type[type_at], &unknown, 4);
  const std::string message = error_of([&] { parse(bad_type); });
  EXPECT_NE(message.find("tensor \"token_embd.weight\": unknown ggml type id 4"), std::string::npos) << message;
  const std::string wrong_arch = test::make_temp_dir() + "/x.gguf";
  std::vector<GgufKeyValue> md = read_gguf(path).metadata;
  md[0].value = GgufValue::string("mamba");
  write_gguf(wrong_arch, md, {});
  EXPECT_NE(error_of([&] { load_gguf_model(wrong_arch); }).find("\"mamba\""), std::string::npos);
}

}  // namespace
}  // namespace slmkit
