// The GPU path (`slmkit generate --device cuda`): the LibTorch reference forward
// with the model moved to the GPU, quantized linears dequantized on the fly
// there. Skipped when this LibTorch has no CUDA or no device is present.
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "model/checkpoint.h"
#include "model/device.h"
#include "model/generate.h"
#include "runtime/runtime_test_util.h"
#include "test_util.h"

namespace slmkit {
namespace {

std::vector<int32_t> greedy(const Model& m, int64_t n) {
  SamplingConfig s;
  s.max_new_tokens = n;
  s.stop_at_eos = false;
  return generate(m, {1}, s, nullptr);
}

TEST(Gpu, DeviceCudaIsAClearErrorWithoutCuda) {
  if (at::hasCUDA()) GTEST_SKIP() << "CUDA is available here";
  const std::string msg = test::error_of([] { parse_device("cuda"); });
  EXPECT_NE(msg.find("no CUDA"), std::string::npos) << msg;
}

TEST(Gpu, DenseAndFourBitGreedyTokensMatchTheCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA: LibTorch built without it or no GPU present";
  const std::string dense = test::data_path("models/stories260k");
  for (const std::string& path : {dense, test::write_rtn_copy(dense, 4, 32)}) {
    const Model cpu = load_model(path);
    Model gpu = load_model(path);
    move_model_to_device(gpu, parse_device("cuda"));
    EXPECT_TRUE(gpu.tensor("model.embed_tokens.weight").is_cuda());
    EXPECT_EQ(greedy(gpu, 48), greedy(cpu, 48)) << path;
  }
}

}  // namespace
}  // namespace slmkit
