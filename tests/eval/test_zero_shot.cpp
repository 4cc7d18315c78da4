// Zero-shot scoring: the choice rule on hand-computed log-likelihoods, the
// harness's request encoding, the shared-prefix batched scorer against a plain
// full forward per request, and the task files' document counts and formats.
#include <cmath>
#include <map>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "eval/tasks.h"
#include "eval/zero_shot.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {
namespace {

TEST(ZeroShotJudge, AccPicksTheLargestLogLikelihoodAndAccNormDividesByCharacters) {
  // Choice 0 "a cat" (5 chars): LL −6.0 → −1.2/char. Choice 1 "an elephant" (11 chars): LL −8.8 → −0.8/char.
  // acc picks 0 (−6.0 > −8.8); acc_norm picks 1 (−0.8 > −1.2).
  const ChoiceOutcome o = judge_choices({-6.0, -8.8}, {"a cat", "an elephant"});
  EXPECT_EQ(o.best, 0);
  EXPECT_EQ(o.best_norm, 1);
  // Characters are code points, not bytes: "éé" is 2 characters (4 bytes), "ab" 2. LL −2.2 vs −2.0:
  // per character −1.1 vs −1.0, so choice 1 wins; per byte it would be −0.55 vs −1.0 and choice 0.
  EXPECT_EQ(judge_choices({-2.2, -2.0}, {"\xc3\xa9\xc3\xa9", "ab"}).best_norm, 1);
  // Ties go to the first choice, as numpy's argmax.
  EXPECT_EQ(judge_choices({-1.0, -1.0, -3.0}, {"x", "y", "z"}).best, 0);
  EXPECT_EQ(judge_choices({-1.0, -1.0, -3.0}, {"x", "y", "z"}).best_norm, 0);
}

class ZeroShotModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new Model(load_model(test::data_path("models/mixed-en-13m")));
    tokenizer_ = load_tokenizer(test::data_path("models/mixed-en-13m")).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
  }
  static Model* model_;
  static Tokenizer* tokenizer_;
};
Model* ZeroShotModel::model_ = nullptr;
Tokenizer* ZeroShotModel::tokenizer_ = nullptr;

TEST_F(ZeroShotModel, EncodingMovesTrailingSpacesAndSplitsTheJointEncoding) {
  const EncodedRequest a = encode_request(*tokenizer_, {"Question: why?\nAnswer:", " because"});
  const EncodedRequest b = encode_request(*tokenizer_, {"Question: why?\nAnswer: ", "because"});
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.continuation, b.continuation);
  std::vector<int32_t> joined = a.context;
  joined.insert(joined.end(), a.continuation.begin(), a.continuation.end());
  EXPECT_EQ(joined, tokenizer_->encode("Question: why?\nAnswer: because", true));
  EXPECT_EQ(a.context.front(), tokenizer_->bos_id());
  // An empty context conditions on BOS alone.
  const EncodedRequest e = encode_request(*tokenizer_, {"", " Hello"});
  EXPECT_EQ(e.context, std::vector<int32_t>{tokenizer_->bos_id()});
  EXPECT_EQ(e.continuation, tokenizer_->encode(" Hello", false));
}

// The plain definition: one full forward per request, Σ log-softmax at the continuation.
RequestScore naive_score(const Model& m, const EncodedRequest& r, int64_t max_length) {
  std::vector<int64_t> full(r.context.begin(), r.context.end());
  full.insert(full.end(), r.continuation.begin(), r.continuation.end());
  if (static_cast<int64_t>(full.size()) > max_length + 1) full.erase(full.begin(), full.end() - (max_length + 1));
  const int64_t n = static_cast<int64_t>(full.size()) - 1;
  const int64_t c = std::min<int64_t>(static_cast<int64_t>(r.continuation.size()), n);
  const at::Tensor in = at::tensor(std::vector<int64_t>(full.begin(), full.end() - 1)).unsqueeze(0);
  const at::Tensor lp = at::log_softmax(forward(m, in), -1)[0].to(at::kDouble);
  RequestScore s;
  s.tokens = c;
  for (int64_t t = n - c; t < n; ++t) {
    const int64_t target = full[static_cast<size_t>(t + 1)];
    s.loglikelihood += lp[t][target].item<double>();
    s.greedy = s.greedy && lp[t].argmax().item<int64_t>() == target;
  }
  return s;
}

TEST_F(ZeroShotModel, SharedPrefixBatchMatchesAFullForwardPerRequest) {
  const std::vector<std::vector<TaskRequest>> docs = {
      // Shared context, continuations of different lengths.
      {{"Question: What do bees make?\nAnswer:", " honey"},
       {"Question: What do bees make?\nAnswer:", " a great deal of noise in the summer"},
       {"Question: What do bees make?\nAnswer:", " wax"}},
      // WinoGrande-style: different contexts, the same continuation.
      {{"The trophy did not fit in the suitcase because the trophy", " was too big."},
       {"The trophy did not fit in the suitcase because the suitcase", " was too big."}},
      // Longer than the model's 256 positions: truncated from the left.
      {{std::string(1500, 'a') + " the end of the story was", " happy"},
       {std::string(1500, 'a') + " the end of the story was", " sad and long"}},
  };
  for (const auto& doc : docs) {
    std::vector<EncodedRequest> enc;
    for (const auto& r : doc) enc.push_back(encode_request(*tokenizer_, r));
    const auto scores = score_requests(*model_, enc, model_->config.max_positions);
    ASSERT_EQ(scores.size(), doc.size());
    for (size_t i = 0; i < doc.size(); ++i) {
      const RequestScore want = naive_score(*model_, enc[i], model_->config.max_positions);
      EXPECT_NEAR(scores[i].loglikelihood, want.loglikelihood, 1e-3 + 1e-5 * std::abs(want.loglikelihood))
          << doc[i].context.substr(0, 40) << " |" << doc[i].continuation;
      EXPECT_EQ(scores[i].greedy, want.greedy);
      EXPECT_EQ(scores[i].tokens, want.tokens);
    }
  }
}

TEST(ZeroShotTasks, DocumentCountsAndPromptFormats) {
  const std::map<std::string, size_t> expected = {
      {"piqa", 1838}, {"arc_easy", 2376}, {"arc_challenge", 1172}, {"boolq", 3270}, {"openbookqa", 500},
      {"siqa", 1954}, {"copa", 100},      {"winogrande", 1267},    {"lambada_openai", 5153}};
  for (const TaskSpec& spec : task_specs()) {
    const std::string dir = test::data_path("tasks/");
    const auto docs = parse_task(spec, read_text_file(dir + spec.file),
                                 spec.labels_file ? read_text_file(dir + spec.labels_file) : "", spec.file);
    EXPECT_EQ(docs.size(), expected.at(spec.name)) << spec.name;
    for (const TaskDoc& d : docs) {
      ASSERT_EQ(d.requests.size(), d.choices.size()) << spec.name;
      ASSERT_LT(d.gold, static_cast<int>(d.choices.size())) << spec.name;
      for (const auto& r : d.requests) ASSERT_EQ(r.continuation.substr(0, 1), " ") << spec.name;
    }
  }
  const TaskSpec& piqa = task_spec("piqa");
  const auto p = parse_task(piqa, "{\"goal\": \"Open a jar\", \"sol1\": \"twist the lid\", \"sol2\": \"eat it\"}\n",
                            "1\n", "piqa");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].requests[0].context, "Question: Open a jar\nAnswer:");
  EXPECT_EQ(p[0].requests[1].continuation, " eat it");
  EXPECT_EQ(p[0].gold, 1);
  const auto arc = parse_task(task_spec("arc_easy"),
                              "{\"query\": \"Question: Why?\", \"choices\": [\"a\", \"b\"], \"gold\": 0}", "", "arc");
  EXPECT_EQ(arc[0].requests[0].context, "Question: Why?\nAnswer:");
  const auto wino = parse_task(task_spec("winogrande"),
                               "{\"context_options\": [\"A so A\", \"A so B\"], \"continuation\": \"won.\", \"gold\": 1}",
                               "", "wino");
  EXPECT_EQ(wino[0].requests[1].context, "A so B");
  EXPECT_EQ(wino[0].requests[1].continuation, " won.");
}

TEST(ZeroShotTasks, BadFilesGetSpecificErrors) {
  const TaskSpec& arc = task_spec("arc_easy");
  auto error_of = [&](const TaskSpec& spec, const std::string& text, const std::string& labels = "") {
    try {
      parse_task(spec, text, labels, "f.jsonl");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of(arc, "{\"query\": \"Q\", \"choices\": [\"a\", \"b\"], \"gold\": 2}").find("gold 2 is not a choice"),
            std::string::npos);
  EXPECT_NE(error_of(arc, "{\"query\": \"Q\", \"gold\": 0}").find("f.jsonl line 1: missing field \"choices\""),
            std::string::npos);
  EXPECT_NE(error_of(arc, "{oops").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(arc, "").find("no documents"), std::string::npos);
  EXPECT_NE(error_of(task_spec("piqa"), "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}", "2\n")
                .find("expected a label 0 or 1"),
            std::string::npos);
  EXPECT_THROW(task_spec("hellaswag2"), Error);
}

}  // namespace
}  // namespace slmkit
