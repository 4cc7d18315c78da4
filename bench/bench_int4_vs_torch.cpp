// Prefill GEMM rate of the runtime's quantized matmul against LibTorch's fp32
// GEMM (at::linear, OpenBLAS/MKL) on the same shapes, alternating in one
// process so the machine's noise hits both alike.
//
//   bench_int4_vs_torch [--threads 2] [--tokens 512] [--rounds 7]
//
// GFLOP/s = 2·n·in·out / s for both; ratio = runtime / LibTorch per round, median.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/blas_setup.h"
#include "core/dtype.h"
#include "runtime/linear_kernels.h"

namespace {

using namespace slmkit;
using namespace slmkit::runtime;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A symmetric int4/int8 g32 layer from random codes, through the public pack_gptq.
PackedLinear random_gptq(int bits, int64_t out, int64_t in, uint32_t seed) {
  const int64_t groups = in / 32;
  std::vector<int32_t> qweight(static_cast<size_t>(in * bits / 32 * out)), qzeros(static_cast<size_t>(groups * out * bits / 32));
  uint32_t s = seed * 2654435761u + 1;
  for (auto& w : qweight) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    w = static_cast<int32_t>(s);
  }
  // zero − 1 = 2^(bits−1) − 1 in every field: symmetric.
  const uint32_t z = (1u << (bits - 1)) - 1;
  uint32_t word = 0;
  for (int k = 0; k < 32 / bits; ++k) word |= z << (k * bits);
  for (auto& q : qzeros) q = static_cast<int32_t>(word);
  std::vector<uint16_t> scales(static_cast<size_t>(groups * out), f32_to_f16(0.01f));
  GptqTensors t;
  t.bits = bits;
  t.in_features = in;
  t.out_features = out;
  t.n_groups = groups;
  t.group_size = 32;
  t.qweight = qweight.data();
  t.qzeros = qzeros.data();
  t.scales = scales.data();
  return pack_gptq(t);
}

}  // namespace

int main(int argc, char** argv) {
  slmkit::ensure_fast_blas(argc, argv);
  int threads = 2, rounds = 7;
  int64_t tokens = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--threads") threads = std::stoi(v);
    else if (a == "--tokens") tokens = std::stoll(v);
    else if (a == "--rounds") rounds = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  at::set_num_threads(threads);
  omp_set_num_threads(threads);
  std::printf("quantized matmul (%s) vs LibTorch fp32 at::linear (BLAS core %s), %lld tokens, %d threads, %d rounds\n",
              simd_path_name(active_simd_path()), slmkit::blas_core_name(), static_cast<long long>(tokens), threads, rounds);
  std::printf("%-12s %12s %12s %12s %10s %10s\n", "out x in", "torch fp32", "int4 g32", "int8 g32", "int4/fp32",
              "int8/fp32");
  const std::pair<int64_t, int64_t> shapes[] = {{2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}};
  for (const auto& [out, in] : shapes) {
    const at::Tensor w = at::randn({out, in}), x = at::randn({tokens, in});
    const PackedLinear w4 = random_gptq(4, out, in, 1), w8 = random_gptq(8, out, in, 2);
    std::vector<float> y(static_cast<size_t>(tokens * out));
    const double flops = 2.0 * static_cast<double>(tokens * in * out);
    auto rate = [&](const std::function<void()>& f) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      return flops / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1e9;
    };
    const float* xp = x.data_ptr<float>();
    auto run_torch = [&] { at::linear(x, w); };
    auto run4 = [&] { matmul(w4, xp, tokens, nullptr, y.data()); };
    auto run8 = [&] { matmul(w8, xp, tokens, nullptr, y.data()); };
    run_torch();
    run4();
    run8();
    std::vector<double> rt, r4, r8, q4, q8;
    for (int r = 0; r < rounds; ++r) {
      rt.push_back(rate(run_torch));
      r4.push_back(rate(run4));
      r8.push_back(rate(run8));
      q4.push_back(r4.back() / rt.back());
      q8.push_back(r8.back() / rt.back());
    }
    std::printf("%5lld x %-5lld %12.1f %12.1f %12.1f %9.0f%% %9.0f%%\n", static_cast<long long>(out),
                static_cast<long long>(in), median(rt), median(r4), median(r8), 100 * median(q4), 100 * median(q8));
  }
  return 0;
}
