// Strict JSON parsing: duplicate keys rejected at any depth, errors located.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "io/json.h"
#include "test_util.h"

namespace slmkit {
namespace {

using namespace std::string_literals;

// The Error message for parsing `text`, or "" if it parsed.
std::string parse_error(const std::string& text, const std::string& what = "input.json") {
  try {
    parse_json_strict(text, what);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonStrict, ParsesValidDocument) {
  const nlohmann::json j =
      parse_json_strict(R"( {"a": 1, "b": [true, null, {"c": "d"}], "e": {"a": 2.5}} )", "x");
  EXPECT_EQ(j["a"].get<int>(), 1);
  EXPECT_EQ(j["b"][2]["c"].get<std::string>(), "d");
  EXPECT_DOUBLE_EQ(j["e"]["a"].get<double>(), 2.5);
}

TEST(JsonStrict, SameKeyInDifferentObjectsIsFine) {
  const nlohmann::json j = parse_json_strict(R"({"k": {"k": 1}, "l": [{"k": 2}, {"k": 3}]})", "x");
  EXPECT_EQ(j["k"]["k"].get<int>(), 1);
  EXPECT_EQ(j["l"][1]["k"].get<int>(), 3);
}

TEST(JsonStrict, RejectsDuplicateTopLevelKey) {
  const std::string message = parse_error(R"({"a": 1, "a": 2})", "config.json");
  EXPECT_NE(message.find("config.json"), std::string::npos) << message;
  EXPECT_NE(message.find("duplicate key \"a\""), std::string::npos) << message;
  // The second "a" ends at byte 12 ({"a": 1, "a" is 12 characters).
  EXPECT_NE(message.find("byte 12"), std::string::npos) << message;
}

TEST(JsonStrict, RejectsDuplicateNestedKey) {
  const std::string message = parse_error(R"({"outer": {"x": 1, "y": 2, "x": 3}})");
  EXPECT_NE(message.find("duplicate key \"x\""), std::string::npos) << message;
}

TEST(JsonStrict, RejectsDuplicateKeyInsideArrayElement) {
  const std::string message = parse_error(R"([{"ok": 1}, {"dup": 1, "dup": 1}])");
  EXPECT_NE(message.find("duplicate key \"dup\""), std::string::npos) << message;
}

TEST(JsonStrict, DuplicateKeySpelledWithEscapesIsStillDuplicate) {
  // "\u0061" is "a": the comparison is on the decoded key, as a reader sees it.
  const std::string message = parse_error(R"({"a": 1, "\u0061": 2})");
  EXPECT_NE(message.find("duplicate key \"a\""), std::string::npos) << message;
}

TEST(JsonStrict, SyntaxErrorNamesSourceAndBytePosition) {
  const std::string message = parse_error("{\"a\": 1,, \"b\": 2}", "header of m.safetensors");
  EXPECT_NE(message.find("header of m.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("invalid JSON at byte 9"), std::string::npos) << message;
  EXPECT_EQ(message.find("[json.exception"), std::string::npos) << message;
}

TEST(JsonStrict, RejectsTrailingGarbageAndEmptyInput) {
  EXPECT_NE(parse_error(R"({"a": 1} x)").find("invalid JSON"), std::string::npos);
  EXPECT_NE(parse_error("").find("invalid JSON"), std::string::npos);
}

TEST(JsonStrict, RejectsNulByteEvenAfterAValidDocument) {
  // nlohmann alone stops at the NUL and would return {"a": 1}.
  const std::string message = parse_error("{\"a\": 1}\0{\"a\": 2}"s);
  EXPECT_NE(message.find("invalid JSON at byte 9"), std::string::npos) << message;
  EXPECT_NE(message.find("NUL"), std::string::npos) << message;
  EXPECT_NE(parse_error("{\"a\": \"x\0y\"}"s).find("NUL"), std::string::npos);
}

TEST(JsonStrict, RejectsInvalidUtf8InString) {
  const std::string message = parse_error("{\"a\": \"\xff\"}");
  EXPECT_NE(message.find("invalid JSON"), std::string::npos) << message;
}

TEST(JsonStrict, RejectsNumberOverflow) {
  const std::string message = parse_error(R"({"a": 1e400})");
  EXPECT_NE(message.find("input.json"), std::string::npos) << message;
}

TEST(JsonStrict, ReadJsonFileParsesAndNamesPathOnError) {
  const std::string dir = test::make_temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string good = dir + "/good.json";
  const std::string dup = dir + "/dup.json";
  std::ofstream(good) << R"({"weight_map": {"w": "model.safetensors"}})";
  std::ofstream(dup) << R"({"weight_map": {"w": "a", "w": "b"}})";

  EXPECT_EQ(read_json_file(good)["weight_map"]["w"].get<std::string>(), "model.safetensors");
  try {
    read_json_file(dup);
    FAIL() << "duplicate key accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dup), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("duplicate key \"w\""), std::string::npos) << e.what();
  }
  try {
    read_json_file(dir + "/missing.json");
    FAIL() << "missing file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slmkit
