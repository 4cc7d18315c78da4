#include "pipeline/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "core/error.h"
#include "model/forward.h"
#include "pipeline/lora_adapter.h"

// Autograd through ATen alone: Tensor::backward, requires_grad_ and
// at::NoGradGuard are enough; the optimizer is the few lines of AdamW below, so
// its state is plain tensors the resume store saves with the adapter (LibTorch's
// torch::optim keys its state by tensor addresses and serialises it itself).

namespace slmkit {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string last_component(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

double mean_of(const std::vector<double>& v, size_t begin, size_t end) {
  if (end <= begin) return 0;
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += v[i];
  return s / static_cast<double>(end - begin);
}

// One trainable tensor with its AdamW moments, in a fixed order.
struct Param {
  std::string key;  // "<module>.lora_A" / "<module>.lora_B"
  at::Tensor value, exp_avg, exp_avg_sq;
};

// torch.optim.AdamW's update (no amsgrad), `step` counting from 1.
void adamw_update(Param& p, const at::Tensor& grad, double lr, int64_t step, const FinetuneConfig& c) {
  const double bc1 = 1 - std::pow(c.beta1, static_cast<double>(step));
  const double bc2 = 1 - std::pow(c.beta2, static_cast<double>(step));
  if (c.weight_decay > 0) p.value.mul_(1 - lr * c.weight_decay);
  p.exp_avg.mul_(c.beta1).add_(grad, 1 - c.beta1);
  p.exp_avg_sq.mul_(c.beta2).addcmul_(grad, grad, 1 - c.beta2);
  const at::Tensor denom = p.exp_avg_sq.sqrt().div_(std::sqrt(bc2)).add_(c.eps);
  p.value.addcdiv_(p.exp_avg, denom, -lr / bc1);
}

}  // namespace

void check_finetune_config(const FinetuneConfig& c) {
  SLMKIT_CHECK(c.steps >= 1, "--steps must be at least 1, found ", c.steps);
  SLMKIT_CHECK(c.seq_len >= 2, "--seq-len must be at least 2, found ", c.seq_len);
  SLMKIT_CHECK(c.batch >= 1 && c.grad_accum >= 1, "--batch and --grad-accum must be at least 1");
  SLMKIT_CHECK(c.lr > 0 && std::isfinite(c.lr), "--lr must be a positive number, found ", c.lr);
  SLMKIT_CHECK(c.warmup_steps >= 0, "--warmup must be >= 0, found ", c.warmup_steps);
  SLMKIT_CHECK(c.min_lr_ratio >= 0 && c.min_lr_ratio <= 1, "--min-lr-ratio must be in [0, 1], found ",
               c.min_lr_ratio);
  SLMKIT_CHECK(c.weight_decay >= 0 && c.max_grad_norm >= 0, "--weight-decay and --max-grad-norm must be >= 0");
  SLMKIT_CHECK(c.loss == "ce" || c.loss == "kd" || c.loss == "kd+ce", "--loss must be ce, kd or kd+ce, found \"",
               c.loss, "\"");
  SLMKIT_CHECK(c.temperature > 0, "--temperature must be positive, found ", c.temperature);
  SLMKIT_CHECK(c.kd_weight >= 0 && c.kd_weight <= 1, "--kd-weight must be in [0, 1], found ", c.kd_weight);
  SLMKIT_CHECK(c.lora_rank >= 1, "--lora-r must be at least 1, found ", c.lora_rank);
  SLMKIT_CHECK(std::isfinite(c.lora_alpha), "--lora-alpha must be a finite number");
  SLMKIT_CHECK(!c.targets.empty(), "--lora-targets names no module");
}

std::string describe_finetune(const FinetuneConfig& c) {
  std::string targets;
  for (const std::string& t : c.targets) targets += (targets.empty() ? "" : ",") + t;
  const bool kd = c.loss != "ce";
  return cat("steps=", c.steps, " seq_len=", c.seq_len, " batch=", c.batch, " grad_accum=", c.grad_accum,
             " lr=", c.lr, " warmup=", c.warmup_steps, " min_lr_ratio=", c.min_lr_ratio,
             " weight_decay=", c.weight_decay, " betas=", c.beta1, ",", c.beta2, " eps=", c.eps,
             " max_grad_norm=", c.max_grad_norm, " loss=", c.loss, kd ? cat(" T=", c.temperature) : "",
             c.loss == "kd+ce" ? cat(" kd_weight=", c.kd_weight) : "", " lora_r=", c.lora_rank,
             " lora_alpha=", c.lora_alpha, c.use_rslora ? " rslora" : "", " targets=", targets, " seed=", c.seed);
}

double finetune_lr(const FinetuneConfig& c, int64_t step) {
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  const int64_t decay_steps = c.steps - c.warmup_steps;
  if (decay_steps <= 1) return c.lr;
  const double progress = static_cast<double>(step - c.warmup_steps) / static_cast<double>(decay_steps - 1);
  const double cosine = 0.5 * (1 + std::cos(M_PI * std::min(progress, 1.0)));
  return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * cosine);
}

at::Tensor finetune_windows(const at::Tensor& tokens, const FinetuneConfig& c, int64_t micro) {
  const int64_t n = tokens.size(0), span = c.seq_len + 1;
  SLMKIT_CHECK(n >= span, "the training text has ", n, " tokens, fewer than one window of ", span,
               " (--seq-len + 1); use a longer text or a shorter --seq-len");
  at::Generator gen = at::detail::createCPUGenerator(splitmix64(c.seed ^ splitmix64(static_cast<uint64_t>(micro))));
  const at::Tensor offsets = at::randint(0, n - span + 1, {c.batch}, gen, at::kLong);
  const at::Tensor index = offsets.unsqueeze(1) + at::arange(span, at::kLong).unsqueeze(0);
  return tokens.to(at::kLong).index_select(0, index.reshape({-1})).view({c.batch, span});
}

LoraAdapter init_finetune_adapter(const Model& model, const FinetuneConfig& c, const std::string& base_model_name) {
  check_finetune_config(c);
  std::set<std::string> available;
  for (const std::string& short_name : model.block_linear_names()) available.insert(last_component(short_name));
  for (const std::string& t : c.targets) {
    std::string names;
    for (const std::string& a : available) names += " " + a;
    SLMKIT_CHECK(available.count(t), "--lora-targets: \"", t, "\" is not a block linear of this model (it has:",
                 names, ")");
  }
  LoraAdapter adapter;
  adapter.config.r = c.lora_rank;
  adapter.config.lora_alpha = c.lora_alpha;
  adapter.config.use_rslora = c.use_rslora;
  adapter.config.target_modules = c.targets;
  adapter.config.base_model_name_or_path = base_model_name;
  const double scaling = lora_scaling(c.lora_alpha, c.lora_rank, c.use_rslora);
  // One generator walked in name order: the initialisation depends on the seed only.
  at::Generator gen = at::detail::createCPUGenerator(splitmix64(c.seed ^ 0x6c6f7261ULL));
  for (const auto& [name, l] : model.linears) {
    if (name == "lm_head" || !std::count(c.targets.begin(), c.targets.end(), last_component(name))) continue;
    adapter.modules.emplace(name, init_lora(l.in_features(), l.out_features(), c.lora_rank, scaling, gen));
  }
  SLMKIT_CHECK(!adapter.modules.empty(), "--lora-targets selects no linear of this model");
  return adapter;
}

at::Tensor finetune_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits, const at::Tensor& targets,
                         const FinetuneConfig& c) {
  const int64_t vocab = student_logits.size(-1);
  const at::Tensor s = student_logits.reshape({-1, vocab});
  at::Tensor ce, kd;
  if (c.loss != "kd") ce = at::cross_entropy_loss(s, targets.reshape({-1}).to(at::kLong));
  if (c.loss != "ce") {
    SLMKIT_ASSERT(teacher_logits.defined() && teacher_logits.size(-1) == vocab, "KD needs teacher logits");
    const double t = c.temperature;
    const at::Tensor log_q = at::log_softmax(s / t, -1);
    const at::Tensor log_p = at::log_softmax(teacher_logits.reshape({-1, vocab}) / t, -1);
    // KL(p_teacher ‖ q_student) per token, averaged; T² keeps the gradient scale
    // independent of the temperature.
    kd = (log_p.exp() * (log_p - log_q)).sum(-1).mean() * (t * t);
  }
  if (c.loss == "ce") return ce;
  if (c.loss == "kd") return kd;
  return kd * c.kd_weight + ce * (1 - c.kd_weight);
}

FinetuneSummary finetune_lora(Model& student, const Model* teacher, const at::Tensor& tokens,
                              const FinetuneConfig& c, FinetuneState* state, const FinetuneProgress& progress,
                              FinetuneCheckpoint* checkpoint, int64_t save_every) {
  check_finetune_config(c);
  SLMKIT_ASSERT(state != nullptr && !state->adapter.modules.empty(), "finetune_lora needs an initialised adapter");
  SLMKIT_CHECK(c.loss == "ce" || teacher != nullptr, "--loss ", c.loss, " distils from a teacher: pass --teacher");
  if (teacher)
    SLMKIT_CHECK(teacher->config.vocab_size == student.config.vocab_size, "the teacher's vocabulary (",
                 teacher->config.vocab_size, ") differs from the student's (", student.config.vocab_size, ")");
  SLMKIT_CHECK(tokens.dim() == 1, "training tokens must be a 1-D sequence");
  const at::Tensor stream = tokens.to(at::kLong).contiguous();

  FinetuneSummary summary;
  if (checkpoint && checkpoint->restore(state)) summary.resumed_from = state->step;
  SLMKIT_CHECK(state->step <= c.steps, "the saved run has finished ", state->step, " steps, more than --steps ",
               c.steps);

  std::vector<Param> params;
  for (auto& [name, d] : state->adapter.modules) {
    for (const bool is_a : {true, false}) {
      at::Tensor& t = is_a ? d.a : d.b;
      t = t.detach().to(at::kFloat).contiguous().requires_grad_(true);
      Param p;
      p.key = name + (is_a ? ".lora_A" : ".lora_B");
      p.value = t;
      auto m = state->exp_avg.find(p.key);
      auto v = state->exp_avg_sq.find(p.key);
      p.exp_avg = m != state->exp_avg.end() ? m->second : at::zeros_like(t.detach());
      p.exp_avg_sq = v != state->exp_avg_sq.end() ? v->second : at::zeros_like(t.detach());
      state->exp_avg[p.key] = p.exp_avg;
      state->exp_avg_sq[p.key] = p.exp_avg_sq;
      summary.trainable_parameters += t.numel();
      params.push_back(std::move(p));
    }
  }
  attach_lora_adapter(student, state->adapter);  // shares the trainable tensors

  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = state->step; step < c.steps; ++step) {
    const double lr = finetune_lr(c, step);
    double loss_sum = 0;
    for (int64_t k = 0; k < c.grad_accum; ++k) {
      const at::Tensor windows = finetune_windows(stream, c, step * c.grad_accum + k);
      const at::Tensor input = windows.narrow(1, 0, c.seq_len);
      const at::Tensor targets = windows.narrow(1, 1, c.seq_len);
      at::Tensor teacher_logits;
      if (c.loss != "ce") {
        at::NoGradGuard no_grad;
        teacher_logits = forward(*teacher, input);
      }
      const at::Tensor loss = finetune_loss(forward(student, input), teacher_logits, targets, c);
      const double value = loss.item<double>();
      SLMKIT_CHECK(std::isfinite(value), "finetune: the loss became ", value, " at step ", step + 1,
                   "; lower --lr (now ", c.lr, ") or --lora-alpha");
      loss.div(static_cast<double>(c.grad_accum)).backward();
      loss_sum += value;
    }
    {
      at::NoGradGuard no_grad;
      double sq = 0;
      for (Param& p : params)
        if (p.value.grad().defined()) sq += p.value.grad().to(at::kDouble).pow(2).sum().item<double>();
      const double norm = std::sqrt(sq);
      // torch.nn.utils.clip_grad_norm_'s rule.
      const double clip = c.max_grad_norm > 0 ? std::min(1.0, c.max_grad_norm / (norm + 1e-6)) : 1.0;
      for (Param& p : params) {
        at::Tensor grad = p.value.grad().defined() ? p.value.grad() : at::zeros_like(p.value);
        if (clip < 1) grad = grad.mul(clip);
        adamw_update(p, grad, lr, step + 1, c);
        p.value.mutable_grad() = at::Tensor();
      }
      state->step = step + 1;
      state->losses.push_back(loss_sum / static_cast<double>(c.grad_accum));
      summary.steps_run += 1;
      summary.tokens += c.tokens_per_step();
      summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (progress) {
        FinetuneStepReport r;
        r.step = state->step;
        r.steps = c.steps;
        r.loss = state->losses.back();
        r.lr = lr;
        r.grad_norm = norm;
        r.tokens = summary.tokens;
        r.seconds = summary.seconds;
        progress(r);
      }
    }
    if (checkpoint && ((save_every > 0 && state->step % save_every == 0) || state->step == c.steps ||
                       checkpoint->stop_requested()))
      checkpoint->save(*state);
  }
  const size_t n = state->losses.size(), w = std::min<size_t>(10, n);
  summary.first_loss = mean_of(state->losses, 0, w);
  summary.final_loss = mean_of(state->losses, n - w, n);
  // Leave plain (non-grad) tensors attached: evaluation after training needs no graph.
  for (auto& [name, d] : state->adapter.modules) {
    d.a = d.a.detach();
    d.b = d.b.detach();
  }
  attach_lora_adapter(student, state->adapter);
  return summary;
}

}  // namespace slmkit
