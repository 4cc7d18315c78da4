// Zero-shot accuracy by log-likelihood scoring, as lm-evaluation-harness does
// it: each choice's continuation is scored by Σ log p(token | everything
// before), the highest wins (`acc`), or the highest per character of the
// choice (`acc_norm`). LAMBADA asks whether the last word is the greedy
// prediction. The choices of one document share their context: its key/value
// cache is computed once and the continuations run as one batch on top of it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "eval/tasks.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

// The token ids of one request, split as the harness splits them: trailing
// whitespace of the context move to the continuation, context+continuation is
// encoded as one text, and the continuation is what follows the context's own
// encoding. An empty context is the prefix token alone (BOS, else EOS).
struct EncodedRequest {
  std::vector<int32_t> context, continuation;
};
EncodedRequest encode_request(const Tokenizer& tokenizer, const TaskRequest& request);

struct RequestScore {
  double loglikelihood = 0;  // Σ log p(continuation tokens)
  bool greedy = true;        // every continuation token was the argmax
  int64_t tokens = 0;        // continuation tokens scored
};

// Scores requests that belong together (one document's choices) against the
// model. Inputs longer than max_length + 1 tokens lose tokens from the left,
// as the harness truncates them.
std::vector<RequestScore> score_requests(const Model& model, const std::vector<EncodedRequest>& requests,
                                         int64_t max_length);

// The rule for one multiple-choice document: first index of the largest
// log-likelihood (acc), and of the largest log-likelihood per character of the
// choice text, counted in Unicode code points as Python's len() does (acc_norm).
struct ChoiceOutcome {
  int best = 0, best_norm = 0;
};
ChoiceOutcome judge_choices(const std::vector<double>& loglikelihoods, const std::vector<std::string>& choices);

struct MetricValue {
  double value = 0;
  double stderr_ = 0;  // standard error of the mean over documents
};

struct TaskResult {
  std::string task;
  int64_t docs = 0;
  MetricValue acc, acc_norm;  // acc_norm: multiple-choice tasks only
  double perplexity = 0;      // LAMBADA: exp(−mean log-likelihood of the last word)
  double seconds = 0;
};

// Evaluates the first `limit` documents (0 = all). Progress gets (done, total).
TaskResult evaluate_task(const Model& model, const Tokenizer& tokenizer, const TaskSpec& spec,
                         const std::vector<TaskDoc>& docs, int64_t limit,
                         const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace slmkit
