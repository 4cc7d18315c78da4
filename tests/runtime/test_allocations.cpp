// Decoding allocates nothing per token: once a session exists (and the sampler
// has seen one set of logits), feeding tokens and choosing the next one make no
// heap allocation through operator new. Counted by replacing the global
// operator new of this test binary; counting is off except inside the checked span.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "core/sampling.h"
#include "runtime/decoder_model.h"
#include "runtime/runtime_test_util.h"
#include "runtime/session.h"
#include "test_util.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace slmkit {
namespace {

void expect_no_allocation_per_token(const std::string& path, const SamplingConfig& sampling) {
  const runtime::DecoderModel m = runtime::load_decoder_model(test::data_path(path));
  runtime::SessionOptions o;
  o.capacity = 64;
  o.kv_dtype = runtime::KvDType::kF16;
  runtime::Session s(m, o);
  Sampler sampler(sampling);
  std::vector<int32_t> context = {1, 5, 9};
  context.reserve(64);
  const float* logits = s.forward(context.data(), 3);
  int32_t next = sampler.next(logits, m.config.vocab_size, context);  // sizes the sampler's buffers
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 16; ++i) {
    context.push_back(next);
    logits = s.forward(&next, 1);
    next = sampler.next(logits, m.config.vocab_size, context);
  }
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0) << path;
  EXPECT_EQ(s.position(), 19);
}

TEST(RuntimeAllocations, TheCounterSeesAnAllocation) {
  g_allocations = 0;
  g_counting = true;
  auto* p = new std::vector<float>(100);  // the vector object and its buffer
  g_counting = false;
  delete p;
  EXPECT_EQ(g_allocations.load(), 2);
}

TEST(RuntimeAllocations, NoneWhileDecodingDenseOrQuantizedWithGreedyOrSampling) {
  SamplingConfig sampled;
  sampled.temperature = 0.8;
  sampled.top_k = 40;
  sampled.top_p = 0.9;
  sampled.repetition_penalty = 1.1;
  expect_no_allocation_per_token("models/mixed-en-13m", SamplingConfig{});
  expect_no_allocation_per_token("models/mixed-en-13m", sampled);
  const std::string q = test::write_rtn_copy(test::data_path("models/stories260k"), 4, 32);
  const runtime::DecoderModel m = runtime::load_decoder_model(q);
  runtime::Session s(m, runtime::SessionOptions{32, runtime::KvDType::kF32, 256});
  const int32_t first = 1;
  s.forward(&first, 1);
  g_allocations = 0;
  g_counting = true;
  for (int32_t t = 2; t < 12; ++t) s.forward(&t, 1);
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0);
}

}  // namespace
}  // namespace slmkit
