// Crash safety, determinism and preflight of `slmkit quantize` (issue 9):
//  * --threads 1 and --threads 2 write byte-identical outputs;
//  * SIGKILL at a random point (seeded, printed), then --resume: the same bytes
//    as an uninterrupted run; SIGTERM stops after the current block with a
//    message saying how to resume;
//  * the disk filling up (a file-size limit, `ulimit -f`) while the output is
//    written leaves the previous output intact, no temporary file, a clear
//    message, and a resumable state;
//  * preflight refusals (memory, disk, output inside the input model), NaN
//    weights, a foreign tokenizer, bad calibration text and task files.
// The job is GPTQ on mixed-en-13m (6 blocks x 7 linears) with a small calibration
// set, so one run takes seconds.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/run_slmkit.h"
#include "eval/tasks.h"
#include "io/safetensors.h"
#include "io/torch_test_builders.h"
#include "test_util.h"

extern char** environ;

namespace slmkit {
namespace {

namespace fs = std::filesystem;
using test::read_all;
using test::RunResult;
using test::run_slmkit;

constexpr int kTensors = 6 * 7;  // mixed-en-13m: 6 blocks of 7 linears

std::vector<std::string> gptq_args(const std::string& out, int threads) {
  return {"quantize", test::data_path("models/mixed-en-13m"), "--method", "gptq", "--bits", "4",
          "--group-size", "32", "--calib-samples", "16", "--calib-seq-len", "128",
          "--threads", std::to_string(threads), "--out", out};
}

std::vector<std::string> with(std::vector<std::string> args, std::initializer_list<std::string> extra) {
  args.insert(args.end(), extra);
  return args;
}

// Runs `argv` (argv[0] is the program) with stderr on a pipe, calling
// `on_line(line, pid)` for every stderr line as it arrives (it may signal the child).
RunResult run_streaming(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                        const std::function<void(const std::string&, pid_t)>& on_line) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::string out_path = test::make_temp_dir() + "/stdout";
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(pipe_fds[1], 2) < 0) ::_exit(126);
    ::close(pipe_fds[0]);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  RunResult r;
  std::string pending;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) {
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      r.err += line + "\n";
      pending.erase(0, nl + 1);
      on_line(line, pid);
    }
  }
  r.err += pending;
  ::close(pipe_fds[0]);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_all(out_path);
  return r;
}

std::vector<std::string> slmkit_argv(const std::vector<std::string>& args) {
  std::vector<std::string> argv{test::slmkit_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// The tensor count a per-tensor progress line reports ("... (17/42)"), or -1.
int tensors_done(const std::string& line) {
  static const std::regex re(R"(\((\d+)/(\d+)\)\s*$)");
  std::smatch m;
  return std::regex_search(line, m, re) ? std::stoi(m[1]) : -1;
}

void expect_same_output(const std::string& a, const std::string& b) {
  for (const char* file : {"model.safetensors", "config.json"}) {
    const std::string x = read_all(a + "/" + file), y = read_all(b + "/" + file);
    ASSERT_FALSE(x.empty()) << a << "/" << file;
    EXPECT_TRUE(x == y) << file << " differs between " << a << " and " << b;
  }
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(e.path().string());
  return found;
}

// One uninterrupted single-threaded run, shared by the tests below.
class QuantizeReliability : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reference_ = new std::string(test::make_temp_dir() + "/reference");
    const RunResult r = run_slmkit(gptq_args(*reference_, 1));
    reference_ok_ = r.exit_code == 0;
    reference_err_ = new std::string(r.err);
    reference_out_ = new std::string(r.out);
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete reference_err_;
    delete reference_out_;
  }
  void SetUp() override { ASSERT_TRUE(reference_ok_) << *reference_err_; }
  static std::string* reference_;
  static std::string* reference_err_;
  static std::string* reference_out_;
  static bool reference_ok_;
};
std::string* QuantizeReliability::reference_ = nullptr;
std::string* QuantizeReliability::reference_err_ = nullptr;
std::string* QuantizeReliability::reference_out_ = nullptr;
bool QuantizeReliability::reference_ok_ = false;

TEST_F(QuantizeReliability, ThreadsOneAndTwoWriteIdenticalBytes) {
  const std::string out = test::make_temp_dir() + "/two_threads";
  const RunResult r = run_slmkit(gptq_args(out, 2));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_output(*reference_, out);
}

// Atomic writes go through mkstemp (mode 0600); outputs must still get the usual
// permissions (0666 minus the umask), like any file the user creates.
TEST_F(QuantizeReliability, OutputsGetTheUsualPermissions) {
  const mode_t umask_bits = ::umask(0);
  ::umask(umask_bits);
  const auto perms = fs::status(*reference_ + "/model.safetensors").permissions();
  EXPECT_EQ(static_cast<unsigned>(perms), 0666u & ~static_cast<unsigned>(umask_bits));
}

TEST_F(QuantizeReliability, SigkillAtARandomPointThenResumeWritesIdenticalBytes) {
  // Seeded and printed, so a failure can be replayed with SLMKIT_TEST_SEED.
  const char* env_seed = std::getenv("SLMKIT_TEST_SEED");
  const uint64_t seed = env_seed ? std::strtoull(env_seed, nullptr, 10)
                                 : static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::mt19937_64 rng(seed);
  const int kill_after = std::uniform_int_distribution<int>(1, kTensors - 1)(rng);
  std::printf("[ seed     ] SLMKIT_TEST_SEED=%llu: SIGKILL once %d of %d tensors are reported (block %d)\n",
              static_cast<unsigned long long>(seed), kill_after, kTensors, (kill_after - 1) / 7);
  RecordProperty("seed", std::to_string(seed));
  RecordProperty("kill_after_tensor", kill_after);

  const std::string out = test::make_temp_dir() + "/killed";
  bool sent = false;
  const RunResult cut = run_streaming(slmkit_argv(gptq_args(out, 1)), {}, [&](const std::string& line, pid_t pid) {
    if (!sent && tensors_done(line) >= kill_after) {
      ::kill(pid, SIGKILL);
      sent = true;
    }
  });
  ASSERT_TRUE(sent) << cut.err;
  ASSERT_EQ(cut.exit_code, 128 + SIGKILL) << cut.err;
  EXPECT_FALSE(fs::exists(out + "/model.safetensors")) << "a killed run must not leave a final output";

  const RunResult resumed = run_slmkit(with(gptq_args(out, 1), {"--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_output(*reference_, out);
  EXPECT_TRUE(temp_files(out).empty());
  EXPECT_FALSE(fs::exists(out + "/.slmkit-resume"));
}

TEST_F(QuantizeReliability, SigtermStopsAfterTheBlockAndSaysHowToResume) {
  const std::string out = test::make_temp_dir() + "/stopped";
  bool sent = false;
  const RunResult stopped = run_streaming(slmkit_argv(gptq_args(out, 1)), {}, [&](const std::string& line, pid_t pid) {
    if (!sent && tensors_done(line) == 10) {  // inside block 1
      ::kill(pid, SIGTERM);
      sent = true;
    }
  });
  ASSERT_EQ(stopped.exit_code, 1) << stopped.err;
  EXPECT_NE(stopped.err.find("stopped by signal 15 after block 1 of 6"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("rerun the same command with --resume"), std::string::npos) << stopped.err;
  const RunResult resumed = run_slmkit(with(gptq_args(out, 1), {"--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming: 2 of 6 blocks"), std::string::npos) << resumed.err;
  expect_same_output(*reference_, out);
}

TEST_F(QuantizeReliability, DiskFullWhileWritingKeepsThePreviousOutput) {
  // The previous output: a complete run's files.
  const std::string out = test::make_temp_dir() + "/out";
  fs::copy(*reference_, out, fs::copy_options::recursive);
  const std::string before = read_all(out + "/model.safetensors");
  ASSERT_GT(before.size(), 30u << 20);

  // A 10 MiB file-size limit (bash counts ulimit -f in KiB): the resume state
  // (2 MiB at most per file) fits, the ~35 MiB model.safetensors does not, so the
  // final write fails part-way.
  std::vector<std::string> argv = {"/bin/bash", "-c", "ulimit -f 10240 && exec \"$@\"", "bash"};
  for (const std::string& a : slmkit_argv(with(gptq_args(out, 1), {"--force"}))) argv.push_back(a);
  const RunResult full = run_streaming(argv, {}, [](const std::string&, pid_t) {});
  ASSERT_EQ(full.exit_code, 1) << full.err;
  EXPECT_NE(full.err.find("model.safetensors: write failed after"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("File too large"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("Nothing was replaced"), std::string::npos) << full.err;
  EXPECT_TRUE(read_all(out + "/model.safetensors") == before) << "the previous output was modified";
  EXPECT_TRUE(temp_files(out).empty()) << temp_files(out).front();

  // The progress survived the failed write: once there is room, --resume finishes.
  ASSERT_TRUE(fs::exists(out + "/.slmkit-resume/state.json"));
  const RunResult resumed = run_slmkit(with(gptq_args(out, 1), {"--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming: 6 of 6 blocks"), std::string::npos) << resumed.err;
  expect_same_output(*reference_, out);
}

// The same for a GGUF export: the previous file (F32, ~52 MB) is intact, no
// temporary is left, and the message says what happened.
TEST(ExportReliability, DiskFullWhileWritingAGgufKeepsThePreviousFile) {
  const std::string dir = test::make_temp_dir();
  const std::string gguf = dir + "/model.gguf";
  const std::string model = test::data_path("models/mixed-en-13m");
  const RunResult first = run_slmkit({"export", model, "--format", "gguf", "--type", "f32", "--out", gguf});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string before = read_all(gguf);
  ASSERT_GT(before.size(), 40u << 20);

  // 10 MiB file-size limit: the ~26 MB F16 file cannot be written whole.
  std::vector<std::string> argv = {"/bin/bash", "-c", "ulimit -f 10240 && exec \"$@\"", "bash"};
  for (const std::string& a : slmkit_argv({"export", model, "--format", "gguf", "--type", "f16", "--force", "--out", gguf}))
    argv.push_back(a);
  const RunResult full = run_streaming(argv, {}, [](const std::string&, pid_t) {});
  EXPECT_EQ(full.exit_code, 1) << full.err;
  EXPECT_NE(full.err.find("model.gguf: write failed after"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("File too large"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("Nothing was replaced"), std::string::npos) << full.err;
  EXPECT_TRUE(read_all(gguf) == before) << "the previous GGUF was modified";
  EXPECT_TRUE(temp_files(dir).empty()) << temp_files(dir).front();
}

// The preflight estimate is printed before any weight is loaded, and it is on
// the high side of what the run really needed (its peak RSS), without being absurd.
TEST_F(QuantizeReliability, PreflightEstimateIsPrintedAndCoversThePeak) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's shadow memory and quarantine inflate the peak RSS; the estimate is for normal builds";
#endif
  std::smatch estimate, rss;
  ASSERT_TRUE(std::regex_search(*reference_err_, estimate,
                                std::regex(R"(preflight \(quantize\): peak memory ~(\d+) MiB)")))
      << *reference_err_;
  ASSERT_TRUE(std::regex_search(*reference_out_, rss, std::regex(R"(peak RSS (\d+) MiB)"))) << *reference_out_;
  const double estimate_mib = std::stod(estimate[1]), peak_mib = std::stod(rss[1]);
  RecordProperty("estimate_mib", std::to_string(estimate_mib));
  RecordProperty("peak_rss_mib", std::to_string(peak_mib));
  EXPECT_GE(estimate_mib, peak_mib) << "the estimate must not promise less memory than the run takes";
  EXPECT_LE(estimate_mib, 3 * peak_mib) << "an estimate this high would refuse runs that fit";
}

// ---------------------------------------------------------------- preflight refusals

std::vector<std::string> rtn_args(const std::string& model, const std::string& out) {
  return {"quantize", model, "--method", "rtn", "--bits", "4", "--group-size", "32", "--calib-samples", "4",
          "--calib-seq-len", "64", "--threads", "1", "-q", "--out", out};
}

TEST(Preflight, NotEnoughMemoryRefusesBeforeWorkUnlessForced) {
  const std::string out = test::make_temp_dir() + "/out";
  const std::string model = test::data_path("models/stories260k");
  const RunResult r = run_slmkit(rtn_args(model, out), {"SLMKIT_TEST_AVAILABLE_MEMORY=1048576"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("refusing to start: not enough memory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("available 1 MiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pass --force to start anyway"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out)) << "nothing may be written before the preflight passes";
  const RunResult forced = run_slmkit(with(rtn_args(model, out), {"--force"}), {"SLMKIT_TEST_AVAILABLE_MEMORY=1048576"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
}

TEST(Preflight, NotEnoughDiskRefuses) {
  const std::string out = test::make_temp_dir() + "/out";
  const RunResult r = run_slmkit(rtn_args(test::data_path("models/stories260k"), out), {"SLMKIT_TEST_AVAILABLE_DISK=1000"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not enough disk space"), std::string::npos) << r.err;
}

// A writable copy of stories260k (links to the shared files) to point --out into.
std::string linked_model_dir() {
  const std::string dir = test::make_temp_dir() + "/model";
  fs::create_directory(dir);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"})
    fs::create_symlink(test::data_path(std::string("models/stories260k/") + f), dir + "/" + f);
  return dir;
}

TEST(Preflight, OutputInsideTheInputModelIsRefused) {
  const std::string model = linked_model_dir();
  RunResult r = run_slmkit(with(rtn_args(model, model + "/quantized"), {"--force"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("lies inside the input model directory"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(model + "/quantized"));
  r = run_slmkit(with(rtn_args(model, model), {"--force"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is the input model directory"), std::string::npos) << r.err;
  r = run_slmkit({"prune", model, "--method", "unstructured", "--criterion", "magnitude", "--out", model + "/./p/.."});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is the input model directory"), std::string::npos) << r.err;
}

TEST(Preflight, NonFiniteWeightIsReportedByTensorName) {
  const std::string model = test::make_temp_dir() + "/nan_model";
  fs::create_directory(model);
  const TensorSet src = read_safetensors(test::data_path("models/stories260k/model.safetensors"));
  std::map<std::string, TensorView> tensors(src.tensors.begin(), src.tensors.end());
  const std::string victim = "model.layers.1.mlp.up_proj.weight";
  TensorView v = tensors.at(victim);
  auto copy = std::make_shared<std::vector<float>>(reinterpret_cast<const float*>(v.data),
                                                   reinterpret_cast<const float*>(v.data) + v.numel());
  (*copy)[7] = std::numeric_limits<float>::quiet_NaN();
  (*copy)[9] = std::numeric_limits<float>::infinity();
  v.data = reinterpret_cast<const uint8_t*>(copy->data());
  v.owner = copy;
  tensors[victim] = v;
  write_safetensors(model + "/model.safetensors", tensors, src.metadata);
  for (const char* f : {"config.json", "tokenizer.model"})
    fs::copy_file(test::data_path(std::string("models/stories260k/") + f), model + "/" + f);
  const RunResult r = run_slmkit(rtn_args(model, test::make_temp_dir() + "/out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tensor '" + victim + "': 2 non-finite values (NaN/Inf; first at flat index 7"),
            std::string::npos) << r.err;
}

TEST(Preflight, TokenizerOfAnotherModelIsRefused) {
  const RunResult r = run_slmkit(with(rtn_args(test::data_path("models/stories260k"), test::make_temp_dir() + "/o"),
                                      {"--tokenizer", test::data_path("tokenizers/llama2/tokenizer.model")}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("has 32000 tokens but"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("has vocab_size 512"), std::string::npos) << r.err;
}

TEST(Preflight, BadCalibrationTextIsRefusedWithItsPosition) {
  const std::string dir = test::make_temp_dir();
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
    return dir + "/" + name;
  };
  const std::string model = test::data_path("models/stories260k");
  struct Case {
    std::string file, fragment;
  } cases[] = {
      {write("empty.txt", ""), "is empty: no text to tokenize (no calibration data)"},
      {write("binary.txt", std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10)), "looks binary: a NUL byte at line 1 byte 7"},
      {write("latin1.txt", "caf\xe9 au lait\n"), "invalid UTF-8 at line 1 byte 3"},
      {write("short.txt", "Only a few words.\n"), "fewer than one window of 64"},
  };
  for (const Case& c : cases) {
    const RunResult r = run_slmkit(with(rtn_args(model, test::make_temp_dir() + "/o"), {"--calib", c.file}));
    EXPECT_EQ(r.exit_code, 1) << c.file;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << r.err;
  }
}

// ---------------------------------------------------------------- task files (JSON lines)

TEST(BadTaskFile, DuplicateKeysWrongTypesGoldOutOfRange) {
  using test::expect_error;
  const TaskSpec& arc = task_spec("arc_easy");
  expect_error([&] { parse_task(arc, R"({"query":"q","query":"r","choices":["a","b"],"gold":0})", "", "arc.jsonl"); },
               {"arc.jsonl line 1", "duplicate key \"query\""});
  expect_error([&] { parse_task(arc, R"({"query":"q","choices":"ab","gold":0})", "", "arc.jsonl"); },
               {"field \"choices\" has the wrong type"});
  // 2^32 + 1 must not wrap to a valid index.
  expect_error([&] { parse_task(arc, R"({"query":"q","choices":["a","b"],"gold":4294967297})", "", "arc.jsonl"); },
               {"gold 4294967297 is not a choice index"});
  expect_error([&] { parse_task(arc, "{\"query\":" + std::string(80, '[') + "}", "", "arc.jsonl"); },
               {"nested more than 64 levels"});
}

}  // namespace
}  // namespace slmkit
