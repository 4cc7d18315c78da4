// Run-time properties of the kernels: no allocations once warm, results that do
// not depend on the thread count, fused matvecs equal to separate ones, dispatch.
#include <gtest/gtest.h>

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "kernels/gptq_fixture.h"
#include "runtime/kernels_bandwidth.h"
#include "test_util.h"

// Counts every operator new in this binary (the kernels must not call it once warm).
namespace {
std::atomic<int64_t> g_news{0};
}
void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace slmkit::runtime {
namespace {

using test::Grouping;

PackedLinear packed(int bits, int64_t out, int64_t in, int64_t gs, Grouping g, uint32_t seed) {
  const test::IntegerLayer l = test::random_layer(bits, out, in, gs, false, g, seed);
  return pack_gptq(test::pack_words(l).view(l));
}

TEST(KernelRuntime, NoAllocationsOnceWarm) {
  const PackedLinear q = packed(4, 256, 512, 32, Grouping::kContiguous, 1), k = packed(8, 64, 512, 128, Grouping::kActOrder, 2);
  std::vector<uint16_t> h(300 * 512, f32_to_f16(0.5f));
  const PackedLinear d = pack_dense(h.data(), DType::F16, 300, 512);
  const std::vector<float> x = test::random_activations(16 * 512, 3);
  std::vector<float> y(16 * 300);
  for (SimdPath p : available_simd_paths()) {
    force_simd_path(p);
    SCOPED_TRACE(simd_path_name(p));
    reserve_kernel_scratch(512, 16);
    const MatvecTask tasks[3] = {{&q, nullptr, y.data()}, {&k, nullptr, y.data() + 256}, {&d, nullptr, y.data() + 320}};
    const int64_t before = g_news.load();
    for (int rep = 0; rep < 5; ++rep) {
      matvec(q, x.data(), nullptr, y.data());
      matvec(k, x.data(), nullptr, y.data());
      matvec(d, x.data(), nullptr, y.data());
      matvec_fused(tasks, 3, x.data());
      matmul(q, x.data(), 16, nullptr, y.data());
      matmul(k, x.data(), 5, nullptr, y.data());
    }
    EXPECT_EQ(g_news.load() - before, 0) << "operator new calls in warm decode/prefill kernels";
  }
  reset_simd_path();
}

TEST(KernelRuntime, ResultsDoNotDependOnTheThreadCount) {
  const PackedLinear w4 = packed(4, 1001, 777, 32, Grouping::kActOrder, 10), w8 = packed(8, 515, 2048, 128, Grouping::kContiguous, 11);
  const std::vector<float> x = test::random_activations(7 * 2048, 12);
  const int saved = omp_get_max_threads();
  for (SimdPath p : available_simd_paths()) {
    force_simd_path(p);
    SCOPED_TRACE(simd_path_name(p));
    for (const PackedLinear* w : {&w4, &w8}) {
      std::vector<float> one_v(static_cast<size_t>(w->out_features)), one_m(static_cast<size_t>(7 * w->out_features));
      omp_set_num_threads(1);
      matvec(*w, x.data(), nullptr, one_v.data());
      matmul(*w, x.data(), 7, nullptr, one_m.data());
      for (int threads : {2, 3}) {
        omp_set_num_threads(threads);
        std::vector<float> v(one_v.size()), m(one_m.size());
        matvec(*w, x.data(), nullptr, v.data());
        matmul(*w, x.data(), 7, nullptr, m.data());
        EXPECT_EQ(v, one_v) << threads << " threads, matvec";
        EXPECT_EQ(m, one_m) << threads << " threads, matmul";
      }
    }
  }
  omp_set_num_threads(saved);
  reset_simd_path();
}

TEST(KernelRuntime, FusedMatvecEqualsSeparateOnes) {
  // q/k/v-like layers sharing an input order, one act-order layer, one dense.
  const PackedLinear a = packed(4, 128, 320, 32, Grouping::kContiguous, 20), b = packed(4, 32, 320, 32, Grouping::kContiguous, 21),
                     c = packed(8, 48, 320, 64, Grouping::kActOrder, 22);
  const std::vector<float> wd = test::random_activations(40 * 320, 23);
  const PackedLinear d = pack_dense(wd.data(), DType::F32, 40, 320);
  const std::vector<float> x = test::random_activations(320, 24), bias = test::random_activations(128, 25);
  for (SimdPath p : available_simd_paths()) {
    force_simd_path(p);
    SCOPED_TRACE(simd_path_name(p));
    std::vector<float> ya(128), yb(32), yc(48), yd(40);
    const MatvecTask tasks[4] = {{&a, bias.data(), ya.data()}, {&b, nullptr, yb.data()}, {&c, bias.data(), yc.data()}, {&d, nullptr, yd.data()}};
    matvec_fused(tasks, 4, x.data());
    for (const MatvecTask& t : tasks) {
      std::vector<float> sep(static_cast<size_t>(t.w->out_features));
      matvec(*t.w, x.data(), t.bias, sep.data());
      EXPECT_EQ(std::vector<float>(t.y, t.y + t.w->out_features), sep);
    }
  }
  reset_simd_path();
  const std::string msg = test::error_of([&] {
    std::vector<MatvecTask> many(17, MatvecTask{&a, nullptr, nullptr});
    matvec_fused(many.data(), 17, x.data());
  });
  EXPECT_NE(msg.find("at most 16"), std::string::npos) << msg;
}

TEST(KernelRuntime, DispatchNamesAndForcing) {
  const std::vector<SimdPath> paths = available_simd_paths();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.front(), SimdPath::kScalar);
  EXPECT_EQ(best_simd_path(), paths.back());
  EXPECT_EQ(active_simd_path(), best_simd_path());
  force_simd_path(SimdPath::kScalar);
  EXPECT_STREQ(simd_path_name(active_simd_path()), "scalar");
  reset_simd_path();
  EXPECT_EQ(active_simd_path(), best_simd_path());
  if (!simd_path_available(SimdPath::kAvx512Vnni)) {
    const std::string msg = test::error_of([] { force_simd_path(SimdPath::kAvx512Vnni); });
    EXPECT_NE(msg.find("avx512vnni"), std::string::npos) << msg;
  }
}

TEST(KernelRuntime, BandwidthProbesReturnPlausibleRates) {
  // Small arrays: this checks the arithmetic of the probes, not the machine.
  const double triad = measure_triad_bandwidth_gbs(1, 4 << 20, 2), read = measure_read_bandwidth_gbs(1, 8 << 20, 2);
  EXPECT_GT(triad, 0.1);
  EXPECT_LT(triad, 10000.0);
  EXPECT_GT(read, 0.1);
  EXPECT_LT(read, 10000.0);
}

}  // namespace
}  // namespace slmkit::runtime
