// slmkit finetune STUDENT --train-text FILE --out DIR: recovery fine-tuning of a
// compressed model with LoRA adapters (cross-entropy or distillation from the
// uncompressed --teacher), resumable, written as a PEFT adapter.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "eval/perplexity.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "pipeline/finetune.h"
#include "pipeline/finetune_resume.h"
#include "pipeline/lora_adapter.h"
#include "pipeline/output_dir.h"
#include "pipeline/progress.h"

namespace slmkit::cli {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_finetune_stop_signal(int sig) { g_stop_signal = sig; }

// Saves through the resume store, honours SIGINT/SIGTERM (save after the
// current step, then stop) and, for tests, SLMKIT_TEST_KILL_AFTER_STEP=N
// (SIGKILL itself once the state after step N is saved: a real kill at a known point).
class CheckpointAndStop : public FinetuneCheckpoint {
 public:
  CheckpointAndStop(FinetuneResumeStore& store, std::string out_dir, int64_t steps, Progress& progress)
      : store_(store), out_dir_(std::move(out_dir)), steps_(steps), progress_(progress) {
    if (const char* k = std::getenv("SLMKIT_TEST_KILL_AFTER_STEP")) kill_after_ = std::atoll(k);
    std::signal(SIGINT, on_finetune_stop_signal);
    std::signal(SIGTERM, on_finetune_stop_signal);
  }
  ~CheckpointAndStop() override {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
  bool restore(FinetuneState* state) override {
    if (!store_.restore(state)) return false;
    std::fprintf(stderr, "resuming: %lld of %lld steps were finished by the interrupted run (last loss %.4f)\n",
                 static_cast<long long>(state->step), static_cast<long long>(steps_), state->losses.back());
    progress_.skip(state->step);
    return true;
  }
  void save(const FinetuneState& state) override {
    store_.save(state);
    if (state.step == kill_after_) std::raise(SIGKILL);
    SLMKIT_CHECK(g_stop_signal == 0 || state.step == steps_, "stopped by signal ", static_cast<int>(g_stop_signal),
                 " after step ", state.step, " of ", steps_,
                 "; progress is saved: rerun the same command with --resume to continue (output ", out_dir_, ")");
  }
  bool stop_requested() const override { return g_stop_signal != 0; }

 private:
  FinetuneResumeStore& store_;
  std::string out_dir_;
  int64_t steps_;
  Progress& progress_;
  int64_t kill_after_ = -1;
};

}  // namespace

int run_finetune(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string student_path, teacher_path, out_dir, json_path, targets;
  std::vector<std::string> train_texts;
  FinetuneConfig cfg;
  int64_t save_every = 50;
  bool resume = false, force = false, merge = false, quiet = false;
  po::options_description desc("finetune options");
  desc.add_options()
      ("model", po::value<std::string>(&student_path)->required(), "the compressed model to recover (the student)")
      ("teacher", po::value<std::string>(&teacher_path), "the uncompressed model to distil from (needed by kd, kd+ce)")
      ("train-text", po::value<std::vector<std::string>>(&train_texts)->composing(),
       "training text file; repeatable (the token streams are concatenated). Do not train on the text you evaluate on")
      ("out,o", po::value<std::string>(&out_dir)->required(),
       "output directory: PEFT adapter (adapter_config.json + adapter_model.safetensors) and finetune.json")
      ("steps", po::value<int64_t>(&cfg.steps)->default_value(cfg.steps), "optimizer steps")
      ("seq-len", po::value<int64_t>(&cfg.seq_len)->default_value(cfg.seq_len), "tokens per training window")
      ("batch", po::value<int64_t>(&cfg.batch)->default_value(cfg.batch), "windows per micro-batch")
      ("grad-accum", po::value<int64_t>(&cfg.grad_accum)->default_value(cfg.grad_accum), "micro-batches per step")
      ("lr", po::value<double>(&cfg.lr)->default_value(cfg.lr), "peak learning rate (AdamW)")
      ("warmup", po::value<int64_t>(&cfg.warmup_steps)->default_value(cfg.warmup_steps), "linear warm-up steps")
      ("min-lr-ratio", po::value<double>(&cfg.min_lr_ratio)->default_value(cfg.min_lr_ratio),
       "the cosine schedule ends at lr x this")
      ("weight-decay", po::value<double>(&cfg.weight_decay)->default_value(cfg.weight_decay), "AdamW weight decay")
      ("max-grad-norm", po::value<double>(&cfg.max_grad_norm)->default_value(cfg.max_grad_norm),
       "clip the global gradient norm (0 = off)")
      ("loss", po::value<std::string>(&cfg.loss)->default_value(cfg.loss),
       "ce (next-token cross-entropy), kd (KL to the teacher's softened logits) or kd+ce")
      ("temperature", po::value<double>(&cfg.temperature)->default_value(cfg.temperature), "KD temperature")
      ("kd-weight", po::value<double>(&cfg.kd_weight)->default_value(cfg.kd_weight),
       "kd+ce: weight of the KD term (CE gets 1 - this)")
      ("lora-r", po::value<int64_t>(&cfg.lora_rank)->default_value(cfg.lora_rank), "LoRA rank")
      ("lora-alpha", po::value<double>(&cfg.lora_alpha)->default_value(cfg.lora_alpha), "LoRA alpha (scaling alpha/r)")
      ("rslora", po::bool_switch(&cfg.use_rslora), "rank-stabilised scaling alpha/sqrt(r)")
      ("lora-targets", po::value<std::string>(&targets)->default_value("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"),
       "comma-separated block linears to adapt")
      ("seed", po::value<uint64_t>(&cfg.seed)->default_value(cfg.seed), "seed of the adapter init and the data order")
      ("save-every", po::value<int64_t>(&save_every)->default_value(save_every),
       "checkpoint every N steps (and after the last) for --resume; 0 = only at the end")
      ("resume", po::bool_switch(&resume), "continue an interrupted run in --out (same command otherwise)")
      ("force", po::bool_switch(&force), "overwrite an existing output directory (and any interrupted run in it)")
      ("merge", po::bool_switch(&merge),
       "also write the student with the adapter merged into OUT/merged (quantized layers are re-quantized)")
      ("json", po::value<std::string>(&json_path), "also write the training log as JSON here (default OUT/finetune.json)")
      ("quiet,q", po::bool_switch(&quiet), "no progress lines");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit finetune STUDENT --teacher TEACHER --train-text FILE --out DIR [--steps N] "
                        "[--loss kd|ce|kd+ce] [--lora-r 16]",
                  desc, "model", 1, vm))
    return 0;
  apply_threads(common);
  cfg.targets = split_commas(targets);
  check_finetune_config(cfg);
  SLMKIT_CHECK(!train_texts.empty(), "--train-text is required (a text file to train on)");
  SLMKIT_CHECK(cfg.loss == "ce" || !teacher_path.empty(), "--loss ", cfg.loss,
               " distils from the uncompressed model: pass --teacher (or use --loss ce)");
  SLMKIT_CHECK(save_every >= 0, "--save-every must be >= 0");
  const bool interrupted = FinetuneResumeStore::present(out_dir);
  SLMKIT_CHECK(!interrupted || resume || force, out_dir,
               " holds an interrupted finetune run; pass --resume to continue it or --force to start over");
  SLMKIT_CHECK(!(resume && force), "--resume and --force contradict each other: choose one");
  if (interrupted && force) FinetuneResumeStore(out_dir, "").remove();
  prepare_output_dir(out_dir, force || (resume && interrupted));
  if (resume && !interrupted)
    std::fprintf(stderr, "--resume: no interrupted run in %s, starting from the first step\n", out_dir.c_str());

  auto student = load_model_for_cli(student_path, common);
  auto tokenizer = load_tokenizer_for_cli(student_path, common);
  std::unique_ptr<Model> teacher;
  if (cfg.loss != "ce") teacher = load_model_for_cli(teacher_path, common);
  std::vector<int32_t> ids;
  for (const std::string& path : train_texts) {
    const std::vector<int32_t> part = tokenize_for_perplexity(read_text_file(path), *tokenizer, PplProtocol::kGPTQ);
    ids.insert(ids.end(), part.begin(), part.end());
  }
  const at::Tensor tokens = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong);

  FinetuneState state;
  state.adapter = init_finetune_adapter(*student, cfg, student_path);
  std::string texts;
  for (const std::string& t : train_texts) texts += (texts.empty() ? "" : ", ") + t;
  std::fprintf(stderr,
               "finetune %s%s%s: %s trainable parameters (LoRA r %lld on %zu linears) | train %s: %s tokens | "
               "%s tokens per step x %lld steps | loss %s | %d threads\n",
               student_path.c_str(), teacher ? " from teacher " : "", teacher ? teacher_path.c_str() : "",
               with_commas(state.adapter.parameter_count()).c_str(), static_cast<long long>(cfg.lora_rank),
               state.adapter.modules.size(), texts.c_str(), with_commas(tokens.size(0)).c_str(),
               with_commas(cfg.tokens_per_step()).c_str(), static_cast<long long>(cfg.steps), cfg.loss.c_str(),
               at::get_num_threads());

  Progress progress("finetune", cfg.steps, "steps", !quiet);
  FinetuneResumeStore store(out_dir, finetune_job_fingerprint(*student, teacher.get(), tokens, cfg));
  CheckpointAndStop checkpoint(store, out_dir, cfg.steps, progress);
  const FinetuneSummary summary = finetune_lora(
      *student, teacher.get(), tokens, cfg, &state,
      [&](const FinetuneStepReport& r) {
        progress.update(r.step, cat("loss ", r.loss, "  lr ", r.lr, "  ",
                                    with_commas(static_cast<int64_t>(r.tokens / std::max(r.seconds, 1e-9))),
                                    " tok/s"));
      },
      &checkpoint, save_every);
  progress.finish(cat("loss ", summary.first_loss, " -> ", summary.final_loss));

  save_lora_adapter(out_dir, state.adapter, at::kFloat, {{"slmkit.finetune", describe_finetune(cfg)}});
  nlohmann::json merged = nullptr;
  if (merge) {
    const std::string merged_dir = (std::filesystem::path(out_dir) / "merged").string();
    const std::vector<LoraMergeReport> reports = merge_lora_adapter(*student, state.adapter);
    save_model(*student, merged_dir);
    copy_tokenizer_files(student_path, merged_dir);
    double worst = 0;
    for (const auto& r : reports) worst = std::max(worst, r.delta_error);
    std::fprintf(stderr, "merged into %s (worst re-quantization loss of an adapter's change: %.1f%%)\n",
                 merged_dir.c_str(), 100 * worst);
    merged = {{"dir", merged_dir}, {"worst_delta_error", worst}};
  }
  const double rate = summary.seconds > 0 ? static_cast<double>(summary.tokens) / summary.seconds : 0;
  const nlohmann::json log = {{"student", student_path},
                              {"teacher", teacher ? nlohmann::json(teacher_path) : nlohmann::json()},
                              {"train_text", train_texts},
                              {"train_tokens", tokens.size(0)},
                              {"settings", describe_finetune(cfg)},
                              {"trainable_parameters", summary.trainable_parameters},
                              {"steps", cfg.steps},
                              {"resumed_from", summary.resumed_from},
                              {"tokens_this_run", summary.tokens},
                              {"seconds_this_run", summary.seconds},
                              {"tokens_per_second", rate},
                              {"threads", at::get_num_threads()},
                              {"losses", state.losses},
                              {"merged", merged}};
  write_file_atomic(json_path.empty() ? (std::filesystem::path(out_dir) / "finetune.json").string() : json_path,
                    log.dump(2) + "\n");
  store.remove();
  std::printf("finetuned %s: %lld steps (%lld resumed), %s tokens in %.1f s (%.0f tokens/s), loss %.4f -> %.4f, "
              "peak RSS %.0f MiB; adapter written to %s\n",
              student_path.c_str(), static_cast<long long>(cfg.steps), static_cast<long long>(summary.resumed_from),
              with_commas(summary.tokens).c_str(), summary.seconds, rate, summary.first_loss, summary.final_loss,
              peak_rss_bytes() / 1048576.0, out_dir.c_str());
  return 0;
}

}  // namespace slmkit::cli
