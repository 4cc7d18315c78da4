// Every input a fuzz target (fuzz/) found a bug with, replayed through the same
// reader with the expected clean refusal. The bytes are the finding minus the
// target's own selector byte, where it has one.
#include <gtest/gtest.h>

#include <string>

#include "io/llama2c_checkpoint.h"
#include "io/mapped_file.h"
#include "test_util.h"

namespace slmkit {
namespace {

using namespace std::string_literals;

std::string error_reading_llama2c(const std::string& bytes) {
  return test::error_of([&] { read_llama2c(MappedFile::from_bytes("model.bin", bytes)); });
}

// fuzz_llama2c, crash-fe57d6ca: vocab_size = INT32_MIN ("untied classifier" sign
// convention) was negated, which is undefined behaviour (UBSan: negation of
// -2147483648 cannot be represented in type 'int32_t').
TEST(FuzzFindings, Llama2cVocabSizeInt32Min) {
  const std::string bytes =
      "\xff\xff\x0f\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x0f\x00\x00\x01\x00\x00\x00\x80\x00\x00\x00\x00"s;
  const std::string msg = error_reading_llama2c(bytes);
  EXPECT_NE(msg.find("implausible llama2.c header"), std::string::npos) << msg;
  EXPECT_NE(msg.find("vocab_size=-2147483648"), std::string::npos) << msg;
}

}  // namespace
}  // namespace slmkit
