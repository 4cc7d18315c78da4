#include "pipeline/preflight.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace slmkit {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
// config.json, tokenizer files, the report: small next to the weights.
constexpr int64_t kSideFilesBytes = 16 * kMiB;
// What the process holds before any model: LibTorch, OpenBLAS and their buffers
// (a quantize run of the 1 MiB stories260k peaks at ~225 MiB RSS).
constexpr int64_t kRuntimeBytes = 256 * kMiB;

std::string human(int64_t bytes) {
  char buf[32];
  if (bytes < 0) return "unknown";
  if (bytes >= (int64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  else std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / kMiB);
  return buf;
}

// Parameters outside the decoder blocks (embeddings, final norm, untied head).
int64_t non_block_params(const ModelConfig& c) {
  ModelConfig no_blocks = c;
  no_blocks.layers.clear();
  return no_blocks.parameter_count();
}

struct BlockShapes {
  int64_t q_dim = 0, kv_dim = 0, ffn = 0, heads = 0;
};

BlockShapes widest_block(const ModelConfig& c) {
  BlockShapes s;
  for (const LayerDims& l : c.layers) {
    s.q_dim = std::max(s.q_dim, l.num_heads * c.head_dim);
    s.kv_dim = std::max(s.kv_dim, l.num_kv_heads * c.head_dim);
    s.ffn = std::max(s.ffn, l.intermediate_size);
    s.heads = std::max(s.heads, l.num_heads);
  }
  return s;
}

// One chunk of windows through a block: hidden states, MLP intermediates and the
// attention scores (with their softmax), all in float32.
int64_t forward_chunk_bytes(const ModelConfig& c, const CalibrationShape& calib) {
  if (calib.samples <= 0) return 0;
  const BlockShapes s = widest_block(c);
  const int64_t k = std::min(std::max<int64_t>(calib.chunk, 1), calib.samples), L = calib.seq_len;
  return (k * L * (8 * c.hidden_size + 3 * s.ffn) + 2 * k * s.heads * L * L) * 4;
}

// The largest input-statistics matrix of one sequential group (X·Xᵀ over the
// linear's inputs) plus one GPTQ/SparseGPT solve of the largest linear: weight
// copies and ~6 [in, in] float32 matrices (damped copy, Cholesky factor, inverse).
int64_t hessian_solve_bytes(const ModelConfig& c) {
  const BlockShapes s = widest_block(c);
  const int64_t h = c.hidden_size;
  const int64_t max_in = std::max({h, s.q_dim, s.ffn});
  const int64_t largest_linear = std::max({s.q_dim * h, s.ffn * h});
  return max_in * max_in * 4 + 6 * max_in * max_in * 4 + 3 * largest_linear * 4;
}

int64_t activations(const ModelConfig& c, const CalibrationShape& calib, int64_t compute_bytes, int copies) {
  return calib.samples > 0 ? copies * calib.samples * calib.seq_len * c.hidden_size * compute_bytes : 0;
}

int64_t rope_tables_bytes(const ModelConfig& c) { return 2 * c.max_positions * c.head_dim * 4; }

// Bytes of one linear in AutoGPTQ's format: packed codes, packed zero points,
// fp16 scales per group, int32 g_idx.
int64_t gptq_linear_bytes(int64_t out, int64_t in, int bits, int64_t group_size) {
  const int64_t groups = group_size > 0 ? (in + group_size - 1) / group_size : 1;
  const int64_t packed_rows = (in * bits + 31) / 32;
  const int64_t packed_zero_cols = (out * bits + 31) / 32;
  return packed_rows * out * 4 + groups * packed_zero_cols * 4 + groups * out * 2 + in * 4;
}

int64_t env_bytes(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : -1;
}

// MemAvailable, in bytes; -1 if /proc/meminfo is unreadable.
int64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return -1;
}

// What a cgroup memory limit leaves (v2, then v1); -1 when there is none.
int64_t cgroup_memory_left() {
  auto read_number = [](const char* path) -> int64_t {
    std::ifstream in(path);
    std::string v;
    if (!(in >> v) || v == "max") return -1;
    return std::atoll(v.c_str());
  };
  const std::pair<const char*, const char*> files[] = {
      {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
      {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
  for (const auto& [limit_file, usage_file] : files) {
    const int64_t limit = read_number(limit_file), usage = read_number(usage_file);
    // v1 reports "no limit" as a huge number.
    if (limit > 0 && usage >= 0 && limit < (int64_t{1} << 60)) return std::max<int64_t>(0, limit - usage);
  }
  return -1;
}

// Free bytes on the file system that holds `path` or would hold it.
int64_t disk_free(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  while (!p.empty() && !fs::exists(p, ec) && p != p.parent_path()) p = p.parent_path();
  struct statvfs st {};
  if (p.empty() || ::statvfs(p.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

}  // namespace

JobEstimate estimate_quantize(const ModelConfig& c, const CalibrationShape& calib, int bits, int64_t group_size,
                              int64_t compute_bytes, bool awq) {
  JobEstimate e;
  e.job = "quantize";
  e.runtime_bytes = kRuntimeBytes;
  e.model_bytes = c.parameter_count() * compute_bytes + rope_tables_bytes(c);
  e.activation_bytes = activations(c, calib, compute_bytes, awq ? 3 : 2);
  e.block_work_bytes = forward_chunk_bytes(c, calib) + hessian_solve_bytes(c);
  int64_t block_linears = 0, block_other = 0;
  for (const LayerDims& l : c.layers) {
    const int64_t h = c.hidden_size, q = l.num_heads * c.head_dim, kv = l.num_kv_heads * c.head_dim;
    block_linears += gptq_linear_bytes(q, h, bits, group_size) + 2 * gptq_linear_bytes(kv, h, bits, group_size) +
                     gptq_linear_bytes(h, q, bits, group_size) +
                     (c.arch == Arch::kGPT2 ? 1 : 2) * gptq_linear_bytes(l.intermediate_size, h, bits, group_size) +
                     gptq_linear_bytes(h, l.intermediate_size, bits, group_size);
    block_other += 4 * h * compute_bytes;  // norms and biases, generously
  }
  e.output_bytes = non_block_params(c) * compute_bytes + block_linears + block_other + kSideFilesBytes;
  // The resume state holds every finished block and the next block's inputs
  // (twice while a new copy replaces the old one).
  e.checkpoint_bytes = block_linears + block_other + activations(c, calib, compute_bytes, 2);
  return e;
}

JobEstimate estimate_prune(const ModelConfig& c, const CalibrationShape& calib, double keep_fraction,
                           int64_t compute_bytes, bool hessians) {
  JobEstimate e;
  e.job = "prune";
  e.runtime_bytes = kRuntimeBytes;
  e.model_bytes = c.parameter_count() * compute_bytes + rope_tables_bytes(c);
  e.activation_bytes = activations(c, calib, compute_bytes, 2);
  e.block_work_bytes = forward_chunk_bytes(c, calib) + (hessians ? hessian_solve_bytes(c) : 0);
  const int64_t block_params = c.parameter_count() - non_block_params(c);
  const double kept = std::clamp(keep_fraction, 0.0, 1.0);
  e.output_bytes = non_block_params(c) * compute_bytes +
                   static_cast<int64_t>(static_cast<double>(block_params) * kept) * compute_bytes + kSideFilesBytes;
  return e;
}

AvailableResources measure_available(const std::string& output_dir) {
  AvailableResources a;
  a.memory_bytes = env_bytes("SLMKIT_TEST_AVAILABLE_MEMORY");
  if (a.memory_bytes < 0) {
    a.memory_bytes = mem_available();
    const int64_t cgroup = cgroup_memory_left();
    if (cgroup >= 0) a.memory_bytes = a.memory_bytes < 0 ? cgroup : std::min(a.memory_bytes, cgroup);
  }
  a.disk_bytes = env_bytes("SLMKIT_TEST_AVAILABLE_DISK");
  if (a.disk_bytes < 0) a.disk_bytes = disk_free(output_dir);
  return a;
}

std::string describe_preflight(const JobEstimate& e, const AvailableResources& a) {
  return cat("preflight (", e.job, "): peak memory ~", human(e.peak_memory_bytes()), " (runtime ",
             human(e.runtime_bytes), " + model ", human(e.model_bytes),
             " + calibration activations ", human(e.activation_bytes), " + largest block step ",
             human(e.block_work_bytes), "), available ", human(a.memory_bytes), "; disk ~",
             human(e.disk_bytes()), " (output ", human(e.output_bytes), " + resume state ",
             human(e.checkpoint_bytes), "), free ", human(a.disk_bytes));
}

void check_resources(const JobEstimate& e, const AvailableResources& a, bool force) {
  if (force) return;
  const bool memory_short = a.memory_bytes >= 0 && e.peak_memory_bytes() > a.memory_bytes;
  const bool disk_short = a.disk_bytes >= 0 && e.disk_bytes() > a.disk_bytes;
  if (!memory_short && !disk_short) return;
  std::string what;
  if (memory_short)
    what = cat("not enough memory: the ", e.job, " needs ~", human(e.peak_memory_bytes()), " at its peak, ",
               human(a.memory_bytes), " is available");
  if (disk_short)
    what += cat(what.empty() ? "" : "; ", "not enough disk space: the output and resume state need ~",
                human(e.disk_bytes()), ", ", human(a.disk_bytes), " is free");
  throw Error(cat("refusing to start: ", what, " (", describe_preflight(e, a),
                  "). Free some, use fewer/shorter calibration windows or a smaller --chunk, or pass --force to "
                  "start anyway"));
}

void check_output_outside_input(const std::string& model_path, const std::string& output_dir) {
  std::error_code ec;
  const bool input_is_dir = fs::is_directory(model_path, ec);
  // weakly_canonical resolves the existing part (symlinks included); the part
  // that does not exist yet ("new/..") is only normalized lexically.
  const fs::path input = fs::weakly_canonical(fs::absolute(model_path, ec), ec).lexically_normal();
  fs::path output = fs::weakly_canonical(fs::absolute(output_dir, ec), ec).lexically_normal();
  if (!output.empty() && output.filename().empty()) output = output.parent_path();  // "dir/" → "dir"
  if (input.empty() || output.empty()) return;  // nonexistent input: the loader says so
  const fs::path model_dir = input_is_dir ? input : input.parent_path();
  SLMKIT_CHECK(output != input && output != model_dir, "--out ", output_dir, " is the input model ",
               input_is_dir ? "directory" : "file's directory", " (", model_dir.string(),
               "); writing there would replace the files being read. Choose another output directory");
  if (!input_is_dir) return;
  const std::string dir = model_dir.string() + "/";
  SLMKIT_CHECK(output.string().compare(0, dir.size(), dir) != 0, "--out ", output_dir,
               " lies inside the input model directory ", model_dir.string(),
               "; outputs go outside the model they are made from. Choose another output directory");
}

void check_tokenizer_fits_model(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& model_path) {
  SLMKIT_CHECK(tokenizer.vocab_size() <= config.vocab_size, "the tokenizer (", tokenizer.describe(), ") has ",
               tokenizer.vocab_size(), " tokens but ", model_path, " has vocab_size ", config.vocab_size,
               ": token ids >= ", config.vocab_size,
               " have no embedding row. Is it the model's own tokenizer? (pass --tokenizer PATH)");
}

void check_finite_weights(const Model& model) {
  auto check = [](const std::string& name, const at::Tensor& t) {
    if (!t.defined() || !at::isFloatingType(t.scalar_type())) return;
    const at::Tensor bad = at::isfinite(t).logical_not_();
    const int64_t count = bad.sum().item<int64_t>();
    if (count == 0) return;
    const int64_t first = bad.reshape({-1}).nonzero().min().item<int64_t>();
    throw Error(cat("tensor '", name, "': ", count, " non-finite values (NaN/Inf; first at flat index ", first,
                    " of ", t.numel(), "); the checkpoint is corrupt, and quantizing or pruning it would spread ",
                    "them through its block"));
  };
  for (const auto& [name, t] : model.tensors) check(name, t);
  for (const auto& [name, l] : model.linears) {
    if (l.is_dense()) check(name + ".weight", l.dense_weight());
    check(name + ".bias", l.bias);
  }
}

}  // namespace slmkit
