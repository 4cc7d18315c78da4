#include "prune/sparsity_mask.h"

#include <cmath>

#include "core/error.h"

namespace slmkit {
namespace {

// Marks the `k` smallest entries along the last dim of score [rows, n].
at::Tensor smallest_k(const at::Tensor& score, int64_t k) {
  at::Tensor mask = at::zeros(score.sizes(), at::kBool);
  if (k <= 0) return mask;
  const at::Tensor idx = std::get<1>(at::topk(score, k, /*dim=*/-1, /*largest=*/false, /*sorted=*/false));
  return mask.scatter_(-1, idx, true);
}

}  // namespace

NmPattern parse_nm_pattern(const std::string& text) {
  NmPattern p;
  if (text.empty()) return p;
  const size_t colon = text.find(':');
  try {
    SLMKIT_CHECK(colon != std::string::npos, "");
    size_t used = 0;
    p.keep = std::stoll(text.substr(0, colon), &used);
    SLMKIT_CHECK(used == colon, "");
    p.group = std::stoll(text.substr(colon + 1), &used);
    SLMKIT_CHECK(used == text.size() - colon - 1, "");
  } catch (const std::exception&) {
    throw Error(cat("sparsity pattern \"", text, "\": expected N:M, e.g. 2:4 (keep N of every M weights)"));
  }
  SLMKIT_CHECK(p.group > 0 && p.keep >= 0 && p.keep < p.group, "sparsity pattern \"", text,
               "\": need 0 <= N < M (N weights of every M stay non-zero)");
  return p;
}

void check_sparsity_config(const SparsityConfig& c, int64_t in_features) {
  if (c.pattern.enabled()) {
    SLMKIT_CHECK(in_features % c.pattern.group == 0, "N:M sparsity ", c.pattern.keep, ":", c.pattern.group,
                 " needs input widths divisible by ", c.pattern.group, "; found a linear with ", in_features,
                 " inputs");
  } else {
    SLMKIT_CHECK(std::isfinite(c.sparsity) && c.sparsity >= 0 && c.sparsity < 1, "sparsity must be in [0, 1), found ",
                 c.sparsity);
  }
}

at::Tensor lowest_score_mask(const at::Tensor& score, const SparsityConfig& c, bool per_row) {
  SLMKIT_ASSERT(score.dim() == 2, "a [out, in] score");
  check_sparsity_config(c, score.size(1));
  const at::Tensor s = score.to(at::kFloat);
  const int64_t out = s.size(0), in = s.size(1);
  if (c.pattern.enabled()) {
    const int64_t m = c.pattern.group;
    return smallest_k(s.reshape({out, in / m, m}), m - c.pattern.keep).reshape({out, in});
  }
  if (per_row) return smallest_k(s, std::llround(c.sparsity * static_cast<double>(in)));
  return smallest_k(s.reshape({1, -1}), std::llround(c.sparsity * static_cast<double>(s.numel()))).reshape({out, in});
}

at::Tensor magnitude_mask(const at::Tensor& weight, const SparsityConfig& config) {
  return lowest_score_mask(weight.abs(), config, /*per_row=*/false);
}

at::Tensor wanda_mask(const at::Tensor& weight, const at::Tensor& input_l2, const SparsityConfig& config) {
  SLMKIT_ASSERT(input_l2.dim() == 1 && input_l2.size(0) == weight.size(1), "one input norm per column");
  return lowest_score_mask(weight.to(at::kFloat).abs() * input_l2.to(at::kFloat).unsqueeze(0), config,
                           /*per_row=*/true);
}

}  // namespace slmkit
