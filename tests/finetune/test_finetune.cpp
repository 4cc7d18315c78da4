// Recovery fine-tuning: the forward pass is differentiable (autograd against
// finite differences through every kind of linear input, the in-place SwiGLU
// product included), the losses and schedule are what they claim, training
// lowers the distillation loss and the held-out KL to the teacher, and a run
// interrupted after a checkpoint continues to bit-identical adapters.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "eval/perplexity.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "model/synthetic.h"
#include "pipeline/finetune.h"
#include "pipeline/finetune_resume.h"
#include "pipeline/lora_adapter.h"
#include "quantize/rtn.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {
namespace {

Model tiny_model() {
  ModelConfig c = preset_config("stories260k");
  c.layers.resize(2);
  return synthesize_model(c, 5);
}

at::Tensor ce_loss(const Model& m, const at::Tensor& windows) {
  const int64_t t = windows.size(1) - 1;
  const at::Tensor logits = forward(m, windows.narrow(1, 0, t));
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), windows.narrow(1, 1, t).reshape({-1}));
}

TEST(Finetune, AutogradThroughTheForwardPassMatchesFiniteDifferences) {
  Model m = tiny_model();
  FinetuneConfig cfg;
  cfg.lora_rank = 4;
  cfg.lora_alpha = 4;  // scaling 1: the model stays close enough to linear for central differences
  LoraAdapter adapter = init_finetune_adapter(m, cfg);
  at::Generator gen = at::detail::createCPUGenerator(2);
  for (auto& [name, d] : adapter.modules) {  // B ≠ 0 so that A gets a gradient too
    d.b = at::randn(d.b.sizes(), gen, at::kFloat).mul_(0.1);
    d.a.requires_grad_(true);
    d.b.requires_grad_(true);
  }
  attach_lora_adapter(m, adapter);
  const at::Tensor windows = at::randint(0, m.config.vocab_size, {2, 17}, gen, at::kLong);
  ce_loss(m, windows).backward();
  // q (attention input), o (after attention), gate/up (the in-place SwiGLU product), down.
  for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.o_proj",
                           "model.layers.1.mlp.gate_proj", "model.layers.0.mlp.up_proj", "model.layers.1.mlp.down_proj"}) {
    for (const bool is_a : {true, false}) {
      SCOPED_TRACE(std::string(name) + (is_a ? " A" : " B"));
      at::Tensor p = is_a ? adapter.modules.at(name).a : adapter.modules.at(name).b;
      ASSERT_TRUE(p.grad().defined());
      const at::Tensor dir = at::randn(p.sizes(), gen, at::kFloat);
      const double analytic = (p.grad() * dir).sum().item<double>();
      const double h = 3e-3;  // float32 loss: smaller steps drown in rounding, larger ones in curvature
      double plus = 0, minus = 0;
      {
        at::NoGradGuard no_grad;
        p.add_(dir, h);
        plus = ce_loss(m, windows).item<double>();
        p.add_(dir, -2 * h);
        minus = ce_loss(m, windows).item<double>();
        p.add_(dir, h);
      }
      const double numeric = (plus - minus) / (2 * h);
      // A wrong or missing gradient path is off by O(1); rounding and curvature by a few percent.
      EXPECT_NEAR(analytic, numeric, 5e-2 * std::abs(numeric) + 2e-4);
      EXPECT_GT(std::abs(analytic), 5e-4);  // a real signal, not 0 ≈ 0
    }
  }
}

TEST(Finetune, LossesAreCrossEntropyAndTemperatureScaledKl) {
  const at::Tensor s = at::tensor({1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f}).view({1, 2, 3});
  const at::Tensor t = at::tensor({0.5f, 2.5f, 0.0f, 0.0f, 1.0f, 2.0f}).view({1, 2, 3});
  const at::Tensor targets = at::tensor({1L, 2L}).view({1, 2});
  FinetuneConfig c;
  c.temperature = 2;
  double kl = 0, ce = 0;
  for (int pos = 0; pos < 2; ++pos) {
    double zs = 0, zt = 0;
    for (int v = 0; v < 3; ++v) {
      zs += std::exp(s[0][pos][v].item<double>() / 2);
      zt += std::exp(t[0][pos][v].item<double>() / 2);
    }
    for (int v = 0; v < 3; ++v) {
      const double p = std::exp(t[0][pos][v].item<double>() / 2) / zt;
      const double q = std::exp(s[0][pos][v].item<double>() / 2) / zs;
      kl += p * std::log(p / q);
    }
    double z = 0;
    for (int v = 0; v < 3; ++v) z += std::exp(s[0][pos][v].item<double>());
    ce += -(s[0][pos][targets[0][pos].item<int64_t>()].item<double>() - std::log(z));
  }
  kl = kl / 2 * 4;  // mean over tokens, × T²
  ce /= 2;
  c.loss = "kd";
  EXPECT_NEAR(finetune_loss(s, t, targets, c).item<double>(), kl, 1e-6);
  c.loss = "ce";
  EXPECT_NEAR(finetune_loss(s, t, targets, c).item<double>(), ce, 1e-6);
  c.loss = "kd+ce";
  c.kd_weight = 0.25;
  EXPECT_NEAR(finetune_loss(s, t, targets, c).item<double>(), 0.25 * kl + 0.75 * ce, 1e-6);
  c.loss = "kd";
  EXPECT_NEAR(finetune_loss(t, t, targets, c).item<double>(), 0.0, 1e-7);
}

TEST(Finetune, CosineScheduleWithWarmupAndDeterministicWindows) {
  FinetuneConfig c;
  c.steps = 100;
  c.warmup_steps = 10;
  c.lr = 1e-3;
  c.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(finetune_lr(c, 0), 1e-4);
  EXPECT_DOUBLE_EQ(finetune_lr(c, 9), 1e-3);
  EXPECT_DOUBLE_EQ(finetune_lr(c, 10), 1e-3);
  EXPECT_NEAR(finetune_lr(c, 99), 1e-4, 1e-15);
  for (int64_t s = 11; s < 100; ++s) EXPECT_LT(finetune_lr(c, s), finetune_lr(c, s - 1));

  c.batch = 3;
  c.seq_len = 8;
  const at::Tensor tokens = at::arange(1000, at::kLong);
  const at::Tensor w = finetune_windows(tokens, c, 7);
  ASSERT_EQ(w.sizes(), (at::IntArrayRef{3, 9}));
  EXPECT_TRUE(at::equal(w, finetune_windows(tokens, c, 7)));
  EXPECT_FALSE(at::equal(w, finetune_windows(tokens, c, 8)));
  // Consecutive tokens of the stream, inside it.
  EXPECT_TRUE(at::equal(w.narrow(1, 1, 8) - w.narrow(1, 0, 8), at::ones({3, 8}, at::kLong)));
  EXPECT_LE(w.max().item<int64_t>(), 999);
}

struct Pair {
  Model teacher, student;
  at::Tensor train, held_out;
};

// stories260k as the teacher, its 3-bit RTN (g32) form as the student; trains on
// WikiText-2 validation, holds out WikiText-2 test.
Pair stories_setup() {
  const std::string dir = test::data_path("models/stories260k");
  Pair s{load_model(dir), load_model(dir), {}, {}};
  for (auto& [name, l] : s.student.linears)
    if (name != "lm_head") l.weights = pack_gptq(quantize_rtn(l.dense_weight(), QuantGrid{3, 32, false}));
  const auto tok = load_tokenizer(dir);
  auto tokens_of = [&](const char* rel) {
    const auto ids = tokenize_for_perplexity(read_text_file(test::data_path(rel)), *tok, PplProtocol::kGPTQ);
    return at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong);
  };
  s.train = tokens_of("text/wikitext-2/wiki.valid.tokens");
  s.held_out = tokens_of("text/wikitext-2/wiki.test.tokens").narrow(0, 0, 16 * 129);
  return s;
}

double held_out_kl(const Pair& s) {
  at::NoGradGuard no_grad;
  const at::Tensor w = s.held_out.view({16, 129}).narrow(1, 0, 128);
  FinetuneConfig c;
  c.loss = "kd";
  c.temperature = 1;
  return finetune_loss(forward(s.student, w), forward(s.teacher, w), w, c).item<double>();
}

FinetuneConfig small_run() {
  FinetuneConfig c;
  c.steps = 30;
  c.seq_len = 64;
  c.batch = 4;
  c.lr = 5e-3;
  c.warmup_steps = 3;
  c.lora_rank = 8;
  c.lora_alpha = 16;
  c.loss = "kd";
  c.temperature = 1;
  return c;
}

TEST(Finetune, DistillationLowersTheTrainingLossAndTheHeldOutKl) {
  Pair s = stories_setup();
  const double kl_before = held_out_kl(s);
  const FinetuneConfig c = small_run();
  FinetuneState state;
  state.adapter = init_finetune_adapter(s.student, c);
  const FinetuneSummary sum = finetune_lora(s.student, &s.teacher, s.train, c, &state);
  ASSERT_EQ(state.losses.size(), 30u);
  EXPECT_EQ(sum.steps_run, 30);
  EXPECT_EQ(sum.tokens, 30 * 4 * 64);
  EXPECT_EQ(sum.trainable_parameters, state.adapter.parameter_count());
  // Observed 0.657 -> 0.441 and 0.941 -> 0.396.
  EXPECT_LT(sum.final_loss, 0.75 * sum.first_loss) << sum.first_loss << " -> " << sum.final_loss;
  const double kl_after = held_out_kl(s);  // the adapter stays attached after training
  EXPECT_LT(kl_after, 0.6 * kl_before) << kl_before << " -> " << kl_after;
}

// Throws after the state of `stop_after` steps is saved: an interruption at a known point.
class StopAfter : public FinetuneCheckpoint {
 public:
  StopAfter(FinetuneCheckpoint& inner, int64_t stop_after) : inner_(inner), stop_after_(stop_after) {}
  bool restore(FinetuneState* s) override { return inner_.restore(s); }
  void save(const FinetuneState& s) override {
    inner_.save(s);
    if (s.step == stop_after_) throw Error("interrupted");
  }

 private:
  FinetuneCheckpoint& inner_;
  int64_t stop_after_;
};

TEST(Finetune, ResumedRunGivesBitIdenticalAdaptersAndOtherJobsAreRefused) {
  Pair s = stories_setup();
  FinetuneConfig c = small_run();
  c.steps = 6;
  c.grad_accum = 2;
  const std::string fp = finetune_job_fingerprint(s.student, &s.teacher, s.train, c);

  FinetuneState whole;
  whole.adapter = init_finetune_adapter(s.student, c);
  finetune_lora(s.student, &s.teacher, s.train, c, &whole);

  const std::string out = test::make_temp_dir();
  {
    FinetuneResumeStore store(out, fp);
    StopAfter stop(store, 4);
    FinetuneState cut;
    cut.adapter = init_finetune_adapter(s.student, c);
    EXPECT_NE(test::error_of([&] { finetune_lora(s.student, &s.teacher, s.train, c, &cut, {}, &stop, 2); })
                  .find("interrupted"),
              std::string::npos);
  }
  ASSERT_TRUE(FinetuneResumeStore::present(out));
  {
    // Another job (a different learning rate) must not continue this state.
    FinetuneConfig other = c;
    other.lr *= 2;
    const std::string other_fp = finetune_job_fingerprint(s.student, &s.teacher, s.train, other);
    EXPECT_NE(other_fp, fp);
    FinetuneResumeStore store(out, other_fp);
    FinetuneState st;
    st.adapter = init_finetune_adapter(s.student, other);
    EXPECT_NE(test::error_of([&] { store.restore(&st); }).find("different job"), std::string::npos);
  }
  FinetuneResumeStore store(out, fp);
  FinetuneState resumed;
  resumed.adapter = init_finetune_adapter(s.student, c);
  const FinetuneSummary sum = finetune_lora(s.student, &s.teacher, s.train, c, &resumed, {}, &store, 2);
  EXPECT_EQ(sum.resumed_from, 4);
  EXPECT_EQ(sum.steps_run, 2);
  ASSERT_EQ(resumed.losses.size(), whole.losses.size());
  for (size_t i = 0; i < whole.losses.size(); ++i) EXPECT_EQ(resumed.losses[i], whole.losses[i]) << i;
  for (const auto& [name, d] : whole.adapter.modules) {
    EXPECT_TRUE(at::equal(resumed.adapter.modules.at(name).a, d.a)) << name;
    EXPECT_TRUE(at::equal(resumed.adapter.modules.at(name).b, d.b)) << name;
  }
}

TEST(Finetune, RejectsBadSettings) {
  FinetuneConfig c;
  c.loss = "mse";
  EXPECT_NE(test::error_of([&] { check_finetune_config(c); }).find("--loss"), std::string::npos);
  c = FinetuneConfig{};
  c.targets = {"q_proj", "c_attn"};
  const Model m = tiny_model();
  EXPECT_NE(test::error_of([&] { init_finetune_adapter(m, c); }).find("c_attn"), std::string::npos);
  c = FinetuneConfig{};
  Model student = tiny_model();
  FinetuneState st;
  st.adapter = init_finetune_adapter(student, c);
  EXPECT_NE(test::error_of([&] { finetune_lora(student, nullptr, at::arange(1000), c, &st); }).find("--teacher"),
            std::string::npos);
}

}  // namespace
}  // namespace slmkit
