// LoRA adapters: the merge formula on known matrices, unmerged vs merged
// forward, a PEFT adapter written by Python torch (names, scaling patterns,
// forward output), save/load round trips, refusals of unsupported options, and
// merging into quantized and low-rank weights.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "io/peft_adapter.h"
#include "io/safetensors.h"
#include "lowrank/lora.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "model/synthetic.h"
#include "model/tensor_adapter.h"
#include "pipeline/lora_adapter.h"
#include "quantize/rtn.h"
#include "test_util.h"

namespace slmkit {
namespace {

namespace fs = std::filesystem;

at::Tensor from_rows(const std::vector<std::vector<float>>& rows) {
  at::Tensor t = at::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, at::kFloat);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].size(); ++j) t[i][j] = rows[i][j];
  return t;
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

Model stories() { return load_model(test::data_path("models/stories260k")); }

// A random adapter on every block linear of `m` (B non-zero so it changes outputs).
LoraAdapter random_adapter(const Model& m, int64_t rank, double alpha, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  LoraAdapter a;
  a.config.r = rank;
  a.config.lora_alpha = alpha;
  for (const auto& [name, l] : m.linears) {
    if (name == "lm_head") continue;
    LoraDelta d = init_lora(l.in_features(), l.out_features(), rank, lora_scaling(alpha, rank, false), gen);
    d.b = at::randn({l.out_features(), rank}, gen, at::kFloat).mul_(0.05);
    a.modules.emplace(name, d);
  }
  return a;
}

TEST(Lora, ScalingIsAlphaOverRankOrOverRootRank) {
  EXPECT_EQ(lora_scaling(16, 8, false), 2.0);
  EXPECT_EQ(lora_scaling(16, 4, true), 8.0);
  PeftLoraConfig c;
  c.r = 4;
  c.lora_alpha = 8;
  c.rank_pattern = {{"down_proj", 2}};
  c.alpha_pattern = {{"v_proj", 3}};
  EXPECT_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 2.0);
  EXPECT_EQ(c.scaling_for("model.layers.0.self_attn.v_proj"), 0.75);
  EXPECT_EQ(c.scaling_for("model.layers.3.mlp.down_proj"), 4.0);
  // PEFT's rule anchors the pattern at a name component: "proj" alone is no suffix match.
  EXPECT_EQ(c.rank_for("model.layers.3.mlp.xdown_proj"), 4);
}

TEST(Lora, MergeOfKnownMatricesIsExactlyWPlusScaledBA) {
  // Small dyadic values: every product and sum is exact in float32, so the merge
  // must reproduce the hand computation bit for bit.
  const at::Tensor w = from_rows({{1, -2, 0.5, 3}, {0, 1.25, -1, 2}, {4, 0, 0, -0.75}});
  const at::Tensor a = from_rows({{1, 0, -1, 2}, {0.5, 2, 0, -1}});  // [r=2, in=4]
  const at::Tensor b = from_rows({{1, 2}, {-1, 0.5}, {0, 3}});       // [out=3, r=2]
  LoraDelta d{a, b, lora_scaling(/*alpha=*/4, /*r=*/2, false)};      // scaling 2
  // W + 2·B·A by hand.
  const at::Tensor expected = from_rows({{1 + 2 * 2, -2 + 2 * 4, 0.5 + 2 * -1, 3 + 2 * 0},
                                         {0 + 2 * -0.75, 1.25 + 2 * 1, -1 + 2 * 1, 2 + 2 * -2.5},
                                         {4 + 2 * 1.5, 0 + 2 * 6, 0 + 2 * 0, -0.75 + 2 * -3}});
  EXPECT_TRUE(at::equal(merge_lora(w, d), expected)) << merge_lora(w, d) << "\n" << expected;
}

TEST(Lora, MergeOfRandomMatricesIsTheCorrectlyRoundedSum) {
  at::Generator gen = at::detail::createCPUGenerator(7);
  const at::Tensor w = at::randn({48, 40}, gen, at::kFloat);
  LoraDelta d{at::randn({8, 40}, gen, at::kFloat), at::randn({48, 8}, gen, at::kFloat), 16.0 / 8};
  const at::Tensor exact =
      (w.to(at::kDouble) + at::mm(d.b.to(at::kDouble), d.a.to(at::kDouble)) * d.scaling).to(at::kFloat);
  EXPECT_TRUE(at::equal(merge_lora(w, d), exact));
  // A fresh adapter (PEFT init) is a no-op: B = 0, A within ±1/√in.
  const LoraDelta fresh = init_lora(40, 48, 8, 2.0, gen);
  EXPECT_EQ(max_abs(fresh.b), 0.0);
  EXPECT_LE(max_abs(fresh.a), 1 / std::sqrt(40.0));
  EXPECT_GT(max_abs(fresh.a), 0.5 / std::sqrt(40.0));
  EXPECT_TRUE(at::equal(merge_lora(w, fresh), w));
}

TEST(Lora, UnmergedAndMergedForwardAgree) {
  Model unmerged = stories();
  const LoraAdapter adapter = random_adapter(unmerged, 4, 8, 11);
  const at::Tensor tokens = at::randint(0, unmerged.config.vocab_size, {2, 40},
                                        at::detail::createCPUGenerator(3), at::kLong);
  const at::Tensor base_logits = forward(unmerged, tokens);
  attach_lora_adapter(unmerged, adapter);
  Model merged = stories();
  const auto reports = merge_lora_adapter(merged, adapter);
  ASSERT_EQ(reports.size(), adapter.modules.size());
  for (const auto& r : reports) EXPECT_EQ(r.form, "dense");
  // Layer by layer, on unit-scale inputs: the two ways of applying the adapter agree to 1e-5.
  at::Generator gen = at::detail::createCPUGenerator(8);
  for (const auto& [name, d] : adapter.modules) {
    const at::Tensor x = at::randn({3, unmerged.linear(name).in_features()}, gen, at::kFloat);
    EXPECT_LE(max_abs(unmerged.linear(name).forward(x) - merged.linear(name).forward(x)), 1e-5) << name;
  }
  // Through the whole model the float32 rounding of five blocks adds up: agreement
  // to 1e-5 of the logits' scale (observed: 1.5e-6), while the adapter itself moves
  // the logits by far more.
  const at::Tensor a = forward(unmerged, tokens), b = forward(merged, tokens);
  EXPECT_GT(max_abs(a - base_logits), 0.05);
  EXPECT_LE(max_abs(a - b), 1e-5 * max_abs(a)) << "max |logit| " << max_abs(a);
  detach_lora_adapters(unmerged);
  EXPECT_TRUE(at::equal(forward(unmerged, tokens), base_logits));
}

TEST(Lora, ReadsAnAdapterWrittenByPythonTorchWithPeftNamesAndScaling) {
  const Model m = stories();
  const TensorSet expected = read_safetensors(test::fixture_path("peft/expected.safetensors"));
  for (const char* dir : {"peft/adapter", "peft/legacy"}) {  // safetensors and the legacy torch.save .bin
    SCOPED_TRACE(dir);
    const LoraAdapter adapter = load_lora_adapter(test::fixture_path(dir), m);
    EXPECT_EQ(adapter.config.r, 4);
    EXPECT_EQ(adapter.config.lora_alpha, 8);
    EXPECT_EQ(adapter.config.target_modules, (std::vector<std::string>{"q_proj", "v_proj", "down_proj"}));
    EXPECT_EQ(adapter.config.base_model_name_or_path, "stories260k");
    ASSERT_EQ(adapter.modules.size(), 6u);
    for (const auto& [name, d] : adapter.modules) {
      SCOPED_TRACE(name);
      const at::Tensor scaling = to_torch(*expected.find(name + ".scaling"), "scaling");
      EXPECT_DOUBLE_EQ(d.scaling, scaling.item<float>());
      EXPECT_EQ(d.rank(), name.find("down_proj") != std::string::npos ? 2 : 4);
      const at::Tensor x = to_torch(*expected.find(name + ".x"), "x");
      const at::Tensor y = to_torch(*expected.find(name + ".y"), "y");
      EXPECT_LE(max_abs(d.forward(x) - y), 1e-6 * std::max(1.0, max_abs(y)));
      // Merging reproduces PEFT's forward: (W + ΔW)x = Wx + lora_B(lora_A(x))·scaling.
      const at::Tensor w = m.linear(name).dense_weight();
      EXPECT_LE(max_abs(at::linear(x, merge_lora(w, d)) - (at::linear(x, w) + y)), 1e-5);
    }
  }
}

TEST(Lora, SaveLoadRoundTripKeepsNamesValuesAndConfig) {
  const Model m = stories();
  LoraAdapter adapter = random_adapter(m, 4, 8, 5);
  adapter.config.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  adapter.config.base_model_name_or_path = "stories260k";
  const std::string dir = test::make_temp_dir();
  save_lora_adapter(dir, adapter, at::kFloat);
  // PEFT's file layout and key names.
  const TensorSet set = read_safetensors(dir + "/adapter_model.safetensors");
  EXPECT_NE(set.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), nullptr);
  EXPECT_NE(set.find("base_model.model.model.layers.4.mlp.down_proj.lora_B.weight"), nullptr);
  EXPECT_EQ(set.tensors.size(), 2 * adapter.modules.size());
  const nlohmann::json cfg = nlohmann::json::parse(read_text_file(dir + "/adapter_config.json"));
  EXPECT_EQ(cfg.at("peft_type"), "LORA");
  EXPECT_EQ(cfg.at("r"), 4);
  EXPECT_EQ(cfg.at("lora_alpha"), 8.0);
  EXPECT_EQ(cfg.at("bias"), "none");

  const LoraAdapter back = load_lora_adapter(dir, m);
  ASSERT_EQ(back.modules.size(), adapter.modules.size());
  for (const auto& [name, d] : adapter.modules) {
    const LoraDelta& e = back.modules.at(name);
    EXPECT_TRUE(at::equal(e.a, d.a) && at::equal(e.b, d.b)) << name;
    EXPECT_EQ(e.scaling, d.scaling);
  }
  // float16 storage rounds the factors once, nothing else.
  const std::string half = test::make_temp_dir();
  save_lora_adapter(half, adapter, at::kHalf);
  const LoraAdapter h = load_lora_adapter(half, m);
  for (const auto& [name, d] : adapter.modules)
    EXPECT_TRUE(at::equal(h.modules.at(name).a, d.a.to(at::kHalf).to(at::kFloat))) << name;
}

// Writes an adapter directory from a config and one module's tensors.
std::string write_adapter(const nlohmann::json& config, const std::map<std::string, at::Tensor>& tensors) {
  const std::string dir = test::make_temp_dir();
  std::ofstream(dir + "/adapter_config.json") << config.dump();
  std::map<std::string, TensorView> views;
  for (const auto& [name, t] : tensors) views[name] = to_view(t);
  write_safetensors(dir + "/adapter_model.safetensors", views);
  return dir;
}

TEST(Lora, RefusesUnsupportedOptionsAndMismatchedAdapters) {
  const Model m = stories();
  const std::string q = "base_model.model.model.layers.0.self_attn.q_proj";
  const std::map<std::string, at::Tensor> good = {{q + ".lora_A.weight", at::zeros({4, 64})},
                                                  {q + ".lora_B.weight", at::zeros({64, 4})}};
  const nlohmann::json base = {{"peft_type", "LORA"}, {"r", 4}, {"lora_alpha", 8}, {"target_modules", {"q_proj"}}};
  EXPECT_EQ(load_lora_adapter(write_adapter(base, good), m).modules.size(), 1u);

  auto refused = [&](nlohmann::json config, const std::map<std::string, at::Tensor>& tensors) {
    return test::error_of([&] { load_lora_adapter(write_adapter(config, tensors), m); });
  };
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json c = base;
    c[key] = value;
    return c;
  };
  EXPECT_NE(refused(with("use_dora", true), good).find("use_dora"), std::string::npos);
  EXPECT_NE(refused(with("bias", "all"), good).find("bias"), std::string::npos);
  EXPECT_NE(refused(with("fan_in_fan_out", true), good).find("fan_in_fan_out"), std::string::npos);
  EXPECT_NE(refused(with("modules_to_save", {"lm_head"}), good).find("modules_to_save"), std::string::npos);
  EXPECT_NE(refused(with("peft_type", "IA3"), good).find("LORA"), std::string::npos);
  EXPECT_NE(refused(with("init_lora_weights", "pissa"), good).find("pissa"), std::string::npos);
  EXPECT_NE(refused(with("r", 8), good).find("rank 4"), std::string::npos);  // scaling would be wrong
  // A tensor that is no LoRA weight (e.g. a DoRA magnitude), a lone A, a foreign module, a wrong shape.
  auto extra = good;
  extra[q + ".lora_magnitude_vector"] = at::ones({64});
  EXPECT_NE(refused(base, extra).find("lora_magnitude_vector"), std::string::npos);
  EXPECT_NE(refused(base, {{q + ".lora_A.weight", at::zeros({4, 64})}}).find("no lora_B"), std::string::npos);
  const std::string foreign = "base_model.model.transformer.h.0.attn.c_attn";
  EXPECT_NE(refused(base, {{foreign + ".lora_A.weight", at::zeros({4, 64})},
                           {foreign + ".lora_B.weight", at::zeros({64, 4})}})
                .find("not a linear layer of this model"),
            std::string::npos);
  EXPECT_NE(refused(base, {{q + ".lora_A.weight", at::zeros({4, 60})}, {q + ".lora_B.weight", at::zeros({64, 4})}})
                .find("do not fit"),
            std::string::npos);
}

TEST(Lora, MergeIntoQuantizedWeightsRequantizesAndReportsTheError) {
  Model m = stories();
  const std::string name = "model.layers.1.mlp.up_proj";
  const QuantGrid grid{4, 32, false};
  m.linear(name).weights = pack_gptq(quantize_rtn(m.linear(name).dense_weight(), grid));
  const at::Tensor before = m.linear(name).dense_weight().to(at::kDouble);
  LoraAdapter adapter;
  adapter.config.r = 4;
  adapter.config.lora_alpha = 4;
  at::Generator gen = at::detail::createCPUGenerator(9);
  const Linear& l = m.linear(name);
  adapter.modules.emplace(name, LoraDelta{at::randn({4, l.in_features()}, gen), at::randn({l.out_features(), 4}, gen).mul_(0.01), 1.0});
  const at::Tensor exact = before + lora_delta_weight(adapter.modules.at(name));

  const auto reports = merge_lora_adapter(m, adapter);
  ASSERT_EQ(reports.size(), 1u);
  const LoraMergeReport& r = reports[0];
  EXPECT_EQ(r.form, "quantized");
  EXPECT_EQ(r.grid, describe(grid));
  const Linear& merged = m.linear(name);
  ASSERT_TRUE(merged.is_quantized());
  const auto& q = std::get<QuantizedWeights>(merged.weights);
  EXPECT_EQ(q.bits, 4);
  EXPECT_EQ(q.group_size, 32);
  EXPECT_FALSE(merged.adapter);
  // The report is the real error of the stored weights against the exact merge.
  const at::Tensor err = merged.dense_weight().to(at::kDouble) - exact;
  EXPECT_NEAR(r.relative_error, err.norm().item<double>() / exact.norm().item<double>(), 1e-12);
  EXPECT_GT(r.relative_error, 0);
  // Round to nearest on the new grid: no weight is off by more than half a step (+ float16 scale rounding).
  const at::Tensor step = q.scales.to(at::kDouble).t().repeat_interleave(32, 1).narrow(1, 0, l.in_features());
  EXPECT_LE((err.abs() - step * 0.5).max().item<double>(), 1e-3 * step.max().item<double>());
  // The merge moved the weights towards W + ΔW: closer than the unmerged base is.
  EXPECT_LT(err.norm().item<double>(), (before - exact).norm().item<double>());
}

TEST(Lora, MergeIntoLowRankWeightsAppendsTheFactorsExactly) {
  Model m = stories();
  const std::string name = "model.layers.0.self_attn.o_proj";
  at::Generator gen = at::detail::createCPUGenerator(4);
  m.linear(name).weights = LowRankWeights{at::randn({6, 64}, gen), at::randn({64, 6}, gen)};
  const at::Tensor before = m.linear(name).dense_weight().to(at::kDouble);
  LoraAdapter adapter;
  adapter.config.r = 2;
  adapter.config.lora_alpha = 1;
  adapter.modules.emplace(name, LoraDelta{at::randn({2, 64}, gen), at::randn({64, 2}, gen), 0.5});
  const at::Tensor exact = before + lora_delta_weight(adapter.modules.at(name));
  const auto reports = merge_lora_adapter(m, adapter);
  EXPECT_EQ(reports[0].form, "low-rank");
  ASSERT_TRUE(m.linear(name).is_low_rank());
  EXPECT_EQ(std::get<LowRankWeights>(m.linear(name).weights).rank(), 8);
  EXPECT_LE(max_abs(m.linear(name).dense_weight().to(at::kDouble) - exact), 1e-5);
}

}  // namespace
}  // namespace slmkit
