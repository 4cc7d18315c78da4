// Load-time repacking of GPTQ and dense weights into the kernels' layout
// (described in linear_kernels.h and docs/DESIGN.md "Runtime kernels").
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "runtime/kernels_internal.h"

namespace slmkit::runtime {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A zero-filled, 64-byte aligned array shared by the copies of a PackedLinear.
template <typename T>
std::shared_ptr<T> aligned_array(int64_t count) {
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T);
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  return std::shared_ptr<T>(static_cast<T*>(p), [](T* q) { std::free(q); });
}

// Value k of a little-endian bit stream of `bits`-bit values stored in int32
// words, word w at words[w * stride] (AutoGPTQ's packing along one dimension).
inline uint32_t stream_value(const int32_t* words, int64_t stride, int64_t k, int bits) {
  const int64_t bit = k * bits, w = bit >> 5;
  const int shift = static_cast<int>(bit & 31);
  uint64_t v = static_cast<uint32_t>(words[w * stride]) >> shift;
  if (shift + bits > 32) v |= static_cast<uint64_t>(static_cast<uint32_t>(words[(w + 1) * stride])) << (32 - shift);
  return static_cast<uint32_t>(v) & ((1u << bits) - 1);
}

// The packed input order: for each block its group (−1 for the even-count
// padding block), and for each packed column its input column (−1 = padding).
struct PackedOrder {
  std::vector<int32_t> block_group;
  std::vector<int32_t> in_index;
  bool identity = true;
};

PackedOrder packed_order(const std::vector<int32_t>& g_idx, int64_t n_groups) {
  const int64_t in = static_cast<int64_t>(g_idx.size());
  std::vector<std::vector<int32_t>> members(static_cast<size_t>(n_groups));
  for (int64_t i = 0; i < in; ++i) members[static_cast<size_t>(g_idx[i])].push_back(static_cast<int32_t>(i));
  PackedOrder order;
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto& cols = members[static_cast<size_t>(g)];
    if (cols.empty()) continue;
    const int64_t blocks = ceil_div(static_cast<int64_t>(cols.size()), 32);
    for (int64_t b = 0; b < blocks; ++b) order.block_group.push_back(static_cast<int32_t>(g));
    for (int32_t c : cols) order.in_index.push_back(c);
    order.in_index.resize(order.in_index.size() + static_cast<size_t>(blocks * 32 - cols.size()), -1);
  }
  if (order.block_group.size() % 2 == 1) {  // kernels read blocks in pairs
    order.block_group.push_back(-1);
    order.in_index.resize(order.in_index.size() + 32, -1);
  }
  for (size_t k = 0; k < order.in_index.size(); ++k) {
    const int32_t want = static_cast<int64_t>(k) < in ? static_cast<int32_t>(k) : -1;
    if (order.in_index[k] != want) order.identity = false;
  }
  return order;
}

void check_gptq(const GptqTensors& t) {
  SLMKIT_CHECK(t.bits == 2 || t.bits == 3 || t.bits == 4 || t.bits == 8, "pack_gptq: ", t.bits,
               "-bit GPTQ weights are not supported by the runtime kernels (supported: 2, 3, 4, 8 bits)");
  SLMKIT_CHECK(t.in_features > 0 && t.out_features > 0 && t.n_groups > 0, "pack_gptq: empty linear (in_features ",
               t.in_features, ", out_features ", t.out_features, ", n_groups ", t.n_groups, ")");
  SLMKIT_CHECK(t.in_features < (int64_t{1} << 31) && t.out_features < (int64_t{1} << 31),
               "pack_gptq: dimensions beyond 2^31 are not supported");
  SLMKIT_CHECK(t.qweight && t.qzeros && t.scales, "pack_gptq: qweight, qzeros and scales are required");
}

}  // namespace

int64_t PackedLinear::weight_bytes() const {
  if (format == WeightFormat::kDense)
    return out_features * in_features * static_cast<int64_t>(dtype_size(dense_dtype));
  return out_features * (code_row_bytes + n_blocks * 2 + (zeros ? zero_row_bytes : 0));
}

PackedLinear pack_gptq(const GptqTensors& t) {
  check_gptq(t);
  const int64_t in = t.in_features, out = t.out_features, groups = t.n_groups;
  std::vector<int32_t> g_idx(static_cast<size_t>(in));
  if (t.g_idx) {
    for (int64_t i = 0; i < in; ++i) {
      SLMKIT_CHECK(t.g_idx[i] >= 0 && t.g_idx[i] < groups, "pack_gptq: g_idx[", i, "] = ", t.g_idx[i],
                   ", expected a group index in [0, ", groups, ")");
      g_idx[static_cast<size_t>(i)] = t.g_idx[i];
    }
  } else {
    const int64_t gs = t.group_size > 0 ? t.group_size : in;
    SLMKIT_CHECK(groups == ceil_div(in, gs), "pack_gptq: ", groups, " groups for in_features ", in,
                 " and group_size ", t.group_size, ", expected ", ceil_div(in, gs));
    for (int64_t i = 0; i < in; ++i) g_idx[static_cast<size_t>(i)] = static_cast<int32_t>(i / gs);
  }
  const PackedOrder order = packed_order(g_idx, groups);

  PackedLinear w;
  w.out_features = out;
  w.in_features = in;
  w.bits = t.bits;
  w.format = t.bits == 8 ? WeightFormat::kInt8 : WeightFormat::kInt4;
  w.n_blocks = static_cast<int64_t>(order.block_group.size());
  w.k_padded = w.n_blocks * 32;
  if (!order.identity) w.in_index = order.in_index;
  const bool int8 = w.format == WeightFormat::kInt8;
  w.code_row_bytes = int8 ? w.k_padded : w.k_padded / 2;

  // Zero points: one value everywhere (symmetric) needs no storage.
  const int64_t zero_words = ceil_div(out * t.bits, 32);
  auto zero_of = [&](int64_t g, int64_t o) {
    return static_cast<int>(stream_value(t.qzeros + g * zero_words, 1, o, t.bits)) + 1;
  };
  const int first_zero = zero_of(order.block_group[0], 0);
  bool uniform = true;
  for (int64_t g = 0; g < groups && uniform; ++g)
    for (int64_t o = 0; o < out; ++o)
      if (zero_of(g, o) != first_zero) {
        uniform = false;
        break;
      }

  auto codes = aligned_array<uint8_t>(out * w.code_row_bytes);
  auto scales = aligned_array<uint16_t>(out * w.n_blocks);
  std::shared_ptr<uint8_t> zeros;
  if (uniform) {
    w.uniform_zero = first_zero;
  } else {
    w.zero_row_bytes = int8 ? w.n_blocks : w.n_blocks / 2;
    zeros = aligned_array<uint8_t>(out * w.zero_row_bytes);
  }

  // Rows in tiles: a tile reads qweight rows contiguously across its outputs.
  constexpr int64_t kTile = 64;
  const int64_t n_tiles = ceil_div(out, kTile);
  // Per-thread decode buffers are allocated here: nothing may throw inside the region.
  std::vector<std::vector<uint8_t>> tiles(static_cast<size_t>(std::max(1, omp_get_max_threads())),
                                          std::vector<uint8_t>(static_cast<size_t>(kTile * in)));
#pragma omp parallel num_threads(static_cast<int>(tiles.size()))
  {
    std::vector<uint8_t>& tile = tiles[static_cast<size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
    for (int64_t tile_i = 0; tile_i < n_tiles; ++tile_i) {
      const int64_t o0 = tile_i * kTile, o1 = std::min(out, o0 + kTile);
      for (int64_t i = 0; i < in; ++i)
        for (int64_t o = o0; o < o1; ++o)
          tile[static_cast<size_t>((o - o0) * in + i)] = static_cast<uint8_t>(stream_value(t.qweight + o, out, i, t.bits));
      for (int64_t o = o0; o < o1; ++o) {
        const uint8_t* src = tile.data() + (o - o0) * in;
        uint8_t* row = codes.get() + o * w.code_row_bytes;
        for (int64_t b = 0; b < w.n_blocks; ++b) {
          const int32_t g = order.block_group[static_cast<size_t>(b)];
          scales.get()[o * w.n_blocks + b] = g >= 0 ? t.scales[g * out + o] : 0;
          if (zeros) {
            const int z1 = (g >= 0 ? zero_of(g, o) : 1) - 1;  // stored as zero − 1
            uint8_t* zrow = zeros.get() + o * w.zero_row_bytes;
            if (int8)
              zrow[b] = static_cast<uint8_t>(z1);
            else
              zrow[b >> 1] |= static_cast<uint8_t>(z1 << ((b & 1) * 4));
          }
          int64_t off = b * 32;
          int shift = 0;
          if (!int8) detail::int4_block_location(b, w.n_blocks, off, shift);
          for (int k = 0; k < 32; ++k) {
            const int32_t col = order.in_index[static_cast<size_t>(b * 32 + k)];
            const uint8_t code = col >= 0 ? src[col] : 0;
            row[off + k] |= static_cast<uint8_t>(code << shift);
          }
        }
      }
    }
  }
  w.codes = codes;
  w.scales = scales;
  w.zeros = zeros;
  return w;
}

PackedLinear pack_gptq(const TensorView& qweight, const TensorView& qzeros, const TensorView& scales,
                       const TensorView* g_idx, int bits, int64_t group_size) {
  auto expect = [](const TensorView& v, DType dt, const char* name) {
    SLMKIT_CHECK(v.dtype == dt && v.shape.size() == 2, "pack_gptq: ", name, " must be a 2-D ", dtype_name(dt),
                 " tensor, found ", dtype_name(v.dtype), " ", shape_str(v.shape));
  };
  expect(qweight, DType::I32, "qweight");
  expect(qzeros, DType::I32, "qzeros");
  expect(scales, DType::F16, "scales");
  SLMKIT_CHECK(bits == 2 || bits == 3 || bits == 4 || bits == 8, "pack_gptq: unsupported bit width ", bits);
  GptqTensors t;
  t.bits = bits;
  t.out_features = scales.shape[1];
  t.n_groups = scales.shape[0];
  t.group_size = group_size;
  if (g_idx) {
    SLMKIT_CHECK(g_idx->dtype == DType::I32 && g_idx->shape.size() == 1, "pack_gptq: g_idx must be a 1-D I32 tensor, found ",
                 dtype_name(g_idx->dtype), " ", shape_str(g_idx->shape));
    t.in_features = g_idx->shape[0];
    t.g_idx = reinterpret_cast<const int32_t*>(g_idx->data);
  } else {
    SLMKIT_CHECK(qweight.shape[0] * 32 % bits == 0, "pack_gptq: qweight has ", qweight.shape[0],
                 " rows, not a whole number of ", bits, "-bit inputs, and there is no g_idx");
    t.in_features = qweight.shape[0] * 32 / bits;
  }
  const int64_t in = t.in_features, out = t.out_features;
  SLMKIT_CHECK(qweight.shape[0] == ceil_div(in * bits, 32) && qweight.shape[1] == out, "pack_gptq: qweight has shape ",
               shape_str(qweight.shape), ", expected [", ceil_div(in * bits, 32), ", ", out, "] for in_features ", in,
               ", out_features ", out, " at ", bits, " bits");
  SLMKIT_CHECK(qzeros.shape[0] == t.n_groups && qzeros.shape[1] == ceil_div(out * bits, 32),
               "pack_gptq: qzeros has shape ", shape_str(qzeros.shape), ", expected [", t.n_groups, ", ",
               ceil_div(out * bits, 32), "]");
  t.qweight = reinterpret_cast<const int32_t*>(qweight.data);
  t.qzeros = reinterpret_cast<const int32_t*>(qzeros.data);
  t.scales = reinterpret_cast<const uint16_t*>(scales.data);
  return pack_gptq(t);
}

PackedLinear pack_dense(const TensorView& weight) {
  SLMKIT_CHECK(weight.shape.size() == 2, "pack_dense: weight must be 2-D [out, in], found ", shape_str(weight.shape));
  SLMKIT_CHECK(weight.dtype == DType::F32 || weight.dtype == DType::F16 || weight.dtype == DType::BF16,
               "pack_dense: weight dtype ", dtype_name(weight.dtype), " is not supported (F32, F16, BF16)");
  SLMKIT_CHECK(weight.shape[0] > 0 && weight.shape[1] > 0, "pack_dense: empty weight ", shape_str(weight.shape));
  SLMKIT_CHECK(reinterpret_cast<uintptr_t>(weight.data) % dtype_size(weight.dtype) == 0,
               "pack_dense: weight data is not aligned to its element size");
  PackedLinear w;
  w.format = WeightFormat::kDense;
  w.out_features = weight.shape[0];
  w.in_features = weight.shape[1];
  w.bits = dtype_bits(weight.dtype);
  w.dense_dtype = weight.dtype;
  w.dense = weight.data;
  w.dense_owner = weight.owner;
  return w;
}

PackedLinear pack_dense(const void* data, DType dtype, int64_t out_features, int64_t in_features) {
  SLMKIT_CHECK(data, "pack_dense: null weight data");
  TensorView v;
  v.dtype = dtype;
  v.shape = {out_features, in_features};
  SLMKIT_CHECK(out_features > 0 && in_features > 0, "pack_dense: empty weight ", shape_str(v.shape));
  auto copy = aligned_array<uint8_t>(static_cast<int64_t>(v.nbytes()));
  std::memcpy(copy.get(), data, v.nbytes());
  v.data = copy.get();
  v.owner = copy;
  return pack_dense(v);
}

PackedLinear quantize_dense_rtn(const PackedLinear& dense, int bits) {
  SLMKIT_CHECK(dense.format == WeightFormat::kDense, "quantize_dense_rtn: the layer is already quantized");
  SLMKIT_CHECK(bits == 4 || bits == 8, "quantize_dense_rtn: ", bits, "-bit RTN is not supported (4 or 8)");
  const int64_t out = dense.out_features, in = dense.in_features;
  const int zero = 1 << (bits - 1), qmax = (1 << bits) - 1;
  PackedLinear w;
  w.out_features = out;
  w.in_features = in;
  w.bits = bits;
  w.format = bits == 8 ? WeightFormat::kInt8 : WeightFormat::kInt4;
  w.n_blocks = ceil_div(in, 64) * 2;
  w.k_padded = w.n_blocks * 32;
  w.code_row_bytes = bits == 8 ? w.k_padded : w.k_padded / 2;
  w.uniform_zero = zero;
  auto codes = aligned_array<uint8_t>(out * w.code_row_bytes);
  auto scales = aligned_array<uint16_t>(out * w.n_blocks);
  const size_t elem = dtype_size(dense.dense_dtype);
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < out; ++o) {
    uint8_t* row = codes.get() + o * w.code_row_bytes;
    for (int64_t b = 0; b < w.n_blocks; ++b) {
      float v[32] = {};
      for (int k = 0; k < 32 && b * 32 + k < in; ++k) {
        const uint8_t* p = static_cast<const uint8_t*>(dense.dense) + static_cast<size_t>(o * in + b * 32 + k) * elem;
        uint16_t h;
        if (dense.dense_dtype == DType::F32) {
          std::memcpy(&v[k], p, 4);
        } else {
          std::memcpy(&h, p, 2);
          v[k] = dense.dense_dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
      }
      float amax = 0.0f;
      for (float f : v) amax = std::max(amax, std::fabs(f));
      // The scale is stored in fp16: quantize with the rounded value the kernels will use.
      const uint16_t s16 = f32_to_f16(amax / static_cast<float>(zero - 1));
      const float s = f16_to_f32(s16);
      scales.get()[o * w.n_blocks + b] = s16;
      int64_t off = b * 32;
      int shift = 0;
      if (bits == 4) detail::int4_block_location(b, w.n_blocks, off, shift);
      for (int k = 0; k < 32; ++k) {
        const int q = s > 0.0f ? static_cast<int>(std::nearbyint(v[k] / s)) + zero : zero;
        row[off + k] |= static_cast<uint8_t>(std::min(qmax, std::max(0, q)) << shift);
      }
    }
  }
  w.codes = codes;
  w.scales = scales;
  return w;
}

std::vector<float> dequantize(const PackedLinear& w) {
  const int64_t out = w.out_features, in = w.in_features;
  std::vector<float> dense(static_cast<size_t>(out * in));
  if (w.format == WeightFormat::kDense) {
    for (int64_t i = 0; i < out * in; ++i) {
      const uint8_t* p = static_cast<const uint8_t*>(w.dense) + i * static_cast<int64_t>(dtype_size(w.dense_dtype));
      uint16_t h;
      switch (w.dense_dtype) {
        case DType::F32:
          std::memcpy(&dense[static_cast<size_t>(i)], p, 4);
          break;
        case DType::F16:
          std::memcpy(&h, p, 2);
          dense[static_cast<size_t>(i)] = f16_to_f32(h);
          break;
        default:
          std::memcpy(&h, p, 2);
          dense[static_cast<size_t>(i)] = bf16_to_f32(h);
      }
    }
    return dense;
  }
  for (int64_t o = 0; o < out; ++o)
    for (int64_t b = 0; b < w.n_blocks; ++b) {
      const float s = f16_to_f32(w.scales.get()[o * w.n_blocks + b]);
      const int z = detail::block_zero(w, o, b);
      for (int k = 0; k < 32; ++k) {
        const int64_t pos = b * 32 + k;
        const int64_t col = w.in_index.empty() ? (pos < in ? pos : -1) : w.in_index[static_cast<size_t>(pos)];
        if (col >= 0) dense[static_cast<size_t>(o * in + col)] = s * static_cast<float>(detail::block_code(w, o, b, k) - z);
      }
    }
  return dense;
}

}  // namespace slmkit::runtime
