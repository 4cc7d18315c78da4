// `slmkit lowrank` end to end on stories260k: the factorized checkpoint it
// writes is what `slmkit eval` reads back, the JSON report keeps the target, and
// bad flags are user errors that say what to change.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/run_slmkit.h"
#include "io/json.h"
#include "test_util.h"

namespace slmkit {
namespace {

using test::RunResult;
using test::run_slmkit;

const std::string kStories = "models/stories260k";

void expect_user_error(const RunResult& r, const std::string& reason) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("slmkit lowrank: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(reason), std::string::npos) << "expected \"" << reason << "\" in:\n" << r.err;
}

TEST(LowRankCli, WritesAFactorizedCheckpointThatEvalReads) {
  const std::string tmp = test::make_temp_dir(), out = tmp + "/factorized", report = tmp + "/report.json";
  const RunResult r = run_slmkit({"lowrank", test::data_path(kStories), "--method", "asvd", "--target", "0.7",
                                  "--calib-samples", "8", "--calib-seq-len", "64", "--threads", "1", "--quiet",
                                  "--out", out, "--json", report},
                                 {"SLMKIT_DATA=" + test::data_dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("factorized"), std::string::npos) << r.out;
  const nlohmann::json j = read_json_file(report);
  EXPECT_EQ(j["method"], "asvd");
  EXPECT_LE(j["block_params_after"].get<int64_t>(), j["target_params"].get<int64_t>());
  EXPECT_GT(j["factorized"].get<int64_t>(), 0);
  for (const auto& l : j["linears"]) {
    if (l["dense"].get<bool>()) continue;
    EXPECT_LE(l["rank"].get<int64_t>(), l["break_even_rank"].get<int64_t>()) << l["name"];
    EXPECT_TRUE(l["relative_error"].is_number()) << l["name"];
  }
  EXPECT_TRUE(read_json_file(out + "/config.json").contains("slmkit_low_rank"));
  const RunResult e = run_slmkit({"eval", out, "--max-windows", "3", "--threads", "1"}, {"SLMKIT_DATA=" + test::data_dir()});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(e.out.find("PPL"), std::string::npos) << e.out;
}

TEST(LowRankCli, BadFlagsAreUserErrors) {
  const std::string out = test::make_temp_dir() + "/never";
  expect_user_error(run_slmkit({"lowrank", test::data_path(kStories), "--out", out, "--method", "tucker"}),
                    "expected svd, asvd or svd-llm");
  expect_user_error(run_slmkit({"lowrank", test::data_path(kStories), "--out", out, "--target", "1.5"}),
                    "--target must be in (0, 1]");
  expect_user_error(run_slmkit({"lowrank", test::data_path(kStories), "--out", out, "--rank-select", "entropy"}),
                    "uniform, energy or error");
  expect_user_error(run_slmkit({"lowrank", test::data_path(kStories), "--out", out, "--method", "svd-llm",
                                "--no-calib"}),
                    "needs calibration activations");
}

}  // namespace
}  // namespace slmkit
