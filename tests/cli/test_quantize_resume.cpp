// quantize --resume: a run killed with SIGKILL after some block continues from
// its saved progress and writes exactly the bytes an uninterrupted run writes;
// a resume against a different job, or a plain rerun over an interrupted one,
// is refused with a message saying what to do.
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

// A small but real job: stories260k (5 blocks), 8 calibration windows of 128 tokens.
std::vector<std::string> quantize_args(const std::string& method, const std::string& out, const std::string& bits) {
  return {"quantize", test::data_path("models/stories260k"), "--method", method, "--bits", bits,
          "--group-size", "32", "--calib-samples", "8", "--calib-seq-len", "128", "--threads", "1", "-q",
          "--out", out};
}

std::vector<std::string> with(std::vector<std::string> args, const std::string& extra) {
  args.push_back(extra);
  return args;
}

void expect_resume_gives_same_bytes(const std::string& method) {
  const std::string root = test::make_temp_dir();
  const std::string full = root + "/full", killed = root + "/killed";
  const auto whole = run_slmkit(quantize_args(method, full, "4"));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_FALSE(fs::exists(full + "/.slmkit-resume")) << "the resume state is removed once the output is written";

  // SIGKILL right after block 2 (of 0..4) is saved.
  const auto cut = run_slmkit(quantize_args(method, killed, "4"), {"SLMKIT_TEST_KILL_AFTER_BLOCK=2"});
  ASSERT_EQ(cut.exit_code, 128 + 9) << cut.err;
  EXPECT_FALSE(fs::exists(killed + "/model.safetensors"));
  const auto state = nlohmann::json::parse(read_all(killed + "/.slmkit-resume/state.json"));
  EXPECT_EQ(state.at("finished_blocks").get<int>(), 3);
  EXPECT_EQ(state.at("reports").size(), 3u * 7u);

  // A plain rerun would throw the saved work away: refused.
  const auto rerun = run_slmkit(quantize_args(method, killed, "4"));
  EXPECT_EQ(rerun.exit_code, 1);
  EXPECT_NE(rerun.err.find("holds an interrupted quantize run; pass --resume"), std::string::npos) << rerun.err;
  // Resuming with different settings would mix two jobs: refused, state kept.
  const auto other = run_slmkit(with(quantize_args(method, killed, "3"), "--resume"));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("interrupted run of a different job"), std::string::npos) << other.err;
  ASSERT_TRUE(fs::exists(killed + "/.slmkit-resume/state.json"));

  const auto resumed = run_slmkit(with(quantize_args(method, killed, "4"), "--resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming: 3 of 5 blocks"), std::string::npos) << resumed.err;
  for (const char* file : {"model.safetensors", "config.json"}) {
    const std::string a = read_all(full + "/" + file), b = read_all(killed + "/" + file);
    ASSERT_FALSE(a.empty());
    EXPECT_TRUE(a == b) << file << " differs between the uninterrupted and the resumed run";
  }
  EXPECT_FALSE(fs::exists(killed + "/.slmkit-resume"));
}

TEST(QuantizeResume, GptqKilledAfterABlockResumesToTheSameBytes) { expect_resume_gives_same_bytes("gptq"); }

// AWQ also rewrites the block's norms and propagates full-precision activations.
TEST(QuantizeResume, AwqKilledAfterABlockResumesToTheSameBytes) { expect_resume_gives_same_bytes("awq"); }

TEST(QuantizeResume, ResumeWithNothingToResumeStartsFresh) {
  const std::string out = test::make_temp_dir() + "/out";
  const auto r = run_slmkit(with(quantize_args("rtn", out, "4"), "--resume"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no interrupted run"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
}

}  // namespace
}  // namespace slmkit
