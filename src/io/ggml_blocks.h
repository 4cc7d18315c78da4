// ggml tensor types: the type table and byte-exact encoders/decoders for the
// types slmkit writes (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K).
//
// Block layouts are llama.cpp's (ggml-common.h), little-endian, fp16 = IEEE half
// rounded to nearest even. A row of n elements is n / block_size consecutive
// blocks, so every function here works on any whole number of blocks (one row or
// many rows back to back). The quantizers reproduce llama.cpp's reference
// `quantize_row_*_ref` (what `llama-quantize` uses without an imatrix) in the same
// float arithmetic order, without FMA, so they emit the same bytes (checked against
// llama.cpp's own output on 21,000 random rows of every type while writing this).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace slmkit {

// ggml's type ids as stored in GGUF tensor infos: file-format values, never renumber.
// Ids 4, 5, 31-33 and 36-38 were removed from ggml and are refused.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // ggml's spelling: "f16", "q4_0", "q4_K"
  int64_t block_size;     // elements per block
  size_t block_bytes;     // bytes per block
  bool has_codec;         // slmkit can quantize and dequantize it
};

// The entry for a type id read from a file, or nullptr for an unknown/removed id.
const GgmlTypeInfo* find_ggml_type(uint32_t id);
const GgmlTypeInfo& ggml_type_info(GgmlType type);
std::string_view ggml_type_name(GgmlType type);
// Case-insensitive ("Q4_K", "q4_k", "bf16"); nullopt if unknown.
std::optional<GgmlType> ggml_type_from_name(std::string_view name);

// Bytes of `n_elements` elements; throws Error if n_elements is negative or not a
// multiple of the type's block size, or if the byte count overflows.
size_t ggml_row_bytes(GgmlType type, int64_t n_elements);

// Block structs, byte for byte as llama.cpp's (fp16 fields hold raw half bits).
struct BlockQ4_0 {
  uint16_t d;       // scale: x = d·(q − 8)
  uint8_t qs[16];   // byte j: element j in the low nibble, element j + 16 in the high nibble
};
struct BlockQ4_1 {
  uint16_t d;       // scale: x = d·q + m
  uint16_t m;       // offset (the block's minimum)
  uint8_t qs[16];   // nibbles as in Q4_0
};
struct BlockQ5_0 {
  uint16_t d;       // scale: x = d·(q − 16), q 5 bits
  uint8_t qh[4];    // little-endian u32: bit j = fifth bit of element j (j < 32)
  uint8_t qs[16];   // low nibbles as in Q4_0
};
struct BlockQ8_0 {
  uint16_t d;       // scale: x = d·q
  int8_t qs[32];
};
// 256 elements = 8 sub-blocks of 32, each with a 6-bit scale and 6-bit min:
// x = d·sc_k·q − dmin·m_k.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];  // sc_0..7 and m_0..7, 6 bits each, packed (see pack_q4_k_scales)
  uint8_t qs[128];     // 64-element chunk c: byte 32c + l holds element 64c + l (low) and 64c + 32 + l (high)
};
// 256 elements = 16 sub-blocks of 16 with int8 scales: x = d·sc_k·(q − 32), q 6 bits.
struct BlockQ6_K {
  uint8_t ql[128];   // low 4 bits
  uint8_t qh[64];    // high 2 bits
  int8_t scales[16];
  uint16_t d;        // last, unlike the other types
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ8_0) == 34,
              "ggml 32-element block sizes");
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210, "ggml 256-element block sizes");

// Q4_K's 12-byte scale field: sc/m in [0, 63]. For k < 4, byte k = sc_k (+ the high
// bits of sc_{k+4} in bits 6-7) and byte k + 4 = m_k (+ high bits of m_{k+4});
// byte k + 8 = low nibbles of sc_{k+4} | m_{k+4} << 4.
void pack_q4_k_scales(const uint8_t scale[8], const uint8_t min[8], uint8_t packed[12]);
void unpack_q4_k_scales(const uint8_t packed[12], uint8_t scale[8], uint8_t min[8]);

// Decodes n elements (a whole number of blocks) of a codec type into `out`.
void dequantize_row(GgmlType type, const uint8_t* blocks, int64_t n, float* out);

// Encodes n finite values (a whole number of blocks) with llama.cpp's reference
// quantizer: round-to-nearest for Q4_0/Q4_1/Q5_0/Q8_0, the scale search of
// quantize_row_q4_K_ref / quantize_row_q6_K_ref for the K types. `importance`
// (n values, one per column, e.g. an imatrix) selects the importance-weighted
// search llama-quantize runs with an imatrix (quantize_row_*_impl); it is
// accepted for Q4_0, Q4_1, Q5_0, Q4_K and Q6_K (llama.cpp's Q8_0 has none). The
// 32-element types weight each element by importance·sqrt(mean x² + x²) with the
// mean over all n values, so pass exactly one row to reproduce llama-quantize.
// Throws Error on a non-finite input.
void quantize_row(GgmlType type, const float* values, int64_t n, uint8_t* out,
                  const float* importance = nullptr);

// Stores given integer codes without re-quantizing (a GPTQ/AWQ grid kept exactly).
// Per 32-element block: one scale (and for Q4_1 one min), stored as fp16 (exact
// when the value is an fp16 number, as GPTQ scales are; Q4_1's m = −s·z is rounded).
// Codes are what the block stores:
//   Q4_0: q in [0, 15], x = d·(q − 8);  Q4_1: q in [0, 15], x = d·q + m;
//   Q8_0: q in [−128, 127], x = d·q.
// `mins` is read for Q4_1 only. Throws Error on an out-of-range code.
void encode_row_exact(GgmlType type, const int32_t* codes, const float* scales, const float* mins,
                      int64_t n, uint8_t* out);
// The inverse: codes, and scales/mins as the fp16 values the blocks hold.
// `mins` is written for Q4_1 only (may be nullptr otherwise).
void decode_row_exact(GgmlType type, const uint8_t* blocks, int64_t n, int32_t* codes,
                      float* scales, float* mins);

}  // namespace slmkit
