// Perplexity under the two protocols users compare against:
//  * GPTQ (IST-DASLab gptq / llm-awq): the text's lines as Hugging Face
//    wikitext rows, joined with "\n\n", tokenized once (one BOS where the
//    tokenizer uses one), cut into non-overlapping windows of `context`
//    tokens (remainder dropped); every position but the first of each window
//    is scored. PPL = exp(mean NLL).
//  * llama.cpp (`llama-perplexity`): the raw file tokenized with BOS, windows
//    of `context` tokens whose first token is replaced by BOS; only the second
//    half of each window is scored.
// No I/O and no printing: progress goes through a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

enum class PplProtocol { kGPTQ, kLlamaCpp };

const char* protocol_name(PplProtocol p);
PplProtocol parse_protocol(const std::string& name);  // "gptq" | "llamacpp"; throws Error

struct PerplexityConfig {
  PplProtocol protocol = PplProtocol::kGPTQ;
  // Window length in tokens; 0 = protocol default: GPTQ min(2048, max positions),
  // llama.cpp min(512, max positions).
  int64_t context = 0;
  int64_t batch_windows = 1;  // windows per forward call
  int64_t max_windows = 0;    // evaluate only the first N windows; 0 = all
};

struct PerplexityStats {
  double perplexity = 0;
  double perplexity_stderr = 0;  // ppl · stderr(mean NLL), as llama.cpp reports
  double mean_nll = 0;
  int64_t tokens_scored = 0;
  int64_t tokens_total = 0;  // tokens in the tokenized text
  int64_t windows = 0;
  int64_t context = 0;
  double seconds = 0;
};

// The GPTQ protocol's text: each line keeps its "\n", whitespace-only lines
// become empty rows, rows joined with "\n\n".
std::string gptq_protocol_text(const std::string& raw);

// Tokenizes a file's contents as the protocol does. Throws Error if empty.
std::vector<int32_t> tokenize_for_perplexity(const std::string& raw, const Tokenizer& tokenizer,
                                             PplProtocol protocol);

// Window length the protocol uses for this model when config.context is 0.
int64_t default_context(const Model& model, PplProtocol protocol);

// Which windows and positions a protocol scores, validated against the model.
struct WindowPlan {
  int64_t context = 0;
  int64_t windows = 0;       // non-overlapping windows evaluated (remainder dropped, max_windows applied)
  int64_t first_scored = 0;  // logits at positions [first_scored, context − 1) predict the next token
  int64_t scored_per_window() const { return context - first_scored - 1; }
};
WindowPlan plan_windows(const Model& model, int64_t n_tokens, int32_t bos_id, const PerplexityConfig& config);

// Windows [w0, w0 + n) as model input [n, context] (int64); the llama.cpp
// protocol's first token is replaced by BOS. `all` holds every token (int64).
at::Tensor window_input(const at::Tensor& all, const WindowPlan& plan, int64_t w0, int64_t n, PplProtocol protocol,
                        int32_t bos_id);

// Called after each batch with (windows done, windows total).
using WindowProgress = std::function<void(int64_t, int64_t)>;

PerplexityStats evaluate_perplexity(const Model& model, const std::vector<int32_t>& tokens, int32_t bos_id,
                                    const PerplexityConfig& config, const WindowProgress& progress = {});

}  // namespace slmkit
