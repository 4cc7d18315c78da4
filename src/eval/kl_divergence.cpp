#include "eval/kl_divergence.h"

#include <algorithm>
#include <chrono>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "model/forward.h"

namespace slmkit {

KlStats kl_divergence(const Model& base, const Model& model, const std::vector<int32_t>& tokens, int32_t bos_id,
                      const PerplexityConfig& config, const WindowProgress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  SLMKIT_CHECK(base.config.vocab_size == model.config.vocab_size, "KL divergence needs the same vocabulary (",
               base.config.vocab_size, " vs ", model.config.vocab_size, ")");
  const WindowPlan plan = plan_windows(base, static_cast<int64_t>(tokens.size()), bos_id, config);
  const int64_t first = plan.first_scored, scored = plan.scored_per_window();

  c10::InferenceMode guard;
  const at::Tensor all =
      at::from_blob(const_cast<int32_t*>(tokens.data()), {static_cast<int64_t>(tokens.size())}, at::kInt).to(at::kLong);
  std::vector<float> per_token;
  per_token.reserve(static_cast<size_t>(plan.windows * scored));
  int64_t agree = 0;
  KlStats st;
  for (int64_t w = 0; w < plan.windows; ++w) {
    const at::Tensor input = window_input(all, plan, w, 1, config.protocol, bos_id);
    const at::Tensor lp_base = at::log_softmax(forward(base, input)[0].narrow(0, first, scored), -1);
    const at::Tensor lp = at::log_softmax(forward(model, input)[0].narrow(0, first, scored), -1);
    const at::Tensor kl = (lp_base.exp() * (lp_base - lp)).sum(-1).clamp_min(0.0);  // [scored]
    const float* k = kl.data_ptr<float>();
    per_token.insert(per_token.end(), k, k + scored);
    agree += (lp_base.argmax(-1) == lp.argmax(-1)).sum().item<int64_t>();
    st.windows = w + 1;
    if (progress) progress(st.windows, plan.windows);
  }
  st.tokens = static_cast<int64_t>(per_token.size());
  double sum = 0;
  for (float v : per_token) sum += v;
  st.mean_kl = sum / static_cast<double>(st.tokens);
  std::vector<float> sorted = per_token;
  const size_t k99 = std::min(sorted.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(sorted.size())));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k99), sorted.end());
  st.p99_kl = sorted[k99];
  st.max_kl = *std::max_element(per_token.begin(), per_token.end());
  st.top1_agreement = static_cast<double>(agree) / static_cast<double>(st.tokens);
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace slmkit
