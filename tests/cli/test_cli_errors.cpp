// The real slmkit binary on bad input: every failure exits non-zero and the
// "slmkit <cmd>: error: ..." line on stderr names the actual reason, so a user
// can fix the file or flag without a debugger. Plus the good paths the error
// tests lean on (inspect on stories260k, --help).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/checkpoint.h"
#include "cli/run_slmkit.h"
#include "test_util.h"

namespace slmkit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::RunResult;
using test::run_slmkit;

// A user error: status 1, the command's error prefix, and the specific reason.
void expect_user_error(const RunResult& r, const std::string& command, const std::string& reason) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("slmkit " + command + ": error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(reason), std::string::npos) << "expected \"" << reason << "\" in:\n" << r.err;
}

const std::string kStories = "models/stories260k";

// A model directory holding stories260k's config.json (valid) and `weights`
// as model.safetensors; the config is only read, so the weights may be junk.
std::string model_dir_with_weights(const std::string& weights) {
  const std::string dir = test::make_temp_dir() + "/model";
  fs::create_directories(dir);
  fs::copy_file(test::data_path(kStories + "/config.json"), dir + "/config.json");
  std::ofstream(dir + "/model.safetensors", std::ios::binary) << weights;
  return dir;
}

std::string le_u64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>(n >> (8 * i));
  return s;
}

// A safetensors file with this header text and `data_bytes` zero bytes after it.
std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  return le_u64(header.size()) + header + std::string(data_bytes, '\0');
}

// A model directory with stories260k's weights and a modified config.json.
std::string model_dir_with_config(const json& config) {
  const std::string dir = test::make_temp_dir() + "/model";
  fs::create_directories(dir);
  fs::copy_file(test::data_path(kStories + "/model.safetensors"), dir + "/model.safetensors");
  std::ofstream(dir + "/config.json") << config.dump(2);
  return dir;
}

json stories_config() {
  std::ifstream in(test::data_path(kStories + "/config.json"));
  return json::parse(in);
}

std::string write_text(const std::string& content) {
  const std::string path = test::make_temp_dir() + "/text.txt";
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// ------------------------------------------------------------ safetensors

TEST(CliErrors, TruncatedSafetensorsHeaderPastEndOfFile) {
  // The length field promises 4096 header bytes; only 40 follow.
  const std::string dir = model_dir_with_weights(le_u64(4096) + std::string(40, ' '));
  expect_user_error(run_slmkit({"inspect", dir}), "inspect", "extends past the end of the file");
  expect_user_error(run_slmkit({"eval", dir, "--text", write_text("hello")}), "eval", "the file is truncated");
}

TEST(CliErrors, OverlappingTensorOffsets) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  const std::string dir = model_dir_with_weights(safetensors_bytes(header, 12));
  expect_user_error(run_slmkit({"inspect", dir}), "inspect", "overlap tensor \"a\"");
}

TEST(CliErrors, OversizedHeaderLength) {
  const std::string dir = model_dir_with_weights(le_u64(200000000) + "{}");
  const RunResult r = run_slmkit({"inspect", dir});
  expect_user_error(r, "inspect", "header too large");
  EXPECT_NE(r.err.find("100000000"), std::string::npos) << "states the limit: " << r.err;
}

// ------------------------------------------------------------ config.json

TEST(CliErrors, ConfigMissingRequiredKey) {
  json c = stories_config();
  c.erase("intermediate_size");
  expect_user_error(run_slmkit({"inspect", model_dir_with_config(c)}), "inspect",
                    "missing required key \"intermediate_size\"");
}

TEST(CliErrors, HeadsThatDoNotDivide) {
  json c = stories_config();
  c["num_key_value_heads"] = 3;  // 8 query heads cannot share 3 KV heads evenly
  c.erase("head_dim");
  expect_user_error(run_slmkit({"inspect", model_dir_with_config(c)}), "inspect",
                    "num_attention_heads (8) is not a multiple of num_key_value_heads (3)");
  c["num_key_value_heads"] = 4;
  c["num_attention_heads"] = 12;  // 64 % 12 != 0
  expect_user_error(run_slmkit({"eval", model_dir_with_config(c), "--text", write_text("hi")}), "eval",
                    "hidden_size (64) is not divisible by num_attention_heads (12)");
}

TEST(CliErrors, UnknownModelType) {
  json c = stories_config();
  c["model_type"] = "falcon";
  const RunResult r = run_slmkit({"inspect", model_dir_with_config(c)});
  expect_user_error(r, "inspect", "model_type \"falcon\" is not supported");
  EXPECT_NE(r.err.find("llama, mistral, qwen2, gpt2"), std::string::npos) << r.err;
}

TEST(CliErrors, ShapeDisagreeingWithConfigNamesTheTensor) {
  json c = stories_config();
  c["intermediate_size"] = 128;  // the weights have 172
  expect_user_error(run_slmkit({"eval", model_dir_with_config(c), "--text", write_text("hi")}), "eval",
                    "model.layers.0.mlp.gate_proj.weight has shape [172, 64], expected [128, 64]");
}

// ------------------------------------------------------------ eval inputs

TEST(CliErrors, EvalWithoutTokenizerNamesIt) {
  // A complete, loadable model whose directory has no tokenizer file.
  const std::string dir = model_dir_with_config(stories_config());
  const RunResult r = run_slmkit({"eval", dir, "--text", write_text("Once upon a time")});
  expect_user_error(r, "eval", "no tokenizer found in " + dir);
  EXPECT_NE(r.err.find("--tokenizer"), std::string::npos) << "says how to fix it: " << r.err;
}

TEST(CliErrors, EvalOnEmptyTextFile) {
  const std::string model = test::data_path(kStories);
  expect_user_error(run_slmkit({"eval", model, "--text", write_text("")}), "eval", "the evaluation text is empty");
  expect_user_error(run_slmkit({"eval", model, "--text", write_text(" \n\n \t\n")}), "eval",
                    "the evaluation text is empty");
}

TEST(CliErrors, NonexistentPaths) {
  const std::string missing = test::make_temp_dir() + "/no/such/model";
  expect_user_error(run_slmkit({"inspect", missing}), "inspect", missing + ": no such file or directory");
  expect_user_error(run_slmkit({"generate", missing}), "generate", "no such file or directory");
  const std::string missing_text = test::make_temp_dir() + "/missing.txt";
  expect_user_error(run_slmkit({"eval", test::data_path(kStories), "--text", missing_text}), "eval",
                    missing_text + ": cannot open");
}

// ------------------------------------------------------------ command line

TEST(CliErrors, UnknownSubcommandExits2WithUsage) {
  const RunResult r = run_slmkit({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command \"frobnicate\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("usage: slmkit <command>"), std::string::npos) << r.err;
  EXPECT_EQ(run_slmkit({}).exit_code, 2) << "no command at all is a usage error too";
}

TEST(CliErrors, BadFlags) {
  const std::string model = test::data_path(kStories);
  expect_user_error(run_slmkit({"eval", model, "--frobnicate"}), "eval", "unrecognised option '--frobnicate'");
  expect_user_error(run_slmkit({"inspect", model, "--threads", "2"}), "inspect", "'--threads'");
  expect_user_error(run_slmkit({"generate", model, "--max-tokens", "lots"}), "generate", "'lots'");
  expect_user_error(run_slmkit({"eval", model, "--protocol", "hellaswag"}), "eval",
                    "unknown perplexity protocol \"hellaswag\"");
  expect_user_error(run_slmkit({"generate", model, "--top-p", "0"}), "generate", "--top-p must be in (0, 1]");
}

// ------------------------------------------------------------ good paths

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

TEST(Cli, InspectStories260k) {
  const std::string model = test::data_path(kStories);
  const RunResult r = run_slmkit({"inspect", model});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("architecture llama: 5 layers, hidden 64"), std::string::npos) << r.out;
  // The count the loaded model reports, which its dimensions fix at 260,032:
  // 512*64 embeddings + 5 * (2*64 + 64*64 + 2*64*32 + 64*64 + 3*64*172) + 64.
  const int64_t params = load_model(model).parameter_count();
  EXPECT_EQ(params, 512 * 64 + 5 * (2 * 64 + 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 172) + 64);
  EXPECT_NE(r.out.find("parameters   " + with_commas(params) + " stored"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model.layers.4.mlp.down_proj.weight"), std::string::npos) << "per-tensor table";
}

TEST(Cli, HelpListsEveryCommand) {
  const RunResult r = run_slmkit({"--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* cmd : {"eval", "inspect", "generate"})
    EXPECT_NE(r.out.find(std::string("\n  ") + cmd + " "), std::string::npos) << cmd << " missing from:\n" << r.out;
}

}  // namespace
}  // namespace slmkit
