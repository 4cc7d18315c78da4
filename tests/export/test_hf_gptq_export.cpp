// The Hugging Face GPTQ checkpoints `slmkit quantize` writes, checked the way a
// transformers/vLLM user's loader reads them: the saved safetensors words against
// hand-built expected values, and every saved quantized linear decoded with the
// AutoGPTQ formula written out independently here (formats.md §5.1) against the
// weights slmkit evaluates.
#include <gtest/gtest.h>

#include "export_test_models.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/tensor_adapter.h"
#include "test_util.h"

namespace slmkit {
namespace {

at::Tensor saved(const TensorSet& set, const std::string& name) {
  const TensorView* v = set.find(name);
  EXPECT_NE(v, nullptr) << name;
  return to_torch(*v, name).clone();
}

// W[n, k] = scales[g, n] · (q[k, n] − (z[g, n] + 1)), g = g_idx[k]; q packed along
// k (32/bits values per int32 word, value j at bits·j), z packed along n.
at::Tensor autogptq_dequantize(const at::Tensor& qweight, const at::Tensor& qzeros, const at::Tensor& scales,
                               const at::Tensor& g_idx, int bits) {
  const int64_t per_word = 32 / bits, mask = (int64_t{1} << bits) - 1;
  const int64_t in = g_idx.size(0), out = scales.size(1);
  at::Tensor w = at::empty({out, in}, at::kFloat);
  for (int64_t k = 0; k < in; ++k) {
    const int64_t g = g_idx[k].item<int64_t>();
    for (int64_t n = 0; n < out; ++n) {
      const uint32_t qword = static_cast<uint32_t>(qweight[k / per_word][n].item<int32_t>());
      const uint32_t zword = static_cast<uint32_t>(qzeros[g][n / per_word].item<int32_t>());
      const int64_t q = (qword >> (bits * (k % per_word))) & mask;
      const int64_t z = ((zword >> (bits * (n % per_word))) & mask) + 1;
      w[n][k] = scales[g][n].item<float>() * static_cast<float>(q - z);
    }
  }
  return w;
}

TEST(HfGptqExport, HandBuiltLinearSavesTheExpectedWords) {
  Model m = test::tiny_llama();
  IntegerWeights w;
  w.bits = 4;
  w.group_size = 64;
  w.symmetric = true;
  w.codes = (at::arange(64, at::kInt).view({64, 1}) + at::arange(64, at::kInt).view({1, 64})).remainder(16);
  w.scales = (at::arange(64, at::kFloat) + 1).view({64, 1});
  w.zeros = at::full({64, 1}, 8, at::kInt);
  w.g_idx = at::zeros({64}, at::kInt);
  m.linear("model.layers.0.self_attn.q_proj").weights = pack_gptq(w);
  const std::string dir = test::make_temp_dir();
  save_model(m, dir);
  const TensorSet set = read_safetensors(dir + "/model.safetensors");
  const at::Tensor qweight = saved(set, "model.layers.0.self_attn.q_proj.qweight");
  ASSERT_EQ(qweight.sizes().vec(), (std::vector<int64_t>{8, 64}));  // [in·4/32, out]
  // Output n, inputs 0..7: nibble j = (n + j) mod 16.
  EXPECT_EQ(static_cast<uint32_t>(qweight[0][0].item<int32_t>()), 0x76543210u);
  EXPECT_EQ(static_cast<uint32_t>(qweight[0][1].item<int32_t>()), 0x87654321u);
  EXPECT_EQ(static_cast<uint32_t>(qweight[0][9].item<int32_t>()), 0x0FEDCBA9u);
  EXPECT_EQ(static_cast<uint32_t>(qweight[1][0].item<int32_t>()), 0xFEDCBA98u);  // inputs 8..15
  const at::Tensor qzeros = saved(set, "model.layers.0.self_attn.q_proj.qzeros");
  ASSERT_EQ(qzeros.sizes().vec(), (std::vector<int64_t>{1, 8}));
  for (int64_t c = 0; c < 8; ++c) EXPECT_EQ(static_cast<uint32_t>(qzeros[0][c].item<int32_t>()), 0x77777777u);
  const at::Tensor scales = saved(set, "model.layers.0.self_attn.q_proj.scales");
  EXPECT_EQ(scales.scalar_type(), at::kHalf);
  EXPECT_EQ(scales[0][5].item<float>(), 6.0f);
  EXPECT_TRUE(saved(set, "model.layers.0.self_attn.q_proj.g_idx").equal(at::zeros({64}, at::kInt)));
  const nlohmann::json config = read_json_file(dir + "/config.json");
  const nlohmann::json& qc = config["quantization_config"];
  EXPECT_EQ(qc["quant_method"], "gptq");
  EXPECT_EQ(qc["bits"], 4);
  EXPECT_EQ(qc["checkpoint_format"], "gptq");
}

TEST(HfGptqExport, SavedGridsDecodeWithTheAutoGptqFormulaToTheEvaluatedWeights) {
  Model m = test::tiny_llama();
  test::quantize_blocks(m, QuantGrid{4, 32, false});
  // Mixed precision and act-order, as a GPTQModel `dynamic` checkpoint holds them.
  m.linear("model.layers.1.mlp.down_proj").weights =
      pack_gptq(quantize_rtn(m.linear("model.layers.1.mlp.down_proj").dense_weight(), QuantGrid{8, 32, true}));
  Linear& o = m.linear("model.layers.0.self_attn.o_proj");
  IntegerWeights act = unpack_gptq(std::get<QuantizedWeights>(o.weights));
  act.g_idx = act.g_idx.flip(0).contiguous();
  o.weights = pack_gptq(act);
  const std::string dir = test::make_temp_dir();
  save_model(m, dir);
  const TensorSet set = read_safetensors(dir + "/model.safetensors");
  for (const auto& [name, l] : m.linears) {
    if (!l.is_quantized()) continue;
    const int bits = std::get<QuantizedWeights>(l.weights).bits;
    const at::Tensor w = autogptq_dequantize(saved(set, name + ".qweight"), saved(set, name + ".qzeros"),
                                             saved(set, name + ".scales"), saved(set, name + ".g_idx"), bits);
    EXPECT_TRUE(w.equal(l.dense_weight())) << name;
  }
  const nlohmann::json qc = read_json_file(dir + "/config.json")["quantization_config"];
  EXPECT_EQ(qc["sym"], false);
  EXPECT_EQ(qc["group_size"], 32);
  EXPECT_TRUE(qc.contains("dynamic")) << qc.dump();  // the 8-bit down_proj
}

}  // namespace
}  // namespace slmkit
