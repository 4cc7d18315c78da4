// Speed of the runtime's linear kernels (LibTorch-free), in one process so the
// machine's noise hits the yardstick and the kernels alike.
//
//   bench_kernels [--threads 2] [--rounds 5] [--tokens 512] [--path best|scalar|avx2|avx512vnni]
//                 [--only bandwidth,matvec,model,matmul,pack] [--clock wall|cpu] [--resident 0|1]
//                 [--symmetric 0|1]
//
// bandwidth: STREAM triad and read-only GB/s at --threads.
// matvec:    y = W x on TinyLlama-1.1B shapes, int4 g32 / int8 g32 (asymmetric) and fp16;
//            every round cycles through enough copies of each matrix (≥ 512 MB) that
//            the weights stream from DRAM as in a real decode; GB/s of weight bytes
//            and the fraction of that round's triad bandwidth. --resident 1: one copy
//            only, so small shapes run from cache (the kernels' compute ceiling).
// model:     all linears of one TinyLlama-1.1B decode step (22 layers: fused q/k/v,
//            o, fused gate/up, down; int4 g32), without lm_head, with an fp16 one and
//            with it quantized to int8 at load: tokens/s of the linear part and GB/s.
// matmul:    Y = X Wᵀ for --tokens rows on the TinyLlama shapes: GFLOP/s (2·n·in·out / s),
//            and Eigen's fp32 GEMM on the same shapes as an in-process yardstick.
// pack:      pack_gptq's load-time cost on the same shapes.
// Medians over rounds are printed; each round measures the yardstick first.
// Eigen's AVX-512 GEMM trips GCC 12's -Wmaybe-uninitialized (false positives).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "core/dtype.h"
#include "runtime/kernels_bandwidth.h"
#include "runtime/linear_kernels.h"

namespace {

using namespace slmkit;
using namespace slmkit::runtime;

// --clock cpu: process CPU seconds divided by the thread count instead of wall
// seconds. On a shared machine this discounts the time other processes held
// the cores (with OMP_WAIT_POLICY=passive, so idle threads burn nothing); it
// cannot undo their use of caches and memory bandwidth.
bool g_cpu_clock = false;
int g_threads = 1;

double now_s() {
  if (g_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec)) / g_threads;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// xorshift: fast enough to fill gigabytes.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  void fill(uint8_t* p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const uint64_t v = next();
      std::memcpy(p + i, &v, 8);
    }
    for (; i < n; ++i) p[i] = static_cast<uint8_t>(next());
  }
};

template <typename T>
std::shared_ptr<T> aligned(size_t count) {
  const size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
  return std::shared_ptr<T>(static_cast<T*>(std::aligned_alloc(64, bytes)), [](T* p) { std::free(p); });
}

// A quantized layer with random codes in the kernels' layout, built directly
// (pack_gptq's cost is not what is measured here). in must be a multiple of 64;
// contiguous groups of 32.
PackedLinear random_quantized(int bits, int64_t out, int64_t in, bool symmetric, uint64_t seed) {
  Rng rng{seed * 0x9E3779B97F4A7C15ull + 1};
  PackedLinear w;
  w.out_features = out;
  w.in_features = in;
  w.bits = bits;
  w.format = bits == 8 ? WeightFormat::kInt8 : WeightFormat::kInt4;
  w.n_blocks = in / 32;
  w.k_padded = in;
  w.code_row_bytes = bits == 8 ? in : in / 2;
  auto codes = aligned<uint8_t>(static_cast<size_t>(out * w.code_row_bytes));
  rng.fill(codes.get(), static_cast<size_t>(out * w.code_row_bytes));
  auto scales = aligned<uint16_t>(static_cast<size_t>(out * w.n_blocks));
  for (int64_t i = 0; i < out * w.n_blocks; ++i) scales.get()[i] = f32_to_f16(0.001f + 0.01f * static_cast<float>(rng.next() % 1000) / 1000.0f);
  w.codes = codes;
  w.scales = scales;
  if (symmetric) {
    w.uniform_zero = 1 << (bits - 1);
  } else {
    w.zero_row_bytes = bits == 8 ? w.n_blocks : w.n_blocks / 2;
    auto zeros = aligned<uint8_t>(static_cast<size_t>(out * w.zero_row_bytes));
    rng.fill(zeros.get(), static_cast<size_t>(out * w.zero_row_bytes));
    w.zeros = zeros;
  }
  return w;
}

PackedLinear random_f16(int64_t out, int64_t in, uint64_t seed) {
  Rng rng{seed * 0x9E3779B97F4A7C15ull + 7};
  std::vector<uint16_t> h(static_cast<size_t>(out * in));
  for (auto& v : h) v = f32_to_f16(static_cast<float>(static_cast<int64_t>(rng.next() % 2001) - 1000) * 1e-5f);
  return pack_dense(h.data(), DType::F16, out, in);
}

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  Rng rng{seed + 11};
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = static_cast<float>(static_cast<int64_t>(rng.next() % 2001) - 1000) * 1e-3f;
  return v;
}

struct Shape {
  const char* name;
  int64_t out, in;
};
const Shape kTinyLlama[] = {{"q/o 2048x2048", 2048, 2048}, {"k/v 256x2048", 256, 2048}, {"gate/up 5632x2048", 5632, 2048},
                            {"down 2048x5632", 2048, 5632}, {"lm_head 32000x2048", 32000, 2048}};

struct Format {
  const char* name;
  int bits;  // 0: fp16 dense
};
const Format kFormats[] = {{"int4 g32", 4}, {"int8 g32", 8}, {"fp16", 0}};

PackedLinear make(const Format& f, const Shape& s, bool symmetric, uint64_t seed) {
  return f.bits ? random_quantized(f.bits, s.out, s.in, symmetric, seed) : random_f16(s.out, s.in, seed);
}

struct Options {
  int threads = 2, rounds = 5;
  int64_t tokens = 512;
  std::string only = "bandwidth,matvec,model,matmul,pack";
  bool resident = false;  // matvec on one cache-resident copy: the kernels' compute ceiling
  bool symmetric = false;  // quantized layers without zero points (4.5 bits/weight at int4 g32, like Q4_0)
  bool want(const char* s) const { return only.find(s) != std::string::npos; }
};

void bench_bandwidth(const Options& o) {
  std::vector<double> triad, read;
  for (int r = 0; r < o.rounds; ++r) {
    triad.push_back(measure_triad_bandwidth_gbs(o.threads));
    read.push_back(measure_read_bandwidth_gbs(o.threads));
  }
  std::printf("bandwidth  %d threads: triad %.1f GB/s, read-only %.1f GB/s (medians of %d)\n", o.threads, median(triad),
              median(read), o.rounds);
}

void bench_matvec(const Options& o) {
  std::printf("\nmatvec (decode), %d threads, path %s; GB/s of weight bytes, %% of the same round's triad\n", o.threads,
              simd_path_name(active_simd_path()));
  std::printf("%-20s %-9s %9s %9s %8s %8s\n", "shape", "format", "MB", "GB/s", "%triad", "us/call");
  const int64_t kStreamBytes = int64_t{512} << 20;
  for (const Format& f : kFormats)
    for (const Shape& s : kTinyLlama) {
      if (!f.bits && s.out != 32000 && s.out != 2048) continue;  // fp16: lm_head and one square layer
      std::vector<PackedLinear> copies;
      copies.push_back(make(f, s, o.symmetric, 1));
      const int64_t bytes = copies[0].weight_bytes();
      const int64_t n_copies = o.resident ? 1 : std::max<int64_t>(1, (kStreamBytes + bytes - 1) / bytes);
      for (int64_t c = 1; c < n_copies; ++c) copies.push_back(make(f, s, o.symmetric, static_cast<uint64_t>(c + 1)));
      const std::vector<float> x = random_floats(s.in, 3);
      std::vector<float> y(static_cast<size_t>(s.out));
      std::vector<double> gbs, ratio, us;
      for (auto& w : copies) matvec(w, x.data(), nullptr, y.data());  // warm-up: page faults, scratch
      for (int r = 0; r < o.rounds; ++r) {
        const double triad = measure_triad_bandwidth_gbs(o.threads, int64_t{64} << 20, 3);
        const int passes = std::max<int64_t>(1, (int64_t{1} << 30) / (bytes * n_copies));
        const double t0 = now_s();
        for (int p = 0; p < passes; ++p)
          for (auto& w : copies) matvec(w, x.data(), nullptr, y.data());
        const double sec = now_s() - t0, calls = static_cast<double>(passes * n_copies);
        gbs.push_back(static_cast<double>(bytes) * calls / sec / 1e9);
        ratio.push_back(gbs.back() / triad);
        us.push_back(sec / calls * 1e6);
      }
      std::printf("%-20s %-9s %9.2f %9.1f %7.0f%% %8.1f\n", s.name, f.name, static_cast<double>(bytes) / 1e6, median(gbs),
                  100.0 * median(ratio), median(us));
    }
}

void bench_model(const Options& o) {
  struct Layer {
    PackedLinear q, k, v, o, gate, up, down;
  };
  constexpr int kLayers = 22;
  std::vector<Layer> layers(kLayers);
  int64_t bytes = 0;
  uint64_t seed = 100;
  for (Layer& l : layers) {
    l.q = random_quantized(4, 2048, 2048, o.symmetric, ++seed);
    l.k = random_quantized(4, 256, 2048, o.symmetric, ++seed);
    l.v = random_quantized(4, 256, 2048, o.symmetric, ++seed);
    l.o = random_quantized(4, 2048, 2048, o.symmetric, ++seed);
    l.gate = random_quantized(4, 5632, 2048, o.symmetric, ++seed);
    l.up = random_quantized(4, 5632, 2048, o.symmetric, ++seed);
    l.down = random_quantized(4, 2048, 5632, o.symmetric, ++seed);
    for (const PackedLinear* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) bytes += w->weight_bytes();
  }
  const PackedLinear head_f16 = random_f16(32000, 2048, 999), head_i8 = quantize_dense_rtn(head_f16, 8);
  const std::vector<float> x = random_floats(5632, 5);
  std::vector<float> q(2048), k(256), v(256), h(2048), g(5632), u(5632), logits(32000);
  auto step = [&](const PackedLinear* head) {
    for (Layer& l : layers) {
      const MatvecTask qkv[3] = {{&l.q, nullptr, q.data()}, {&l.k, nullptr, k.data()}, {&l.v, nullptr, v.data()}};
      matvec_fused(qkv, 3, x.data());
      matvec(l.o, x.data(), nullptr, h.data());
      const MatvecTask gu[2] = {{&l.gate, nullptr, g.data()}, {&l.up, nullptr, u.data()}};
      matvec_fused(gu, 2, x.data());
      matvec(l.down, x.data(), nullptr, h.data());
    }
    if (head) matvec(*head, x.data(), nullptr, logits.data());
  };
  std::printf("\nmodel: TinyLlama-1.1B decode step, linears only, %d threads, path %s\n", o.threads,
              simd_path_name(active_simd_path()));
  std::printf("  22 layers: int4 g32 %s, %.0f MB; medians of %d rounds\n", o.symmetric ? "symmetric" : "asymmetric",
              static_cast<double>(bytes) / 1e6, o.rounds);
  for (const PackedLinear* head : {static_cast<const PackedLinear*>(nullptr), &head_f16, &head_i8}) {
    const int64_t total = bytes + (head ? head->weight_bytes() : 0);
    step(head);
    std::vector<double> tps, gbs, ratio;
    for (int r = 0; r < o.rounds; ++r) {
      const double triad = measure_triad_bandwidth_gbs(o.threads, int64_t{64} << 20, 3);
      constexpr int kSteps = 10;
      const double t0 = now_s();
      for (int s = 0; s < kSteps; ++s) step(head);
      const double sec = (now_s() - t0) / kSteps;
      tps.push_back(1.0 / sec);
      gbs.push_back(static_cast<double>(total) / sec / 1e9);
      ratio.push_back(gbs.back() / triad);
    }
    const char* name = !head ? "no lm_head" : (head == &head_f16 ? "+ lm_head fp16" : "+ lm_head int8 RTN");
    std::printf("  %-20s %6.0f MB: %6.1f tokens/s, %5.1f GB/s = %3.0f%% of triad\n", name, static_cast<double>(total) / 1e6,
                median(tps), median(gbs), 100.0 * median(ratio));
  }
}

void bench_matmul(const Options& o) {
  std::printf("\nmatmul (prefill), %lld tokens, %d threads, path %s; GFLOP/s = 2*n*in*out/s\n",
              static_cast<long long>(o.tokens), o.threads, simd_path_name(active_simd_path()));
  std::printf("%-20s %10s %10s %10s %12s %9s\n", "shape", "int4 g32", "int8 g32", "fp16", "Eigen fp32", "int4/Eigen");
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  for (const Shape& s : kTinyLlama) {
    if (s.out == 32000) continue;  // prefill needs the lm_head for the last token only
    const PackedLinear w4 = random_quantized(4, s.out, s.in, false, 21), w8 = random_quantized(8, s.out, s.in, false, 22),
                       wh = random_f16(s.out, s.in, 23);
    const std::vector<float> x = random_floats(o.tokens * s.in, 24);
    std::vector<float> y(static_cast<size_t>(o.tokens * s.out));
    RowMajor wf = RowMajor::Random(s.out, s.in), xf = RowMajor::Random(o.tokens, s.in), yf(o.tokens, s.out);
    const double flops = 2.0 * static_cast<double>(o.tokens) * static_cast<double>(s.in) * static_cast<double>(s.out);
    auto time = [&](const std::function<void()>& f) {
      const double t0 = now_s();
      f();
      return flops / (now_s() - t0) / 1e9;
    };
    std::vector<double> r4, r8, rh, re, ratio;
    matmul(w4, x.data(), o.tokens, nullptr, y.data());
    for (int r = 0; r < o.rounds; ++r) {
      re.push_back(time([&] { yf.noalias() = xf * wf.transpose(); }));
      r4.push_back(time([&] { matmul(w4, x.data(), o.tokens, nullptr, y.data()); }));
      r8.push_back(time([&] { matmul(w8, x.data(), o.tokens, nullptr, y.data()); }));
      rh.push_back(time([&] { matmul(wh, x.data(), o.tokens, nullptr, y.data()); }));
      ratio.push_back(r4.back() / re.back());
    }
    std::printf("%-20s %10.1f %10.1f %10.1f %12.1f %8.0f%%\n", s.name, median(r4), median(r8), median(rh), median(re),
                100.0 * median(ratio));
  }
}

// Load-time cost: pack_gptq on GPTQ words of the TinyLlama shapes (random words
// are valid codes; contiguous g_idx), and the whole model's 154 linears extrapolated.
void bench_pack(const Options& o) {
  std::printf("\npack_gptq (load time), %d threads\n", o.threads);
  double model_s = 0.0;
  for (const Shape& s : kTinyLlama) {
    if (s.out == 32000) continue;
    for (int bits : {4, 8}) {
      const int64_t groups = s.in / 32;
      Rng rng{static_cast<uint64_t>(s.out * 31 + bits)};
      std::vector<int32_t> qweight(static_cast<size_t>(s.in * bits / 32 * s.out)), qzeros(static_cast<size_t>(groups * s.out * bits / 32)),
          g_idx(static_cast<size_t>(s.in));
      rng.fill(reinterpret_cast<uint8_t*>(qweight.data()), qweight.size() * 4);
      rng.fill(reinterpret_cast<uint8_t*>(qzeros.data()), qzeros.size() * 4);
      std::vector<uint16_t> scales(static_cast<size_t>(groups * s.out), f32_to_f16(0.01f));
      for (int64_t i = 0; i < s.in; ++i) g_idx[static_cast<size_t>(i)] = static_cast<int32_t>(i / 32);
      GptqTensors t;
      t.bits = bits;
      t.in_features = s.in;
      t.out_features = s.out;
      t.n_groups = groups;
      t.qweight = qweight.data();
      t.qzeros = qzeros.data();
      t.scales = scales.data();
      t.g_idx = g_idx.data();
      std::vector<double> sec;
      for (int r = 0; r < o.rounds; ++r) {
        const double t0 = now_s();
        const PackedLinear w = pack_gptq(t);
        sec.push_back(now_s() - t0);
      }
      std::printf("  %-20s %d-bit: %7.1f ms\n", s.name, bits, 1e3 * median(sec));
      // Per layer: q, o (2048x2048), k, v (256x2048), gate, up (5632x2048), down (2048x5632).
      const int per_layer = s.out == 5632 ? 2 : (s.in == 5632 ? 1 : 2);
      if (bits == 4) model_s += 22.0 * per_layer * median(sec);
    }
  }
  std::printf("  TinyLlama-1.1B, 154 int4 linears: %.1f s\n", model_s);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string path = "best";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--threads") o.threads = std::stoi(v);
    else if (a == "--rounds") o.rounds = std::stoi(v);
    else if (a == "--tokens") o.tokens = std::stoll(v);
    else if (a == "--only") o.only = v;
    else if (a == "--path") path = v;
    else if (a == "--clock") g_cpu_clock = v == "cpu";
    else if (a == "--resident") o.resident = v == "1";
    else if (a == "--symmetric") o.symmetric = v == "1";
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  for (SimdPath p : available_simd_paths())
    if (path == simd_path_name(p)) force_simd_path(p);
  omp_set_num_threads(o.threads);
  g_threads = o.threads;
  Eigen::setNbThreads(o.threads);
  std::printf("bench_kernels: %d threads, SIMD path %s (best available %s), %s clock\n", o.threads,
              simd_path_name(active_simd_path()), simd_path_name(best_simd_path()), g_cpu_clock ? "cpu" : "wall");
  if (o.want("bandwidth")) bench_bandwidth(o);
  if (o.want("matvec")) bench_matvec(o);
  if (o.want("model")) bench_model(o);
  if (o.want("matmul")) bench_matmul(o);
  if (o.want("pack")) bench_pack(o);
  return 0;
}
