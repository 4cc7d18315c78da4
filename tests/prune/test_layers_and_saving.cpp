// Depth pruning (ShortGPT block influence) and checkpoints of pruned models:
// what config.json says and that the reload computes the same logits.
#include <cstdlib>
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "io/json.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "pipeline/prune_model.h"
#include "prune/layer_removal.h"
#include "prune_test_util.h"

namespace slmkit {
namespace {

nlohmann::json saved_config(const std::string& dir) { return read_json_file(dir + "/config.json"); }

TEST(BlockInfluence, OneMinusMeanCosine) {
  const at::Tensor x = at::randn({3, 5, 16});
  BlockInfluence same, opposite, mixed;
  same.add(x, x * 2.0);
  opposite.add(x, -x);
  EXPECT_NEAR(same.value(), 0.0, 1e-6);
  EXPECT_NEAR(opposite.value(), 2.0, 1e-6);
  mixed.add(x, x);
  mixed.add(x, -x);
  EXPECT_NEAR(mixed.value(), 1.0, 1e-6);
}

TEST(LayerRemoval, ChoosesTheLowestInfluenceLayersClosestToTheTarget) {
  const std::vector<double> bi = {0.9, 0.1, 0.3, 0.05, 0.8};
  const std::vector<int64_t> params(5, 100);
  EXPECT_EQ(choose_layers_to_remove(bi, params, 300), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(choose_layers_to_remove(bi, params, 500), (std::vector<int64_t>{}));
  EXPECT_EQ(choose_layers_to_remove(bi, params, 0).size(), 4u) << "one layer always stays";
}

TEST(LayerRemoval, PrunedModelIsRenumberedRunsAndReloadsExactly) {
  Model m = load_model(test::data_path(test::kStories));
  PruneRecipe r;
  r.method = "layers";
  r.target_params = 0.6;
  const PruneSummary s = prune_model(m, test::small_calibration(test::kStories), r);
  ASSERT_EQ(m.config.num_layers(), 3) << "0.6 of 5 equal blocks";
  std::vector<double> removed_bi, kept_bi;
  for (const auto& l : s.layers) (l.removed ? removed_bi : kept_bi).push_back(l.block_influence);
  ASSERT_EQ(removed_bi.size(), 2u);
  for (double rb : removed_bi)
    for (double kb : kept_bi) EXPECT_LE(rb, kb);
  for (const auto& [name, t] : m.tensors) EXPECT_EQ(name.find("model.layers.3."), std::string::npos) << name;
  for (const auto& [name, l] : m.linears) EXPECT_EQ(name.find("model.layers.4."), std::string::npos) << name;
  EXPECT_EQ(s.block_params_after, m.block_parameter_count());
  const std::string dir = test::make_temp_dir() + "/shallow";
  save_model(m, dir);
  EXPECT_EQ(saved_config(dir)["num_hidden_layers"], 3);
  EXPECT_TRUE(at::equal(test::logits_of(load_model(dir)), test::logits_of(m)));
}

TEST(PrunedCheckpoint, UniformFlapKeepsTheStandardConfigWithBiasSwitches) {
  Model m = load_model(test::data_path(test::kStories));
  PruneRecipe r;
  r.target_params = 0.7;
  const PruneSummary s = prune_model(m, test::small_calibration(test::kStories), r);
  ASSERT_TRUE(s.bias_compensation);
  ASSERT_TRUE(s.uniform_shape);
  const std::string dir = test::make_temp_dir() + "/uniform";
  save_model(m, dir);
  const nlohmann::json c = saved_config(dir);
  EXPECT_FALSE(c.contains("slmkit_layer_dims"));
  EXPECT_EQ(c["num_attention_heads"], m.config.layers[0].num_heads);
  EXPECT_EQ(c["num_key_value_heads"], m.config.layers[0].num_kv_heads);
  EXPECT_EQ(c["intermediate_size"], m.config.layers[0].intermediate_size);
  EXPECT_EQ(c["head_dim"], 8);
  EXPECT_EQ(c["attention_bias"], true);
  EXPECT_EQ(c["mlp_bias"], true);
  const Model back = load_model(dir);
  for (const auto& [name, l] : back.linears)
    if (name != "lm_head") {
      EXPECT_TRUE(l.bias.defined()) << name << ": transformers expects every sibling bias";
    }
  EXPECT_TRUE(at::equal(test::logits_of(back), test::logits_of(m)));
}

TEST(PrunedCheckpoint, GlobalAllocationWritesPerLayerDimsAndReloadsExactly) {
  Model m = load_model(test::data_path(test::kMixed));
  PruneRecipe r;
  r.target_params = 0.6;
  r.allocation.mode = AllocationMode::kGlobal;
  r.bias_compensation = false;
  const PruneSummary s = prune_model(m, test::small_calibration(test::kMixed), r);
  ASSERT_FALSE(s.uniform_shape);
  const std::string dir = test::make_temp_dir() + "/global";
  save_model(m, dir);
  const nlohmann::json c = saved_config(dir);
  ASSERT_TRUE(c.contains("slmkit_layer_dims"));
  EXPECT_EQ(c["attention_bias"], false);
  const Model back = load_model(dir);
  for (int64_t l = 0; l < m.config.num_layers(); ++l) {
    EXPECT_EQ(back.config.layers[l].num_heads, m.config.layers[l].num_heads);
    EXPECT_EQ(back.config.layers[l].num_kv_heads, m.config.layers[l].num_kv_heads);
    EXPECT_EQ(back.config.layers[l].intermediate_size, m.config.layers[l].intermediate_size);
  }
  EXPECT_TRUE(at::equal(test::logits_of(back), test::logits_of(m)));
}

// GPT-2: attention heads stay (its config derives head_dim from n_embd / n_head),
// MLP channels go per layer with FLAP's compensation folded into the existing
// down_proj biases, and per-layer widths round-trip through config.json.
TEST(PrunedCheckpoint, Gpt2GlobalMlpPruningReloadsExactly) {
  ModelConfig c;
  c.model_type = "gpt2";
  c.arch = Arch::kGPT2;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.head_dim = 8;
  c.max_positions = 64;
  c.layers.assign(3, LayerDims{4, 4, 128});
  c.tie_word_embeddings = true;
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  c.hidden_act = "gelu_new";
  Model m = synthesize_model(c, 7);
  at::Generator gen = at::detail::createCPUGenerator(7);
  const at::Tensor windows = at::randint(0, 64, {8, 32}, gen, at::kLong);
  PruneRecipe r;
  r.target_params = 0.7;
  r.allocation.mode = AllocationMode::kGlobal;
  const PruneSummary s = prune_model(m, windows, r);
  EXPECT_FALSE(s.notes.empty());
  for (const LayerDims& d : m.config.layers) EXPECT_EQ(d.num_heads, 4);
  const std::string dir = test::make_temp_dir() + "/gpt2";
  save_model(m, dir);
  ASSERT_FALSE(s.uniform_shape) << "global allocation gives the layers different widths here";
  EXPECT_TRUE(saved_config(dir).contains("slmkit_layer_dims"));
  EXPECT_TRUE(at::equal(test::logits_of(load_model(dir)), test::logits_of(m)));
}

TEST(PruneCli, StructuredRunWritesAReloadableCheckpointAndJson) {
  const std::string dir = test::make_temp_dir();
  const std::string cmd = test::slmkit_binary() + " prune " + test::data_path(test::kStories) + " --out " + dir +
                          "/out --target-params 0.75 --allocation global --calib-samples 8 --calib-seq-len 64 "
                          "--threads 1 --json " + dir + "/report.json > " + dir + "/log.txt 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const nlohmann::json report = read_json_file(dir + "/report.json");
  EXPECT_EQ(report["method"], "structured");
  EXPECT_EQ(report["criterion"], "flap");
  EXPECT_EQ(report["layers"].size(), 5u);
  const Model back = load_model(dir + "/out");
  EXPECT_EQ(back.block_parameter_count(), report["block_params_after"].get<int64_t>());
  const std::string bad = test::slmkit_binary() + " prune " + test::data_path(test::kStories) + " --out " + dir +
                          "/bad --method unstructured --target-params 0.5 > /dev/null 2>&1";
  EXPECT_NE(std::system(bad.c_str()), 0) << "--target-params is not for unstructured pruning";
}

}  // namespace
}  // namespace slmkit
