// finetune --resume: a run killed with SIGKILL right after a checkpoint continues
// from it and writes exactly the adapter bytes an uninterrupted run writes; a
// resume against a different job, or a plain rerun over an interrupted one, is
// refused with a message saying what to do.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/run_slmkit.h"
#include "test_util.h"

namespace slmkit {
namespace {

namespace fs = std::filesystem;
using test::read_all;
using test::run_slmkit;

// The student: stories260k at 3-bit RTN; the teacher: stories260k. A tiny budget.
std::string make_student(const std::string& root) {
  const std::string dir = root + "/student";
  const auto r = run_slmkit({"quantize", test::data_path("models/stories260k"), "--method", "rtn", "--bits", "3",
                             "--group-size", "32", "--calib", test::data_path("text/wikitext-2/wiki.valid.tokens"), "--calib-samples", "4", "--calib-seq-len", "64", "--threads", "1",
                             "-q", "--out", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir;
}

std::vector<std::string> finetune_args(const std::string& student, const std::string& out, const std::string& lr) {
  return {"finetune", student, "--teacher", test::data_path("models/stories260k"), "--train-text",
          test::data_path("text/wikitext-2/wiki.valid.tokens"), "--steps", "6", "--save-every", "2", "--batch", "2",
          "--seq-len", "32", "--grad-accum", "2", "--lora-r", "4", "--lr", lr, "--threads", "1", "-q", "--out", out};
}

std::vector<std::string> with(std::vector<std::string> args, const std::string& extra) {
  args.push_back(extra);
  return args;
}

TEST(FinetuneResume, KilledAfterACheckpointResumesToTheSameAdapterBytes) {
  const std::string root = test::make_temp_dir();
  const std::string student = make_student(root);
  const std::string full = root + "/full", killed = root + "/killed";
  const auto whole = run_slmkit(finetune_args(student, full, "0.005"));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_FALSE(fs::exists(full + "/.slmkit-resume")) << "the resume state is removed once the output is written";

  // SIGKILL right after the state of step 4 (of 6) is saved.
  const auto cut = run_slmkit(finetune_args(student, killed, "0.005"), {"SLMKIT_TEST_KILL_AFTER_STEP=4"});
  ASSERT_EQ(cut.exit_code, 128 + 9) << cut.err;
  EXPECT_FALSE(fs::exists(killed + "/adapter_model.safetensors"));
  const auto state = nlohmann::json::parse(read_all(killed + "/.slmkit-resume/state.json"));
  EXPECT_EQ(state.at("step").get<int>(), 4);
  EXPECT_EQ(state.at("losses").size(), 4u);

  const auto rerun = run_slmkit(finetune_args(student, killed, "0.005"));
  EXPECT_EQ(rerun.exit_code, 1);
  EXPECT_NE(rerun.err.find("holds an interrupted finetune run; pass --resume"), std::string::npos) << rerun.err;
  const auto other = run_slmkit(with(finetune_args(student, killed, "0.01"), "--resume"));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("interrupted run of a different job"), std::string::npos) << other.err;
  ASSERT_TRUE(fs::exists(killed + "/.slmkit-resume/state.json"));

  const auto resumed = run_slmkit(with(finetune_args(student, killed, "0.005"), "--resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming: 4 of 6 steps"), std::string::npos) << resumed.err;
  for (const char* file : {"adapter_model.safetensors", "adapter_config.json"}) {
    const std::string a = read_all(full + "/" + file), b = read_all(killed + "/" + file);
    ASSERT_FALSE(a.empty());
    EXPECT_TRUE(a == b) << file << " differs between the uninterrupted and the resumed run";
  }
  EXPECT_FALSE(fs::exists(killed + "/.slmkit-resume"));
  // The losses of the resumed run's log are the uninterrupted run's.
  const auto log_a = nlohmann::json::parse(read_all(full + "/finetune.json"));
  const auto log_b = nlohmann::json::parse(read_all(killed + "/finetune.json"));
  EXPECT_EQ(log_a.at("losses"), log_b.at("losses"));
  EXPECT_EQ(log_b.at("resumed_from").get<int>(), 4);

  // The adapter applies at evaluation time.
  const auto eval = run_slmkit({"eval", student, "--adapter", full, "--text",
                                test::data_path("text/wikitext-2/wiki.test.raw"), "--seq-len", "128",
                                "--max-windows", "4", "--threads", "1", "-q"});
  EXPECT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_NE(eval.out.find("PPL "), std::string::npos) << eval.out;
}

}  // namespace
}  // namespace slmkit
