#include "eval/zero_shot.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "model/forward.h"

namespace slmkit {
namespace {

int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (const unsigned char c : s) n += (c & 0xC0) != 0x80;  // count every byte that starts a character
  return n;
}

// Runs tokens [B, T] through the decoder blocks into the cache (no LM head:
// the prefix's logits are never scored) and advances it.
void prefill(const Model& model, const at::Tensor& tokens, KVCache& cache) {
  const int64_t pos0 = cache.length;
  at::Tensor h = embed(model, tokens, pos0);
  for (int64_t l = 0; l < model.config.num_layers(); ++l) h = decoder_layer(model, l, h, pos0, &cache);
  cache.length += tokens.size(1);
}

MetricValue mean_and_stderr(const std::vector<double>& x) {
  MetricValue m;
  const double n = static_cast<double>(x.size());
  if (x.empty()) return m;
  for (const double v : x) m.value += v;
  m.value /= n;
  if (x.size() > 1) {
    double ss = 0;
    for (const double v : x) ss += (v - m.value) * (v - m.value);
    m.stderr_ = std::sqrt(ss / (n - 1) / n);
  }
  return m;
}

}  // namespace

EncodedRequest encode_request(const Tokenizer& tokenizer, const TaskRequest& request) {
  std::string context = request.context, continuation = request.continuation;
  const size_t kept = context.find_last_not_of(" \t\n\r\f\v");  // Python's rstrip()
  const size_t cut = kept == std::string::npos ? 0 : kept + 1;
  continuation = context.substr(cut) + continuation;
  context.resize(cut);
  const bool bos = tokenizer.add_bos_by_default();
  EncodedRequest e;
  if (context.empty()) {
    const int32_t prefix = tokenizer.bos_id() >= 0 ? tokenizer.bos_id() : tokenizer.eos_id();
    SLMKIT_CHECK(prefix >= 0, "an empty context needs a BOS or EOS token to condition on; this tokenizer has neither");
    e.context = {prefix};
    e.continuation = tokenizer.encode(continuation, /*add_bos=*/false);
  } else {
    const std::vector<int32_t> whole = tokenizer.encode(context + continuation, bos);
    e.context = tokenizer.encode(context, bos);
    const size_t n = std::min(e.context.size(), whole.size());
    e.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(n), whole.end());
  }
  SLMKIT_CHECK(!e.continuation.empty(), "the continuation \"", request.continuation,
               "\" encodes to no tokens after its context; nothing to score");
  return e;
}

std::vector<RequestScore> score_requests(const Model& model, const std::vector<EncodedRequest>& requests,
                                         int64_t max_length) {
  SLMKIT_CHECK(max_length >= 2, "max_length must be at least 2, got ", max_length);
  c10::InferenceMode guard;
  const int64_t k = static_cast<int64_t>(requests.size());
  if (k == 0) return {};
  // Model inputs: (context + continuation), last max_length + 1 tokens, minus the last.
  std::vector<std::vector<int64_t>> inputs(static_cast<size_t>(k));
  std::vector<std::vector<int64_t>> targets(static_cast<size_t>(k));
  std::vector<int64_t> first_scored(static_cast<size_t>(k));  // input position predicting the first scored token
  for (int64_t i = 0; i < k; ++i) {
    const auto& r = requests[static_cast<size_t>(i)];
    std::vector<int64_t> full(r.context.begin(), r.context.end());
    full.insert(full.end(), r.continuation.begin(), r.continuation.end());
    if (static_cast<int64_t>(full.size()) > max_length + 1) full.erase(full.begin(), full.end() - (max_length + 1));
    const int64_t n = static_cast<int64_t>(full.size()) - 1;
    const int64_t scored = std::min<int64_t>(static_cast<int64_t>(r.continuation.size()), n);
    auto& in = inputs[static_cast<size_t>(i)];
    in.assign(full.begin(), full.end() - 1);
    targets[static_cast<size_t>(i)].assign(full.end() - scored, full.end());
    first_scored[static_cast<size_t>(i)] = n - scored;
  }
  // The shared prefix: common to every input and scored in none.
  int64_t prefix = *std::min_element(first_scored.begin(), first_scored.end());
  for (int64_t i = 1; i < k && prefix > 0; ++i) {
    const auto& a = inputs[0];
    const auto& b = inputs[static_cast<size_t>(i)];
    int64_t p = 0;
    while (p < prefix && a[static_cast<size_t>(p)] == b[static_cast<size_t>(p)]) ++p;
    prefix = p;
  }
  int64_t longest = 0;
  for (const auto& in : inputs) longest = std::max<int64_t>(longest, static_cast<int64_t>(in.size()));

  KVCache cache = make_kv_cache(model, k, longest);
  if (prefix > 0) {
    KVCache one = make_kv_cache(model, 1, prefix);
    prefill(model, at::tensor(std::vector<int64_t>(inputs[0].begin(), inputs[0].begin() + prefix)).unsqueeze(0), one);
    for (size_t l = 0; l < cache.k.size(); ++l) {
      cache.k[l].narrow(2, 0, prefix).copy_(one.k[l].narrow(2, 0, prefix));  // broadcast over the batch
      cache.v[l].narrow(2, 0, prefix).copy_(one.v[l].narrow(2, 0, prefix));
    }
    cache.length = prefix;
  }
  // Suffixes right-padded to one length: causal attention keeps the padding
  // from touching any position that is scored.
  const int64_t width = longest - prefix;
  at::Tensor suffix = at::zeros({k, width}, at::kLong);
  for (int64_t i = 0; i < k; ++i) {
    const auto& in = inputs[static_cast<size_t>(i)];
    for (int64_t t = prefix; t < static_cast<int64_t>(in.size()); ++t)
      suffix[i][t - prefix] = in[static_cast<size_t>(t)];
  }
  const at::Tensor log_probs = at::log_softmax(forward(model, suffix, &cache), -1);  // [k, width, vocab]
  std::vector<RequestScore> scores(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) {
    const auto& tg = targets[static_cast<size_t>(i)];
    const int64_t n = static_cast<int64_t>(tg.size());
    const at::Tensor lp = log_probs[i].narrow(0, first_scored[static_cast<size_t>(i)] - prefix, n);
    const at::Tensor target = at::tensor(tg).unsqueeze(1);
    RequestScore& s = scores[static_cast<size_t>(i)];
    s.loglikelihood = lp.gather(1, target).sum().item<double>();
    s.greedy = at::equal(lp.argmax(1), target.squeeze(1));
    s.tokens = n;
  }
  return scores;
}

ChoiceOutcome judge_choices(const std::vector<double>& ll, const std::vector<std::string>& choices) {
  SLMKIT_ASSERT(!ll.empty() && ll.size() == choices.size(), "one log-likelihood per choice");
  ChoiceOutcome o;
  double best_norm_value = -INFINITY;
  for (size_t i = 0; i < ll.size(); ++i) {
    if (ll[i] > ll[static_cast<size_t>(o.best)]) o.best = static_cast<int>(i);
    // An empty choice has no characters; the harness would divide by zero. Rank it by its raw value.
    const double norm = ll[i] / static_cast<double>(std::max<int64_t>(1, code_points(choices[i])));
    if (i == 0 || norm > best_norm_value) {
      best_norm_value = norm;
      o.best_norm = static_cast<int>(i);
    }
  }
  return o;
}

TaskResult evaluate_task(const Model& model, const Tokenizer& tokenizer, const TaskSpec& spec,
                         const std::vector<TaskDoc>& docs, int64_t limit,
                         const std::function<void(int64_t, int64_t)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t n = limit > 0 ? std::min<int64_t>(limit, static_cast<int64_t>(docs.size()))
                              : static_cast<int64_t>(docs.size());
  TaskResult result;
  result.task = spec.name;
  result.docs = n;
  std::vector<double> acc, acc_norm, last_word_ll;
  for (int64_t d = 0; d < n; ++d) {
    const TaskDoc& doc = docs[static_cast<size_t>(d)];
    std::vector<EncodedRequest> encoded;
    for (const auto& r : doc.requests) encoded.push_back(encode_request(tokenizer, r));
    const auto scores = score_requests(model, encoded, model.config.max_positions);
    if (spec.kind == TaskKind::kLastWord) {
      acc.push_back(scores[0].greedy ? 1.0 : 0.0);
      last_word_ll.push_back(scores[0].loglikelihood);
    } else {
      std::vector<double> ll;
      for (const auto& s : scores) ll.push_back(s.loglikelihood);
      const ChoiceOutcome o = judge_choices(ll, doc.choices);
      acc.push_back(o.best == doc.gold ? 1.0 : 0.0);
      acc_norm.push_back(o.best_norm == doc.gold ? 1.0 : 0.0);
    }
    if (progress) progress(d + 1, n);
  }
  result.acc = mean_and_stderr(acc);
  result.acc_norm = mean_and_stderr(acc_norm);
  if (!last_word_ll.empty()) result.perplexity = std::exp(-mean_and_stderr(last_word_ll).value);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace slmkit
