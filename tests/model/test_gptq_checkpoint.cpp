// GPTQ checkpoints: stories260k with some linears quantized (mixed precision,
// act-order, one left dense) saved and loaded bit for bit, the files in
// AutoGPTQ's naming and dtypes, and the errors for broken files.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "model/gptq_checkpoint.h"
#include "model/tensor_adapter.h"
#include "test_util.h"

namespace slmkit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Round-to-nearest on GPTQ's min/max grid, written here so these tests do not
// depend on src/quantize. Asymmetric zero points are kept ≥ 1: GPTQ v1 stores
// zero − 1 and cannot hold 0. With `perm`, groups follow the permuted column
// order (act-order): g_idx[perm[j]] = j / group.
IntegerWeights rtn(const at::Tensor& weight, int bits, int64_t group, bool sym, const at::Tensor& perm = {}) {
  const int64_t out = weight.size(0), in = weight.size(1), groups = (in + group - 1) / group;
  const int64_t maxq = (int64_t{1} << bits) - 1;
  at::Tensor order = perm.defined() ? perm : at::arange(in, at::kLong);
  at::Tensor g_idx = at::empty({in}, at::kLong);
  g_idx.index_put_({order}, at::floor_divide(at::arange(in, at::kLong), group));
  IntegerWeights w;
  w.bits = bits;
  w.group_size = group;
  w.symmetric = sym;
  w.codes = at::empty({out, in}, at::kInt);
  w.scales = at::empty({out, groups}, at::kFloat);
  w.zeros = at::empty({out, groups}, at::kInt);
  w.g_idx = g_idx.to(at::kInt);
  for (int64_t g = 0; g < groups; ++g) {
    const at::Tensor cols = order.narrow(0, g * group, std::min(group, in - g * group));
    const at::Tensor x = weight.index_select(1, cols).to(at::kFloat);
    at::Tensor lo = at::clamp_max(std::get<0>(x.min(1)), 0), hi = at::clamp_min(std::get<0>(x.max(1)), 0);
    if (sym) {
      hi = at::maximum(lo.abs(), hi);
      lo = -hi;
    }
    const at::Tensor scale = at::where(hi - lo > 0, (hi - lo) / maxq, at::ones_like(hi));
    // The packed file holds fp16 scales: round first so codes match what is stored.
    const at::Tensor s16 = scale.to(at::kHalf).to(at::kFloat);
    const at::Tensor zero = sym ? at::full_like(s16, maxq / 2 + 1) : at::clamp(at::round(-lo / s16), 1, maxq);
    const at::Tensor q = at::clamp(at::round(x / s16.unsqueeze(1)) + zero.unsqueeze(1), 0, maxq);
    w.codes.index_copy_(1, cols, q.to(at::kInt));
    w.scales.select(1, g).copy_(s16);
    w.zeros.select(1, g).copy_(zero.to(at::kInt));
  }
  return w;
}

void quantize_linear(Model& m, const std::string& name, int bits, int64_t group, bool sym, bool act_order = false) {
  const at::Tensor w = m.linear(name).dense_weight();
  at::manual_seed(static_cast<uint64_t>(std::hash<std::string>{}(name) % 1000));
  const at::Tensor perm = act_order ? at::randperm(w.size(1), at::kLong) : at::Tensor();
  m.linear(name).weights = pack_gptq(rtn(w, bits, group, sym, perm));
}

// stories260k (hidden 64, intermediate 172, 5 layers, tied head): every block
// linear 4-bit g32 asymmetric, except layer 0 down_proj at 8 bits, layer 1 q_proj
// 3-bit act-order, layer 2 o_proj left dense.
Model mixed_model() {
  Model m = load_model(test::data_path("models/stories260k"));
  for (int64_t i = 0; i < m.config.num_layers(); ++i)
    for (const std::string& n : m.block_linear_names()) {
      const std::string name = Model::layer_prefix(i) + n;
      if (i == 0 && n == "mlp.down_proj") quantize_linear(m, name, 8, 32, false);
      else if (i == 1 && n == "self_attn.q_proj") quantize_linear(m, name, 3, 32, false, true);
      else if (!(i == 2 && n == "self_attn.o_proj")) quantize_linear(m, name, 4, 32, false);
    }
  return m;
}

at::Tensor logits(const Model& m) {
  c10::InferenceMode guard;
  return forward(m, at::tensor(std::vector<int64_t>{1, 300, 41, 7, 99, 250, 3}, at::kLong).view({1, -1}));
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing \"" << needles.front() << "\"";
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(GptqCheckpoint, MixedModelRoundTripsBitForBit) {
  const Model m = mixed_model();
  const std::string dir = test::make_temp_dir();
  save_model(m, dir);
  const Model back = load_model(dir);
  for (const auto& [name, l] : m.linears) {
    SCOPED_TRACE(name);
    const Linear& b = back.linear(name);
    ASSERT_EQ(b.is_quantized(), l.is_quantized());
    if (!l.is_quantized()) continue;
    const auto& q = std::get<QuantizedWeights>(l.weights);
    const auto& r = std::get<QuantizedWeights>(b.weights);
    EXPECT_EQ(r.bits, q.bits);
    EXPECT_EQ(r.in_features, q.in_features);
    EXPECT_EQ(r.out_features, q.out_features);
    EXPECT_TRUE(at::equal(r.qweight, q.qweight));
    EXPECT_TRUE(at::equal(r.qzeros, q.qzeros));
    EXPECT_TRUE(at::equal(r.scales, q.scales));
    EXPECT_TRUE(at::equal(r.g_idx, q.g_idx));
  }
  EXPECT_TRUE(at::equal(logits(back), logits(m)));
  // RTN at 4 bits keeps the model close to the original.
  const at::Tensor dense = logits(load_model(test::data_path("models/stories260k")));
  EXPECT_LT((logits(m) - dense).abs().max().item<float>(), 0.5f * dense.abs().max().item<float>());
  EXPECT_EQ(back.parameter_count(), m.parameter_count());
  EXPECT_EQ(back.config.quantization.bits, 4);
}

TEST(GptqCheckpoint, ConfigHasAutoGptqKeysAndDynamicOverrides) {
  const std::string dir = test::make_temp_dir();
  save_model(mixed_model(), dir);
  const json cfg = read_json_file(dir + "/config.json");
  ASSERT_TRUE(cfg.contains("quantization_config"));
  const json& q = cfg["quantization_config"];
  EXPECT_EQ(q["quant_method"], "gptq");
  EXPECT_EQ(q["checkpoint_format"], "gptq");
  EXPECT_EQ(q["bits"], 4);
  EXPECT_EQ(q["group_size"], 32);
  EXPECT_EQ(q["sym"], false);
  EXPECT_EQ(q["desc_act"], false);
  EXPECT_EQ(q["lm_head"], false);
  const json expected_dynamic = {{"+:model\\.layers\\.0\\.mlp\\.down_proj", {{"bits", 8}}},
                                 {"+:model\\.layers\\.1\\.self_attn\\.q_proj", {{"bits", 3}, {"desc_act", true}}},
                                 {"-:model\\.layers\\.2\\.self_attn\\.o_proj", json::object()}};
  EXPECT_EQ(q["dynamic"], expected_dynamic) << q.dump(2);

  const QuantizationInfo info = read_checkpoint(dir).config.quantization;
  EXPECT_EQ(info.settings_for("model.layers.0.mlp.down_proj").bits, 8);
  EXPECT_EQ(info.settings_for("model.layers.1.self_attn.q_proj").bits, 3);
  EXPECT_TRUE(info.settings_for("model.layers.1.self_attn.q_proj").desc_act);
  EXPECT_FALSE(info.settings_for("model.layers.2.self_attn.o_proj").quantized);
  EXPECT_TRUE(info.settings_for("model.layers.3.mlp.up_proj").quantized);
  EXPECT_EQ(info.settings_for("model.layers.3.mlp.up_proj").bits, 4);
  EXPECT_FALSE(info.settings_for("lm_head").quantized);
}

TEST(GptqCheckpoint, TensorsUseAutoGptqNamesDtypesAndShapes) {
  const std::string dir = test::make_temp_dir();
  save_model(mixed_model(), dir);
  const TensorSet set = read_safetensors(dir + "/model.safetensors");
  auto expect = [&](const std::string& name, DType dtype, std::vector<int64_t> shape) {
    const TensorView* v = set.find(name);
    ASSERT_NE(v, nullptr) << name;
    EXPECT_EQ(v->dtype, dtype) << name;
    EXPECT_EQ(v->shape, shape) << name;
  };
  // down_proj: in 172 (6 groups of 32, the last partial), out 64; 172·4/32 = 21.5 → 22 rows.
  expect("model.layers.3.mlp.down_proj.qweight", DType::I32, {22, 64});
  expect("model.layers.3.mlp.down_proj.qzeros", DType::I32, {6, 8});
  expect("model.layers.3.mlp.down_proj.scales", DType::F16, {6, 64});
  expect("model.layers.3.mlp.down_proj.g_idx", DType::I32, {172});
  // up_proj: in 64, out 172 → qzeros ceil(172·4/32) = 22 words.
  expect("model.layers.3.mlp.up_proj.qweight", DType::I32, {8, 172});
  expect("model.layers.3.mlp.up_proj.qzeros", DType::I32, {2, 22});
  expect("model.layers.3.mlp.up_proj.scales", DType::F16, {2, 172});
  expect("model.layers.0.mlp.down_proj.qweight", DType::I32, {43, 64});     // 8-bit
  expect("model.layers.1.self_attn.q_proj.qweight", DType::I32, {6, 64});   // 3-bit: 64·3/32
  expect("model.layers.1.self_attn.q_proj.qzeros", DType::I32, {2, 6});
  expect("model.layers.2.self_attn.o_proj.weight", DType::F32, {64, 64});   // left dense
  EXPECT_EQ(set.find("model.layers.3.mlp.up_proj.weight"), nullptr);
  EXPECT_EQ(set.find("lm_head.weight"), nullptr);  // tied
}

// A saved mixed model whose tensors and config a test can break before reloading.
struct Broken {
  std::string dir = test::make_temp_dir();
  std::map<std::string, at::Tensor> tensors;
  json config;
  Broken() {
    const Model m = mixed_model();
    save_model(m, dir);
    tensors = hf_state_dict(m);
    config = read_json_file(dir + "/config.json");
  }
  std::string write() {
    std::map<std::string, TensorView> views;
    for (const auto& [n, t] : tensors) views[n] = to_view(t.contiguous());
    write_safetensors(dir + "/model.safetensors", views);
    write_file_atomic(dir + "/config.json", config.dump(2));
    return dir;
  }
};

TEST(GptqCheckpoint, WrongQweightShapeNamesTheTensor) {
  Broken b;
  const std::string n = "model.layers.3.mlp.up_proj.qweight";
  b.tensors[n] = b.tensors[n].narrow(0, 0, 7);
  expect_error([&] { load_model(b.write()); }, {n, "has shape [7, 172], expected [8, 172]", "in_features 64"});
}

TEST(GptqCheckpoint, MissingScalesIsReported) {
  Broken b;
  b.tensors.erase("model.layers.4.self_attn.k_proj.scales");
  expect_error([&] { load_model(b.write()); }, {"missing tensor model.layers.4.self_attn.k_proj.scales"});
}

TEST(GptqCheckpoint, UnsupportedBitsInConfig) {
  Broken b;
  b.config["quantization_config"]["bits"] = 5;
  expect_error([&] { load_model(b.write()); }, {"quantization_config.bits must be 2, 3, 4 or 8", "found 5"});
}

TEST(GptqCheckpoint, OtherBrokenFiles) {
  {
    Broken b;
    b.tensors["model.layers.3.mlp.up_proj.scales"] = b.tensors["model.layers.3.mlp.up_proj.scales"].to(at::kFloat);
    expect_error([&] { load_model(b.write()); }, {"model.layers.3.mlp.up_proj.scales has dtype F32, expected F16"});
  }
  {
    Broken b;  // the dense layer is not declared unquantized any more
    b.config["quantization_config"]["dynamic"].erase("-:model\\.layers\\.2\\.self_attn\\.o_proj");
    expect_error([&] { load_model(b.write()); }, {"model.layers.2.self_attn.o_proj.weight is dense", "4-bit GPTQ"});
  }
  {
    Broken b;
    b.config.erase("quantization_config");
    expect_error([&] { load_model(b.write()); }, {"config.json has no quantization_config"});
  }
  {
    Broken b;
    b.config["quantization_config"]["quant_method"] = "awq";
    expect_error([&] { load_model(b.write()); }, {"quant_method \"awq\" is not supported"});
  }
  {
    Broken b;
    b.config["quantization_config"]["sym"] = true;
    expect_error([&] { load_model(b.write()); }, {".qzeros holds zero points other than", "sym: true"});
  }
  {
    Broken b;  // self-consistent GPTQ tensors, but in_features 32 where the config implies 64
    const QuantizedWeights q = pack_gptq(rtn(at::randn({172, 32}), 4, 32, false));
    add_gptq_tensors("model.layers.3.mlp.up_proj", q, b.tensors);
    expect_error([&] { load_model(b.write()); },
                 {"model.layers.3.mlp.up_proj (GPTQ) has [out, in] = [172, 32], expected [172, 64]"});
  }
  {
    Broken b;
    b.tensors["model.layers.3.mlp.up_proj.g_idx"] = at::full({64}, 9, at::kInt);
    expect_error([&] { load_model(b.write()); }, {"model.layers.3.mlp.up_proj.g_idx has values in [9, 9]"});
  }
}

TEST(GptqCheckpoint, DynamicPatternsMatchLikePythonReMatch) {
  QuantizationInfo q;
  q.method = "gptq";
  q.bits = 4;
  q.dynamic.push_back(ModuleQuantOverride{R"(.*\.mlp\..*)", false, 8, {}, {}, {}});
  q.dynamic.push_back(ModuleQuantOverride{R"(model\.layers\.1\.)", true, {}, {}, {}, {}});
  EXPECT_EQ(q.settings_for("model.layers.0.mlp.up_proj").bits, 8);
  EXPECT_EQ(q.settings_for("model.layers.0.self_attn.q_proj").bits, 4);
  EXPECT_FALSE(q.settings_for("model.layers.1.self_attn.q_proj").quantized);  // prefix match, as re.match
  EXPECT_TRUE(q.settings_for("model.layers.10.self_attn.q_proj").quantized);
  expect_error([&] { q.settings_for("model.layers.1.mlp.up_proj"); }, {"matches both", "disjoint"});
}

TEST(GptqCheckpoint, RefusesQuantizedTiedHead) {
  Model m = load_model(test::data_path("models/stories260k"));
  quantize_linear(m, "lm_head", 4, 32, false);
  expect_error([&] { save_model(m, test::make_temp_dir()); }, {"lm_head is quantized but tie_word_embeddings"});
}

}  // namespace
}  // namespace slmkit
