// The importance statistic the exporter hands llama.cpp's quantizers: the mean
// of x² of each linear input over the calibration windows (an imatrix entry).
#include <gtest/gtest.h>

#include "export_test_models.h"
#include "pipeline/export_model.h"

namespace slmkit {
namespace {

TEST(GgufImportance, MeanSquareOfEachLinearsInput) {
  const Model m = test::tiny_llama();
  const at::Tensor windows = at::randint(3, 64, {3, 12}, at::kLong);
  const ImportanceMap imp = collect_importance(m, windows, 2);
  EXPECT_EQ(imp.size(), 14u);  // 7 block linears × 2 layers; no head
  // Layer 0's q/k/v read the normed embeddings: compute that by hand.
  const at::Tensor x = block_norm(m, 0, true, embed(m, windows, 0)).reshape({-1, 64}).to(at::kDouble);
  const at::Tensor expected = x.square().mean(0).to(at::kFloat);
  for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"})
    EXPECT_TRUE(at::allclose(imp.at(name), expected, 1e-5, 1e-7)) << name;
  EXPECT_EQ(imp.at("model.layers.1.mlp.down_proj").size(0), 96);
  EXPECT_TRUE(imp.at("model.layers.1.mlp.down_proj").gt(0).all().item<bool>());
}

}  // namespace
}  // namespace slmkit
