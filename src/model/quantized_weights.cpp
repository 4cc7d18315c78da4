#include "model/quantized_weights.h"

#include <string>

#include "core/error.h"
#include "core/tensor_view.h"

// The GPTQ v1 ("gptq") layout, as AutoGPTQ's QuantLinear.pack() writes it.
//
// Both qweight (along the input dim) and qzeros (along the output dim) are, per
// column, one little-endian bit stream: value k occupies stream bits
// [k·bits, (k+1)·bits), and stream bit b is bit b % 32 of word b / 32. For 2/4/8
// bits that is "32/bits values per word, value j of the word at bits·j"; for
// 3 bits AutoGPTQ spells the stream out by hand (10 values, one value whose low
// two bits are bits 30..31 and whose high bit is bit 0 of the next word, 10
// values from bit 1, one value split 1 + 2 bits, 10 values from bit 2), which is
// the same stream. 32 values always fill exactly `bits` words, so packing works
// on chunks of 32 values.
//
// Choices where AutoGPTQ has none (it requires in % 32 == 0 and out % 32 == 0):
//  * a stream whose length is not a multiple of 32 bits is padded with zero bits
//    up to the next word: qweight has ceil(in·bits/32) rows and qzeros
//    ceil(out·bits/32) columns. pack_gptq(unpack_gptq(q)) == q therefore holds
//    for every q whose padding bits are zero (all that pack_gptq produces).
//  * a zero point of 0 is refused: v1 stores zero − 1, and AutoGPTQ's pack()
//    turns −1 into 0xFFFFFFFF, which corrupts the neighbouring values of the
//    word. Readers (AutoGPTQ/vLLM kernels, llama.cpp) compute
//    zero = (stored & mask) + 1, so the representable zeros are [1, 2^bits]
//    and unpack_gptq can return 2^bits (stored all ones).
//  * symmetric weights must have zero == 2^(bits−1) everywhere: Marlin-style
//    kernels ignore qzeros when the config says sym.

namespace slmkit {
namespace {

constexpr int64_t kWordMask = 0xFFFFFFFFLL;

void check_bits(int bits, const std::string& where) {
  SLMKIT_CHECK(bits == 2 || bits == 3 || bits == 4 || bits == 8, where, ": ", bits,
               "-bit weights cannot be stored in the GPTQ format (supported: 2, 3, 4, 8 bits)");
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t words_for(int64_t n, int bits) { return ceil_div(n * bits, 32); }

// group_size as the format means it: ≤ 0 is one group per row.
int64_t effective_group(int64_t group_size, int64_t in) { return group_size > 0 ? group_size : in; }

// values [n, m] (each in [0, 2^bits)) → int32 words [ceil(n·bits/32), m], packed along dim 0.
at::Tensor pack_dim0(const at::Tensor& values, int bits) {
  const int64_t n = values.size(0), m = values.size(1), chunks = ceil_div(n, 32);
  at::Tensor v = at::zeros({chunks * 32, m}, values.options().dtype(at::kLong));
  v.narrow(0, 0, n).copy_(values);
  v = v.view({chunks, 32, m});
  at::Tensor words = at::zeros({chunks, bits, m}, values.options().dtype(at::kLong));  // 32 values fill `bits` words
  for (int64_t j = 0; j < 32; ++j) {
    const int64_t bit = j * bits, w = bit / 32, shift = bit % 32;
    const at::Tensor vj = v.select(1, j);
    at::Tensor word = words.select(1, w);
    word.bitwise_or_(at::bitwise_and(at::bitwise_left_shift(vj, shift), kWordMask));
    if (shift + bits > 32) {  // 3-bit values straddling into the next word
      at::Tensor next = words.select(1, w + 1);
      next.bitwise_or_(at::bitwise_right_shift(vj, 32 - shift));
    }
  }
  at::Tensor flat = words.view({chunks * bits, m}).narrow(0, 0, words_for(n, bits));
  // Reinterpret the unsigned 32-bit pattern as int32 (what the format stores).
  flat = at::where(flat >= (int64_t{1} << 31), flat - (int64_t{1} << 32), flat);
  return flat.to(at::kInt).contiguous();
}

// int32 words [ceil(n·bits/32), m] → int32 values [n, m], unpacked along dim 0.
at::Tensor unpack_dim0(const at::Tensor& words, int64_t n, int bits) {
  const int64_t m = words.size(1), chunks = ceil_div(n, 32);
  SLMKIT_ASSERT(words.size(0) == words_for(n, bits), "packed rows ", words.size(0), " for ", n, " values");
  at::Tensor w64 = at::zeros({chunks * bits, m}, words.options().dtype(at::kLong));
  // & mask: logical (not arithmetic) shifts on the unsigned word.
  w64.narrow(0, 0, words.size(0)).copy_(at::bitwise_and(words.to(at::kLong), kWordMask));
  w64 = w64.view({chunks, bits, m});
  const int64_t mask = (int64_t{1} << bits) - 1;
  at::Tensor out = at::empty({chunks, 32, m}, words.options().dtype(at::kLong));
  for (int64_t j = 0; j < 32; ++j) {
    const int64_t bit = j * bits, w = bit / 32, shift = bit % 32;
    at::Tensor v = at::bitwise_right_shift(w64.select(1, w), shift);
    if (shift + bits > 32) v.bitwise_or_(at::bitwise_left_shift(w64.select(1, w + 1), 32 - shift));
    out.select(1, j).copy_(at::bitwise_and(v, mask));
  }
  return out.view({chunks * 32, m}).narrow(0, 0, n).to(at::kInt).contiguous();
}

void check_shape(const at::Tensor& t, const std::vector<int64_t>& shape, const char* what) {
  SLMKIT_CHECK(t.defined(), "quantized weights: ", what, " is missing");
  SLMKIT_CHECK(t.sizes().vec() == shape, "quantized weights: ", what, " has shape ", shape_str(t.sizes().vec()),
               ", expected ", shape_str(shape));
}

// Shapes and dtypes of packed weights; internal consistency only (the checkpoint
// reader checks the same things earlier with the tensor names).
void check_packed(const QuantizedWeights& q) {
  check_bits(q.bits, "quantized weights");
  SLMKIT_CHECK(q.scales.defined() && q.scales.dim() == 2, "quantized weights: scales must be 2-D [n_groups, out]");
  const int64_t in = q.in_features, out = q.out_features, g = q.scales.size(0);
  check_shape(q.qweight, {words_for(in, q.bits), out}, "qweight");
  check_shape(q.qzeros, {g, words_for(out, q.bits)}, "qzeros");
  check_shape(q.scales, {g, out}, "scales");
  check_shape(q.g_idx, {in}, "g_idx");
  SLMKIT_CHECK(q.qweight.scalar_type() == at::kInt && q.qzeros.scalar_type() == at::kInt &&
                   q.g_idx.scalar_type() == at::kInt,
               "quantized weights: qweight, qzeros and g_idx must be int32");
  SLMKIT_CHECK(q.scales.scalar_type() == at::kHalf, "quantized weights: scales must be float16, found ",
               c10::toString(q.scales.scalar_type()));
}

}  // namespace

at::Tensor IntegerWeights::dequantize() const {
  SLMKIT_CHECK(codes.defined() && codes.dim() == 2, "integer weights: codes must be a 2-D [out, in] tensor");
  SLMKIT_CHECK(scales.defined() && scales.dim() == 2, "integer weights: scales must be a 2-D [out, n_groups] tensor");
  check_shape(scales, {out_features(), n_groups()}, "scales");
  check_shape(zeros, {out_features(), n_groups()}, "zeros");
  check_shape(g_idx, {in_features()}, "g_idx");
  const at::Tensor idx = g_idx.to(at::kLong);
  const at::Tensor s = scales.to(at::kFloat).index_select(1, idx);
  const at::Tensor z = zeros.to(at::kLong).index_select(1, idx);
  // code − zero is a small integer, exact in float: one rounding, in the product.
  return (codes.to(at::kLong) - z).to(at::kFloat) * s;
}

at::Tensor QuantizedWeights::dequantize(at::ScalarType dtype) const {
  check_packed(*this);
  const at::Tensor idx = g_idx.to(at::kLong);
  const at::Tensor q = unpack_dim0(qweight, in_features, bits);                        // [in, out]
  const at::Tensor z = unpack_dim0(qzeros.t().contiguous(), out_features, bits) + 1;  // [out, G], v1: +1
  const at::Tensor zi = z.t().index_select(0, idx);                                   // [in, out]
  const at::Tensor s = scales.to(at::kFloat).index_select(0, idx);                    // [in, out]
  // fp16 scale × (≤ 9-bit integer) is exact in float32, so converting the float
  // result gives the same value as computing directly in dtype.
  const at::Tensor w = (q - zi).to(at::kFloat) * s;
  return w.t().contiguous().to(dtype);
}

int64_t QuantizedWeights::storage_bytes() const {
  int64_t n = 0;
  for (const at::Tensor* t : {&qweight, &qzeros, &scales, &g_idx})
    if (t->defined()) n += t->numel() * static_cast<int64_t>(t->element_size());
  return n;
}

QuantizedWeights pack_gptq(const IntegerWeights& w) {
  check_bits(w.bits, "pack_gptq");
  SLMKIT_CHECK(w.codes.defined() && w.codes.dim() == 2, "pack_gptq: codes must be a 2-D [out, in] tensor");
  const int64_t out = w.out_features(), in = w.in_features();
  SLMKIT_CHECK(in > 0 && out > 0, "pack_gptq: empty weight matrix [", out, ", ", in, "]");
  SLMKIT_CHECK(w.scales.defined() && w.scales.dim() == 2, "pack_gptq: scales must be a 2-D [out, n_groups] tensor");
  const int64_t groups = w.n_groups(), gs = effective_group(w.group_size, in);
  check_shape(w.scales, {out, groups}, "scales");
  check_shape(w.zeros, {out, groups}, "zeros");
  check_shape(w.g_idx, {in}, "g_idx");
  SLMKIT_CHECK(!at::isFloatingType(w.codes.scalar_type()) && !at::isFloatingType(w.zeros.scalar_type()) &&
                   !at::isFloatingType(w.g_idx.scalar_type()),
               "pack_gptq: codes, zeros and g_idx must be integer tensors");
  SLMKIT_CHECK(at::isFloatingType(w.scales.scalar_type()), "pack_gptq: scales must be floating point");
  // Readers derive the group count from group_size; a mismatch would misalign every group.
  SLMKIT_CHECK(groups == ceil_div(in, gs), "pack_gptq: ", groups, " groups for in_features ", in,
               " and group_size ", w.group_size, ", expected ceil(", in, " / ", gs, ") = ", ceil_div(in, gs));

  const int64_t maxq = (int64_t{1} << w.bits) - 1;
  const at::Tensor codes = w.codes.to(at::kLong), zeros = w.zeros.to(at::kLong), g_idx = w.g_idx.to(at::kLong);
  SLMKIT_CHECK(codes.min().item<int64_t>() >= 0 && codes.max().item<int64_t>() <= maxq, "pack_gptq: codes must lie in [0, ",
               maxq, "] for ", w.bits, "-bit weights, found [", codes.min().item<int64_t>(), ", ",
               codes.max().item<int64_t>(), "]");
  SLMKIT_CHECK(g_idx.min().item<int64_t>() >= 0 && g_idx.max().item<int64_t>() < groups,
               "pack_gptq: g_idx must lie in [0, ", groups, "), found [", g_idx.min().item<int64_t>(), ", ",
               g_idx.max().item<int64_t>(), "]");
  SLMKIT_CHECK(zeros.min().item<int64_t>() >= 1, "pack_gptq: a zero point of 0 cannot be stored in the GPTQ v1 ",
               "format (it stores zero - 1); the quantizer must keep asymmetric zero points in [1, ", maxq + 1, "]");
  SLMKIT_CHECK(zeros.max().item<int64_t>() <= maxq + 1, "pack_gptq: zero points must be at most ", maxq + 1,
               " for ", w.bits, "-bit weights, found ", zeros.max().item<int64_t>());
  if (w.symmetric) {
    const int64_t mid = int64_t{1} << (w.bits - 1);
    SLMKIT_CHECK(zeros.eq(mid).all().item<bool>(), "pack_gptq: symmetric ", w.bits,
                 "-bit weights must have every zero point equal to ", mid);
  }
  const at::Tensor scales16 = w.scales.t().to(at::kHalf).contiguous();
  const at::Tensor overflow = at::isfinite(scales16).logical_not_();  // [groups, out]
  if (overflow.any().item<bool>()) {
    const at::Tensor first = overflow.nonzero()[0];
    const int64_t group = first[0].item<int64_t>(), row = first[1].item<int64_t>();
    throw Error(cat("pack_gptq: scales must be finite in float16 (|scale| <= 65504), but the scale of group ", group,
                    " of output row ", row, " is ", w.scales[row][group].item<float>(), " (", overflow.sum().item<int64_t>(),
                    " group(s) overflow); the weights there are NaN/Inf or too large (|w| > ~1e6) for GPTQ's fp16 scales"));
  }

  QuantizedWeights q;
  q.bits = w.bits;
  q.group_size = gs;
  q.symmetric = w.symmetric;
  q.in_features = in;
  q.out_features = out;
  q.qweight = pack_dim0(codes.t(), w.bits);        // along in: [in·bits/32, out]
  q.qzeros = pack_dim0(zeros - 1, w.bits).t().contiguous();  // along out: [G, out·bits/32]
  q.scales = scales16;
  q.g_idx = g_idx.to(at::kInt).contiguous();
  return q;
}

IntegerWeights unpack_gptq(const QuantizedWeights& q) {
  check_packed(q);
  IntegerWeights w;
  w.bits = q.bits;
  w.group_size = effective_group(q.group_size, q.in_features);
  w.symmetric = q.symmetric;
  w.codes = unpack_dim0(q.qweight, q.in_features, q.bits).t().contiguous();
  w.zeros = (unpack_dim0(q.qzeros.t().contiguous(), q.out_features, q.bits) + 1).contiguous();
  w.scales = q.scales.t().to(at::kFloat).contiguous();
  w.g_idx = q.g_idx.clone();
  return w;
}

}  // namespace slmkit
