// Random GPTQ layers for the kernel tests, packed into the AutoGPTQ v1 words by
// a packer written here from the format description (independent of both
// src/model/quantized_weights.cpp and src/runtime/kernels_pack.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "runtime/linear_kernels.h"

namespace slmkit::test {

// Unpacked integer weights: w[o, i] = scale[o, g] · (code[o, i] − zero[o, g]), g = g_idx[i].
struct IntegerLayer {
  int bits = 4;
  int64_t out = 0, in = 0, groups = 0, group_size = 0;
  std::vector<int> codes;       // [out, in]
  std::vector<int> zeros;       // [out, groups], in [1, 2^bits]
  std::vector<uint16_t> scales; // [out, groups], fp16 bits
  std::vector<int32_t> g_idx;   // [in]

  double weight(int64_t o, int64_t i) const {
    const int64_t g = g_idx[static_cast<size_t>(i)];
    return static_cast<double>(f16_to_f32(scales[static_cast<size_t>(o * groups + g)])) *
           (codes[static_cast<size_t>(o * in + i)] - zeros[static_cast<size_t>(o * groups + g)]);
  }
};

// The GPTQ tensors of a layer, owning their words.
struct GptqWords {
  std::vector<int32_t> qweight, qzeros, g_idx;
  std::vector<uint16_t> scales;  // [groups, out]
  runtime::GptqTensors view(const IntegerLayer& l, bool with_g_idx = true) const {
    runtime::GptqTensors t;
    t.bits = l.bits;
    t.in_features = l.in;
    t.out_features = l.out;
    t.n_groups = l.groups;
    t.group_size = l.group_size;
    t.qweight = qweight.data();
    t.qzeros = qzeros.data();
    t.scales = scales.data();
    t.g_idx = with_g_idx ? g_idx.data() : nullptr;
    return t;
  }
};

// n values → ceil(n·bits/32) words of a little-endian bit stream (value k at bits [k·bits, (k+1)·bits)).
inline std::vector<uint32_t> bit_stream(const std::vector<uint32_t>& values, int bits) {
  std::vector<uint32_t> words((values.size() * static_cast<size_t>(bits) + 31) / 32, 0);
  for (size_t k = 0; k < values.size(); ++k)
    for (int b = 0; b < bits; ++b)
      if ((values[k] >> b) & 1u) {
        const size_t bit = k * static_cast<size_t>(bits) + static_cast<size_t>(b);
        words[bit / 32] |= 1u << (bit % 32);
      }
  return words;
}

inline GptqWords pack_words(const IntegerLayer& l) {
  GptqWords w;
  const int64_t qrows = (l.in * l.bits + 31) / 32, zcols = (l.out * l.bits + 31) / 32;
  w.qweight.assign(static_cast<size_t>(qrows * l.out), 0);
  for (int64_t o = 0; o < l.out; ++o) {  // along the input dim, one stream per output column
    std::vector<uint32_t> v(static_cast<size_t>(l.in));
    for (int64_t i = 0; i < l.in; ++i) v[static_cast<size_t>(i)] = static_cast<uint32_t>(l.codes[static_cast<size_t>(o * l.in + i)]);
    const auto words = bit_stream(v, l.bits);
    for (int64_t r = 0; r < qrows; ++r) w.qweight[static_cast<size_t>(r * l.out + o)] = static_cast<int32_t>(words[static_cast<size_t>(r)]);
  }
  w.qzeros.assign(static_cast<size_t>(l.groups * zcols), 0);
  for (int64_t g = 0; g < l.groups; ++g) {  // along the output dim, zero − 1
    std::vector<uint32_t> v(static_cast<size_t>(l.out));
    for (int64_t o = 0; o < l.out; ++o) v[static_cast<size_t>(o)] = static_cast<uint32_t>(l.zeros[static_cast<size_t>(o * l.groups + g)] - 1);
    const auto words = bit_stream(v, l.bits);
    for (int64_t c = 0; c < zcols; ++c) w.qzeros[static_cast<size_t>(g * zcols + c)] = static_cast<int32_t>(words[static_cast<size_t>(c)]);
  }
  w.scales.assign(static_cast<size_t>(l.groups * l.out), 0);
  for (int64_t g = 0; g < l.groups; ++g)
    for (int64_t o = 0; o < l.out; ++o) w.scales[static_cast<size_t>(g * l.out + o)] = l.scales[static_cast<size_t>(o * l.groups + g)];
  w.g_idx = l.g_idx;
  return w;
}

enum class Grouping { kContiguous, kActOrder };

// Random codes, zero points (symmetric: all 2^(bits−1)), fp16 scales of both signs.
// group_size ≤ 0: one group per row. Act-order: a random permutation assigns
// group_size columns to each group (GPTQ desc_act), the last group partial.
inline IntegerLayer random_layer(int bits, int64_t out, int64_t in, int64_t group_size, bool symmetric, Grouping grouping,
                                 uint32_t seed) {
  std::mt19937 rng(seed);
  IntegerLayer l;
  l.bits = bits;
  l.out = out;
  l.in = in;
  l.group_size = group_size > 0 ? group_size : in;
  l.groups = (in + l.group_size - 1) / l.group_size;
  const int maxq = (1 << bits) - 1;
  std::uniform_int_distribution<int> code(0, maxq), zero(1, maxq + 1);
  std::uniform_real_distribution<float> mag(0.002f, 0.05f);
  l.codes.resize(static_cast<size_t>(out * in));
  for (int& c : l.codes) c = code(rng);
  l.zeros.resize(static_cast<size_t>(out * l.groups));
  for (int& z : l.zeros) z = symmetric ? 1 << (bits - 1) : zero(rng);
  l.scales.resize(static_cast<size_t>(out * l.groups));
  for (uint16_t& s : l.scales) s = f32_to_f16((rng() % 8 == 0 ? -1.0f : 1.0f) * mag(rng));
  l.g_idx.resize(static_cast<size_t>(in));
  std::vector<int32_t> perm(static_cast<size_t>(in));
  for (int64_t i = 0; i < in; ++i) perm[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  if (grouping == Grouping::kActOrder) std::shuffle(perm.begin(), perm.end(), rng);
  for (int64_t k = 0; k < in; ++k) l.g_idx[static_cast<size_t>(perm[static_cast<size_t>(k)])] = static_cast<int32_t>(k / l.group_size);
  return l;
}

// Activations like a transformer's: mostly normal, a few large outliers, some exact zeros.
inline std::vector<float> random_activations(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) {
    v = normal(rng);
    if (rng() % 97 == 0) v *= 30.0f;
    if (rng() % 53 == 0) v = 0.0f;
  }
  return x;
}

}  // namespace slmkit::test
