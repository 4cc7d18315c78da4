// Unstructured and N:M pruning: exact sparsity, the comparison groups each
// method promises, SparseGPT = magnitude on an identity Hessian, and
// SparseGPT's weight updates paying off on correlated inputs.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "pipeline/prune_model.h"
#include "prune/sparsegpt.h"
#include "prune/sparsity_mask.h"
#include "prune_test_util.h"

namespace slmkit {
namespace {

SparsityConfig half() { return SparsityConfig{}; }
SparsityConfig two_four() {
  SparsityConfig c;
  c.pattern = parse_nm_pattern("2:4");
  return c;
}

// Every group of 4 consecutive weights of every row has exactly 2 zeros.
void expect_two_four(const at::Tensor& w, const std::string& what) {
  const at::Tensor zeros_per_group = (w.reshape({w.size(0), -1, 4}) == 0).sum(-1);
  EXPECT_TRUE((zeros_per_group == 2).all().item<bool>()) << what;
}

TEST(SparsityMask, PatternParsing) {
  const NmPattern p = parse_nm_pattern("2:4");
  EXPECT_EQ(p.keep, 2);
  EXPECT_EQ(p.group, 4);
  EXPECT_DOUBLE_EQ(p.sparsity(), 0.5);
  EXPECT_FALSE(parse_nm_pattern("").enabled());
  for (const char* bad : {"2", "4:2", "2:4x", "a:b", "4:4", "-1:4"}) EXPECT_THROW(parse_nm_pattern(bad), Error) << bad;
}

TEST(SparsityMask, MagnitudeFiftyPercentIsExactAndDropsTheSmallest) {
  const at::Tensor w = at::randn({16, 64});
  const at::Tensor mask = magnitude_mask(w, half());
  EXPECT_EQ(mask.sum().item<int64_t>(), 16 * 64 / 2);
  EXPECT_LE(w.abs().masked_select(mask).max().item<float>(), w.abs().masked_select(~mask).min().item<float>());
}

TEST(SparsityMask, WandaComparesWithinRowsWithActivationNorms) {
  const at::Tensor w = at::randn({16, 64});
  const at::Tensor norms = at::rand({64}) + 0.1;
  const at::Tensor mask = wanda_mask(w, norms, half());
  EXPECT_TRUE((mask.sum(1) == 32).all().item<bool>());
  const at::Tensor score = w.abs() * norms;
  for (int64_t r = 0; r < 16; ++r)
    EXPECT_LE(score[r].masked_select(mask[r]).max().item<float>(), score[r].masked_select(~mask[r]).min().item<float>());
  // A large activation norm protects a column that magnitude alone would prune.
  at::Tensor boosted = norms.clone();
  boosted[5] = 1e6;
  EXPECT_FALSE(wanda_mask(w, boosted, half()).select(1, 5).any().item<bool>());
}

TEST(SparsityMask, TwoFourKeepsTheLargestTwoOfEveryFour) {
  const at::Tensor w = at::randn({8, 32});
  const at::Tensor pruned = w.masked_fill(magnitude_mask(w, two_four()), 0);
  expect_two_four(pruned, "magnitude 2:4");
  const at::Tensor g = w.abs().reshape({8, 8, 4});
  const at::Tensor kept_min = pruned.abs().reshape({8, 8, 4}).masked_fill(pruned.reshape({8, 8, 4}) == 0, 1e9).amin(-1);
  const at::Tensor dropped_max = g.masked_fill(pruned.reshape({8, 8, 4}) != 0, -1).amax(-1);
  EXPECT_TRUE((dropped_max <= kept_min).all().item<bool>());
  expect_two_four(w.masked_fill(wanda_mask(w, at::rand({32}) + 0.1, two_four()), 0), "wanda 2:4");
  SparsityConfig odd = two_four();
  EXPECT_THROW(magnitude_mask(at::randn({4, 30}), odd), Error) << "30 columns are not groups of 4";
}

TEST(SparseGpt, IdentityHessianEqualsMagnitudePruning) {
  // One block (96 ≤ 128 columns), so SparseGPT's comparison group is the whole matrix, as magnitude's.
  const at::Tensor w = at::randn({24, 96});
  const at::Tensor eye = at::eye(96);
  SparseGptConfig cfg;
  EXPECT_TRUE(at::equal(prune_sparsegpt(w, eye, cfg), w.masked_fill(magnitude_mask(w, half()), 0)));
  cfg.target = two_four();
  EXPECT_TRUE(at::equal(prune_sparsegpt(w, eye, cfg), w.masked_fill(magnitude_mask(w, two_four()), 0)));
}

TEST(SparseGpt, ExactSparsityAcrossBlocksAndLowerOutputErrorThanMagnitude) {
  // Correlated inputs whose channels differ in scale, as LLM activations do: the
  // OBS updates move a pruned weight's work onto correlated neighbours, and the
  // saliency protects weights on loud channels that magnitude alone would drop.
  at::manual_seed(5);
  const at::Tensor mix = at::randn({200, 200}) / 8.0 + at::eye(200);
  const at::Tensor x = at::mm(at::randn({2000, 200}), mix) * at::randn({200}).exp();
  const at::Tensor h = at::mm(x.t(), x);
  const at::Tensor w = at::randn({48, 200});
  auto output_error = [&](const at::Tensor& q) { return (at::mm(x, (w - q).t())).square().sum().item<double>(); };
  SparseGptConfig cfg;
  SparseGptStats stats;
  const at::Tensor sg = prune_sparsegpt(w, h, cfg, &stats);
  EXPECT_EQ((sg == 0).sum().item<int64_t>(), 48 * 200 / 2) << "exact over two blocks of 128 + 72 columns";
  EXPECT_EQ(stats.pruned, 48 * 100);
  EXPECT_LT(output_error(sg), 0.7 * output_error(w.masked_fill(magnitude_mask(w, half()), 0)));
  cfg.target = two_four();
  const at::Tensor sg24 = prune_sparsegpt(w, h, cfg);
  expect_two_four(sg24, "sparsegpt 2:4");
  EXPECT_LT(output_error(sg24), output_error(w.masked_fill(magnitude_mask(w, two_four()), 0)));
}

TEST(UnstructuredPrune, EveryBlockLinearReachesExactlyTheSparsity) {
  const at::Tensor windows = test::small_calibration(test::kStories);
  for (const char* criterion : {"magnitude", "wanda", "sparsegpt"})
    for (bool pattern : {false, true}) {
      Model m = load_model(test::data_path(test::kStories));
      PruneRecipe r;
      r.method = "unstructured";
      r.criterion = criterion;
      r.sparsity = pattern ? two_four() : half();
      const PruneSummary s = prune_model(m, windows, r);
      EXPECT_EQ(s.block_params_after, s.block_params_before) << "shapes stay";
      for (int64_t l = 0; l < m.config.num_layers(); ++l)
        for (const std::string& name : m.block_linear_names()) {
          const at::Tensor w = m.linear(Model::layer_prefix(l) + name).dense_weight();
          const std::string what = std::string(criterion) + " " + Model::layer_prefix(l) + name;
          if (pattern) expect_two_four(w, what);
          else EXPECT_EQ((w == 0).sum().item<int64_t>(), w.numel() / 2) << what;
        }
      EXPECT_TRUE(at::isfinite(test::logits_of(m)).all().item<bool>());
      const std::string dir = test::make_temp_dir() + "/sparse";
      save_model(m, dir);
      EXPECT_TRUE(at::equal(test::logits_of(load_model(dir)), test::logits_of(m))) << criterion;
    }
}

}  // namespace
}  // namespace slmkit
