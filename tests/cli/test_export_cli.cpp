// `slmkit export` end to end: per-tensor lines and the summary, a file that
// `slmkit eval` and `slmkit inspect` read back, a refusal to overwrite, and
// specific errors for bad flags and corrupted GGUF inputs.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "cli/run_slmkit.h"
#include "io/gguf.h"
#include "test_util.h"

namespace slmkit {
namespace {

using test::run_slmkit;

TEST(ExportCli, Stories260kQ4_0ReportsEveryTensorAndEvaluates) {
  const std::string out = test::make_temp_dir() + "/s.gguf";
  const test::RunResult r = run_slmkit({"export", test::data_path("models/stories260k"), "--type", "q4_0", "--out", out,
                                        "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // FFN width 172 is not a multiple of 32: ffn_down falls back to f16 and says so.
  EXPECT_NE(r.err.find("blk.0.ffn_down.weight        f16"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("row length 172 is not a multiple of 32"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("blk.0.ffn_gate.weight        q4_0"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("5 fallbacks to a wider type"), std::string::npos) << r.out;
  const GgufFile f = read_gguf(out);
  EXPECT_EQ(f.get_uint("general.file_type"), 2u);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->type, GgmlType::Q8_0);  // tied head, 64-wide rows: q8_0
  const test::RunResult again = run_slmkit({"export", test::data_path("models/stories260k"), "--out", out});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("exists; pass --force"), std::string::npos) << again.err;
  const test::RunResult eval =
      run_slmkit({"eval", out, "--protocol", "llamacpp", "--ctx", "256", "--max-windows", "20", "--threads", "1", "-q"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_NE(eval.out.find("PPL "), std::string::npos) << eval.out;
}

TEST(ExportCli, BadTypeAndCorruptedGgufGetSpecificErrors) {
  const std::string dir = test::make_temp_dir();
  const test::RunResult r =
      run_slmkit({"export", test::data_path("models/stories260k"), "--type", "q3_k", "--out", dir + "/x.gguf"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--type q3_k is not supported"), std::string::npos) << r.err;
  // A GGUF cut in the middle of its tensor data: eval names the file and the problem.
  const std::string good = dir + "/good.gguf";
  ASSERT_EQ(run_slmkit({"export", test::data_path("models/stories260k"), "--type", "f16", "--out", good}).exit_code, 0);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::string cut = dir + "/cut.gguf";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const test::RunResult eval = run_slmkit({"eval", cut, "--max-windows", "1"});
  EXPECT_EQ(eval.exit_code, 1);
  EXPECT_NE(eval.err.find(cut), std::string::npos) << eval.err;
}

}  // namespace
}  // namespace slmkit
