// YAML recipes: every key lands where it should, typos are errors.
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "pipeline/recipe.h"
#include "test_util.h"

namespace slmkit {
namespace {

std::string write(const std::string& text) {
  const std::string path = test::make_temp_dir() + "/recipe.yaml";
  std::ofstream(path) << text;
  return path;
}

TEST(Recipe, ReadsEveryKeyAndOverridesInOrder) {
  QuantizeRecipe r;
  CalibrationConfig c;
  load_quantize_recipe(write("method: awq\nbits: 3\ngroup_size: 64\nsym: true\nact_order: true\n"
                             "static_groups: true\npercdamp: 0.05\nblock_size: 64\ntrue_sequential: false\n"
                             "calibration: {samples: 32, seq_len: 128, seed: 7, text: /x.txt}\n"
                             "overrides:\n  - {pattern: 'down_proj', bits: 8}\n  - {pattern: 'q_proj', bits: 16}\n"),
                       &r, &c);
  EXPECT_EQ(r.method, "awq");
  EXPECT_EQ(r.gptq.grid.bits, 3);
  EXPECT_EQ(r.gptq.grid.group_size, 64);
  EXPECT_TRUE(r.gptq.grid.symmetric && r.gptq.act_order && r.gptq.static_groups);
  EXPECT_DOUBLE_EQ(r.gptq.percdamp, 0.05);
  EXPECT_EQ(r.gptq.block_size, 64);
  EXPECT_FALSE(r.true_sequential);
  EXPECT_EQ(c.samples, 32);
  EXPECT_EQ(c.seq_len, 128);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.text_path, "/x.txt");
  ASSERT_EQ(r.overrides.size(), 2u);
  EXPECT_EQ(r.overrides[0].pattern, "down_proj");
  EXPECT_EQ(r.overrides[0].grid.bits, 8);
  EXPECT_EQ(r.overrides[0].grid.group_size, 64) << "unset fields inherit the recipe's grid";
  EXPECT_TRUE(r.overrides[1].keep_dense);
}

TEST(Recipe, PerRowGroupSizeAndShippedConfigsLoad) {
  QuantizeRecipe r;
  CalibrationConfig c;
  load_quantize_recipe(write("group_size: -1\n"), &r, &c);
  EXPECT_EQ(r.gptq.grid.group_size, 0);
  for (const char* name : {"gptq-4bit.yaml", "gptq-4bit-mixed.yaml", "awq-4bit.yaml"}) {
    QuantizeRecipe shipped;
    EXPECT_NO_THROW(load_quantize_recipe(std::string(SLMKIT_FIXTURES) + "/../../configs/" + name, &shipped, &c))
        << name;
  }
}

TEST(Recipe, TyposAndBadValuesAreErrors) {
  QuantizeRecipe r;
  CalibrationConfig c;
  for (const char* bad : {"bitz: 4\n", "bits: four\n", "bits: 12\n", "overrides: {pattern: x}\n",
                          "overrides:\n  - {bits: 8}\n", "calibration: {sample: 3}\n", "- just\n- a list\n"}) {
    EXPECT_THROW(load_quantize_recipe(write(bad), &r, &c), Error) << bad;
  }
  EXPECT_THROW(load_quantize_recipe("/nonexistent/recipe.yaml", &r, &c), Error);
}

}  // namespace
}  // namespace slmkit
