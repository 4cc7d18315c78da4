#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "model/forward.h"

namespace slmkit {

const char* protocol_name(PplProtocol p) { return p == PplProtocol::kGPTQ ? "gptq" : "llamacpp"; }

PplProtocol parse_protocol(const std::string& name) {
  if (name == "gptq") return PplProtocol::kGPTQ;
  if (name == "llamacpp" || name == "llama.cpp") return PplProtocol::kLlamaCpp;
  throw Error(cat("unknown perplexity protocol \"", name, "\" (expected gptq or llamacpp)"));
}

std::string gptq_protocol_text(const std::string& raw) {
  std::string out;
  out.reserve(raw.size() + raw.size() / 8);
  size_t start = 0;
  bool first = true;
  while (start < raw.size()) {
    size_t end = raw.find('\n', start);
    const bool has_newline = end != std::string::npos;
    if (!has_newline) end = raw.size();
    const std::string_view line(raw.data() + start, end - start);
    const bool blank = line.find_first_not_of(" \t\r\f\v") == std::string_view::npos;
    if (!first) out += "\n\n";
    first = false;
    if (!blank) {
      out.append(line);
      if (has_newline) out += '\n';
    }
    start = end + 1;
  }
  return out;
}

std::vector<int32_t> tokenize_for_perplexity(const std::string& raw, const Tokenizer& tokenizer,
                                             PplProtocol protocol) {
  SLMKIT_CHECK(raw.find_first_not_of(" \t\r\n") != std::string::npos,
               "the evaluation text is empty (or only whitespace); nothing to score");
  const std::string text = protocol == PplProtocol::kGPTQ ? gptq_protocol_text(raw) : raw;
  // GPTQ: the tokenizer's own convention (Llama: one BOS; GPT-2: none).
  // llama.cpp: BOS whenever the vocabulary has one.
  const bool add_bos = protocol == PplProtocol::kGPTQ ? tokenizer.add_bos_by_default() : tokenizer.bos_id() >= 0;
  return tokenizer.encode(text, add_bos);
}

int64_t default_context(const Model& model, PplProtocol protocol) {
  const int64_t cap = protocol == PplProtocol::kGPTQ ? 2048 : 512;
  return std::min(cap, model.config.max_positions);
}

WindowPlan plan_windows(const Model& model, int64_t n_tokens, int32_t bos_id, const PerplexityConfig& config) {
  const bool llamacpp = config.protocol == PplProtocol::kLlamaCpp;
  WindowPlan plan;
  plan.context = config.context > 0 ? config.context : default_context(model, config.protocol);
  SLMKIT_CHECK(plan.context >= 2, "context must be at least 2 tokens, found ", plan.context);
  SLMKIT_CHECK(plan.context <= model.config.max_positions, "context ", plan.context,
               " exceeds the model's maximum of ", model.config.max_positions, " positions");
  plan.windows = n_tokens / plan.context;
  if (config.max_windows > 0) plan.windows = std::min(plan.windows, config.max_windows);
  SLMKIT_CHECK(plan.windows > 0, "the text has ", n_tokens, " tokens, fewer than one window of ", plan.context,
               "; use a longer text or a smaller --seq-len/--ctx");
  SLMKIT_CHECK(!llamacpp || bos_id >= 0, "the llama.cpp protocol replaces each window's first token by BOS, "
               "but this tokenizer has no BOS token");
  plan.first_scored = llamacpp ? plan.context / 2 : 0;  // llama.cpp scores only the second half
  return plan;
}

at::Tensor window_input(const at::Tensor& all, const WindowPlan& plan, int64_t w0, int64_t n, PplProtocol protocol,
                        int32_t bos_id) {
  at::Tensor input = all.narrow(0, w0 * plan.context, n * plan.context).view({n, plan.context}).clone();
  if (protocol == PplProtocol::kLlamaCpp) input.select(1, 0).fill_(bos_id);
  return input;
}

PerplexityStats evaluate_perplexity(const Model& model, const std::vector<int32_t>& tokens, int32_t bos_id,
                                    const PerplexityConfig& config, const WindowProgress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  PerplexityStats st;
  st.tokens_total = static_cast<int64_t>(tokens.size());
  const WindowPlan plan = plan_windows(model, st.tokens_total, bos_id, config);
  st.context = plan.context;
  const int64_t first = plan.first_scored, batch = std::max<int64_t>(1, config.batch_windows);

  c10::InferenceMode guard;
  const at::Tensor all = at::from_blob(const_cast<int32_t*>(tokens.data()), {st.tokens_total}, at::kInt).to(at::kLong);
  double sum_nll = 0, sum_nll2 = 0;
  for (int64_t w0 = 0; w0 < plan.windows; w0 += batch) {
    const int64_t nb = std::min(batch, plan.windows - w0);
    const at::Tensor targets =
        all.narrow(0, w0 * st.context, nb * st.context).view({nb, st.context}).narrow(1, first + 1, plan.scored_per_window());
    const at::Tensor input = window_input(all, plan, w0, nb, config.protocol, bos_id);
    const at::Tensor logits = forward(model, input).narrow(1, first, plan.scored_per_window());
    // NLL = logsumexp(logits) - logit[target]: one pass over the vocabulary, no log-softmax copy.
    const at::Tensor nll = at::logsumexp(logits, -1) - logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
    const at::Tensor nll64 = nll.to(at::kDouble);
    sum_nll += nll64.sum().item<double>();
    sum_nll2 += nll64.pow(2).sum().item<double>();
    st.tokens_scored += nll.numel();
    st.windows += nb;
    if (progress) progress(st.windows, plan.windows);
  }
  const double n = static_cast<double>(st.tokens_scored);
  st.mean_nll = sum_nll / n;
  st.perplexity = std::exp(st.mean_nll);
  const double var = std::max(0.0, sum_nll2 / n - st.mean_nll * st.mean_nll);
  st.perplexity_stderr = st.tokens_scored > 1 ? st.perplexity * std::sqrt(var / (n - 1)) : 0.0;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace slmkit
