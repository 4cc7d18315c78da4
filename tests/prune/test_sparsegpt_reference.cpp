// SparseGPT against a plain reference: column-by-column OBS updates of the whole
// remaining row in float64, no lazy blocks, no row parallelism.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "prune/sparsegpt.h"

namespace slmkit {
namespace {

// The fast path works in float32; its result matches the float64 reference to this.
constexpr double kParityAtol = 2e-4;

at::Tensor reference_sparsegpt(const at::Tensor& weight, const at::Tensor& hessian, double sparsity, int64_t block) {
  at::Tensor w = weight.to(at::kDouble).clone();
  at::Tensor h = hessian.to(at::kDouble).clone();
  const int64_t out = w.size(0), in = w.size(1);
  h.diagonal().add_(0.01 * h.diagonal().mean().item<double>());
  const at::Tensor u = at::linalg_cholesky(at::cholesky_inverse(at::linalg_cholesky(h)), /*upper=*/true);
  int64_t pruned = 0;
  for (int64_t i1 = 0; i1 < in; i1 += block) {
    const int64_t i2 = std::min(i1 + block, in);
    const at::Tensor score = w.narrow(1, i1, i2 - i1).square() / u.diagonal().narrow(0, i1, i2 - i1).square();
    const int64_t due = std::llround(sparsity * static_cast<double>(out * i2)) - pruned;
    pruned += due;
    const at::Tensor idx = std::get<1>(at::topk(score.reshape({-1}), due, 0, /*largest=*/false));
    at::Tensor mask = at::zeros({out * (i2 - i1)}, at::kBool).index_fill_(0, idx, true).view({out, i2 - i1});
    for (int64_t i = i1; i < i2; ++i) {
      const at::Tensor col = w.select(1, i).clone();
      const at::Tensor q = col.masked_fill(mask.select(1, i - i1), 0.0);
      const at::Tensor err = (col - q) / u[i][i];
      w.narrow(1, i, in - i).sub_(at::outer(err, u[i].narrow(0, i, in - i)));
      w.select(1, i).copy_(q);
    }
  }
  return w;
}

TEST(SparseGptReference, FastPathMatchesThePlainReference) {
  at::manual_seed(11);
  const at::Tensor x = at::mm(at::randn({600, 160}), at::randn({160, 160}) / 8.0 + at::eye(160));
  const at::Tensor h = at::mm(x.t(), x);
  const at::Tensor w = at::randn({12, 160});
  SparseGptConfig cfg;
  cfg.block_size = 64;
  const at::Tensor fast = prune_sparsegpt(w, h, cfg);
  const at::Tensor ref = reference_sparsegpt(w, h, 0.5, 64);
  EXPECT_TRUE(at::equal(fast == 0, ref == 0)) << "same mask";
  EXPECT_TRUE(at::allclose(fast.to(at::kDouble), ref, 1e-3, kParityAtol)) << (fast.to(at::kDouble) - ref).abs().max();
  // For the same mask, the updates beat zeroing alone.
  auto error = [&](const at::Tensor& q) { return at::mm(x, (w - q).t()).square().sum().item<double>(); };
  EXPECT_LT(error(fast), 0.8 * error(w.masked_fill(fast == 0, 0)));
}

}  // namespace
}  // namespace slmkit
