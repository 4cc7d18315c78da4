// Recovery fine-tuning of a compressed model: LoRA adapters on its linears are
// trained with LibTorch autograd on a token stream, by cross-entropy on the next
// token, by knowledge distillation from the uncompressed teacher (KL between
// temperature-softened distributions), or both. The base weights stay frozen
// (dense, quantized or low-rank alike: the adapter runs unmerged beside them).
//
// Determinism: the adapter initialisation and every micro-batch's windows are
// pure functions of (seed, step), and the optimizer state is checkpointed with
// the adapter, so a resumed run computes what an uninterrupted one does — bit
// for bit with the same build, machine and thread count (multithreaded GEMMs and
// reductions may split work differently for another thread count).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lowrank/lora.h"
#include "model/model.h"

namespace slmkit {

struct FinetuneConfig {
  int64_t steps = 200;         // optimizer steps
  int64_t seq_len = 128;       // tokens per training window (+1 for the shifted targets)
  int64_t batch = 8;           // windows per micro-batch
  int64_t grad_accum = 1;      // micro-batches per optimizer step
  double lr = 1e-3;            // peak learning rate (AdamW)
  int64_t warmup_steps = 10;   // linear warm-up from lr/warmup to lr
  double min_lr_ratio = 0.1;   // the cosine decays to lr·min_lr_ratio at the last step
  double weight_decay = 0;     // AdamW's decoupled decay on the adapter
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double max_grad_norm = 1;    // global gradient-norm clip; 0 = none
  std::string loss = "kd";     // "ce", "kd" or "kd+ce"
  double temperature = 2;      // KD: softmax(logits / T); the KL is scaled by T² (Hinton et al.)
  double kd_weight = 0.5;      // kd+ce: kd_weight·KD + (1 − kd_weight)·CE
  int64_t lora_rank = 16;
  double lora_alpha = 32;
  bool use_rslora = false;
  // Module names (last component, as PEFT's target_modules) to adapt in every block.
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  uint64_t seed = 0;

  int64_t tokens_per_step() const { return batch * grad_accum * seq_len; }
};

// Throws Error for settings out of range (named as the CLI flags).
void check_finetune_config(const FinetuneConfig& config);

// Every setting that changes the result, as one canonical line (fingerprints, logs).
std::string describe_finetune(const FinetuneConfig& config);

// Learning rate of optimizer step `step` (0-based): linear warm-up, then a
// cosine from lr down to lr·min_lr_ratio at the last step.
double finetune_lr(const FinetuneConfig& config, int64_t step);

// The windows of micro-batch `micro` (= step·grad_accum + k): int64 [batch,
// seq_len + 1] at offsets drawn from a generator seeded by (seed, micro).
at::Tensor finetune_windows(const at::Tensor& tokens, const FinetuneConfig& config, int64_t micro);

// A fresh adapter on every block linear whose last name component is in
// config.targets, initialised as PEFT does (B = 0: a no-op), from config.seed.
LoraAdapter init_finetune_adapter(const Model& model, const FinetuneConfig& config,
                                  const std::string& base_model_name = "");

// What the run has done so far: the adapter and AdamW's moments, saved
// together so that training can continue exactly.
struct FinetuneState {
  int64_t step = 0;  // optimizer steps finished
  LoraAdapter adapter;
  std::map<std::string, at::Tensor> exp_avg, exp_avg_sq;  // by "<module>.lora_A" / "<module>.lora_B"
  std::vector<double> losses;                             // per finished step
};

// Where a run keeps its state so a killed run can go on (`finetune --resume`).
class FinetuneCheckpoint {
 public:
  virtual ~FinetuneCheckpoint() = default;
  // Loads saved state into `state` (adapter modules already present, as
  // init_finetune_adapter made them); false when nothing is saved.
  virtual bool restore(FinetuneState* state) = 0;
  virtual void save(const FinetuneState& state) = 0;
  // Checked after every step: when true the state is saved at once (a run
  // asked to stop, e.g. by SIGINT, saves before the checkpoint interval is up).
  virtual bool stop_requested() const { return false; }
};

struct FinetuneStepReport {
  int64_t step = 0;        // steps finished, this one included
  int64_t steps = 0;
  double loss = 0;         // mean loss of this step's micro-batches
  double lr = 0;
  double grad_norm = 0;    // before clipping
  int64_t tokens = 0;      // tokens trained on in this process so far
  double seconds = 0;      // wall time in this process so far
};
using FinetuneProgress = std::function<void(const FinetuneStepReport&)>;

struct FinetuneSummary {
  int64_t steps_run = 0;       // in this process (a resumed run skips the finished ones)
  int64_t resumed_from = 0;    // steps restored from a checkpoint
  int64_t tokens = 0;          // in this process
  double seconds = 0;
  double first_loss = 0, final_loss = 0;  // mean of the first / last min(10, steps) step losses
  int64_t trainable_parameters = 0;
};

// tokens: int32 or int64 [n] training tokens. `teacher` is required for the
// KD losses and must share the student's vocabulary. The student gets
// state->adapter attached (unmerged) for training and keeps it attached
// afterwards. The checkpoint, if any, is restored first and saved every
// `save_every` steps and after the last one.
FinetuneSummary finetune_lora(Model& student, const Model* teacher, const at::Tensor& tokens,
                              const FinetuneConfig& config, FinetuneState* state, const FinetuneProgress& progress = {},
                              FinetuneCheckpoint* checkpoint = nullptr, int64_t save_every = 0);

// The training objective of one micro-batch (exposed for tests): student logits
// [B, T, V] (with autograd), teacher logits or undefined, targets [B, T].
at::Tensor finetune_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits, const at::Tensor& targets,
                         const FinetuneConfig& config);

}  // namespace slmkit
