// Random bytes as quantized ggml blocks of every type slmkit decodes. Decoding
// must never crash; a block with finite fp16 scales must decode to finite values;
// and for the round-to-nearest types decode_row_exact → encode_row_exact must
// give back the very same bytes (the codes and scales are all the block holds).
#include <cmath>
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "io/ggml_blocks.h"

namespace {

using slmkit::GgmlType;

bool half_is_finite(uint16_t h) { return (h & 0x7C00) != 0x7C00; }

// Whether every fp16 scale field of every block is finite (then so is every value).
bool scales_finite(GgmlType type, const uint8_t* blocks, int64_t n_blocks, size_t block_bytes) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* p = blocks + b * block_bytes;
    uint16_t h[2] = {0, 0};
    int count = 1;
    switch (type) {
      case GgmlType::Q4_0: case GgmlType::Q8_0: std::memcpy(h, p, 2); break;
      case GgmlType::Q4_1: case GgmlType::Q4_K: std::memcpy(h, p, 4); count = 2; break;
      case GgmlType::Q6_K: std::memcpy(h, p + 208, 2); break;
      case GgmlType::F16: std::memcpy(h, p, 2); break;
      default: return false;
    }
    for (int i = 0; i < count; ++i)
      if (!half_is_finite(h[i])) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  if (size < 1) return 0;
  static const GgmlType kTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                                    GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4_K, GgmlType::Q6_K};
  const GgmlType type = kTypes[data[0] % (sizeof kTypes / sizeof kTypes[0])];
  const GgmlTypeInfo& info = ggml_type_info(type);
  const int64_t n_blocks = static_cast<int64_t>((size - 1) / info.block_bytes);
  if (n_blocks == 0) return 0;
  const int64_t n = n_blocks * info.block_size;
  // A copy: the block structs are read with aligned loads.
  std::vector<uint8_t> blocks(data + 1, data + 1 + n_blocks * info.block_bytes);
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, blocks.data(), n, out.data());
  if (type != GgmlType::F32 && type != GgmlType::BF16 && scales_finite(type, blocks.data(), n_blocks, info.block_bytes))
    for (float v : out) SLMKIT_ASSERT(std::isfinite(v), "finite scales decoded to a non-finite value");

  if (type == GgmlType::Q4_0 || type == GgmlType::Q8_0 || type == GgmlType::Q4_1) {
    if (!scales_finite(type, blocks.data(), n_blocks, info.block_bytes)) return 0;
    std::vector<int32_t> codes(static_cast<size_t>(n));
    std::vector<float> scales(static_cast<size_t>(n_blocks)), mins(static_cast<size_t>(n_blocks));
    decode_row_exact(type, blocks.data(), n, codes.data(), scales.data(), mins.data());
    std::vector<uint8_t> again(blocks.size());
    return fuzz::run_expecting_only_errors([&] {
      encode_row_exact(type, codes.data(), scales.data(), mins.data(), n, again.data());
      // Q4_1 stores m rounded from −s·z; only Q4_0/Q8_0 hold nothing else.
      if (type != GgmlType::Q4_1)
        SLMKIT_ASSERT(std::memcmp(again.data(), blocks.data(), blocks.size()) == 0,
                      "decode_row_exact/encode_row_exact do not round-trip");
    });
  }
  return 0;
}
