#include "export/gguf_encode.h"

#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>

#include "core/error.h"

namespace slmkit {
namespace {

constexpr int64_t kBlock = 32;

}  // namespace

std::optional<GgmlType> exact_ggml_type(const IntegerWeights& w, std::string* why_not) {
  auto no = [&](std::string reason) -> std::optional<GgmlType> {
    if (why_not != nullptr) *why_not = std::move(reason);
    return std::nullopt;
  };
  const int64_t in = w.in_features();
  const int64_t group = w.group_size > 0 ? std::min(w.group_size, in) : in;
  if (in % kBlock != 0) return no(cat("in_features ", in, " is not a multiple of 32"));
  if (group % kBlock != 0 && group != in)
    return no(cat("group size ", w.group_size, " is not a multiple of 32: a 32-column block would span two scales"));
  if (w.n_groups() != (in + group - 1) / group) return no(cat(w.n_groups(), " groups do not match group size ", group));
  const at::Tensor expected = at::arange(in, at::kLong).div(group, "floor");
  if (!w.g_idx.to(at::kLong).equal(expected))
    return no("g_idx is not contiguous (act-order without static groups): a 32-column block would mix groups");
  const at::Tensor zeros = w.zeros.to(at::kLong);
  if (w.bits == 4) {
    if (zeros.eq(8).all().item<bool>()) return GgmlType::Q4_0;
    if (zeros.ge(0).all().item<bool>() && zeros.le(16).all().item<bool>()) return GgmlType::Q4_1;
    return no("4-bit zero points outside [0, 16]");
  }
  if (w.bits == 8) {
    if (zeros.eq(128).all().item<bool>()) return GgmlType::Q8_0;
    return no("8-bit asymmetric grid (ggml has no 8-bit type with a per-block minimum)");
  }
  return no(cat(w.bits, "-bit grid (ggml's 32-element types hold 4 or 8 bits)"));
}

std::vector<uint8_t> encode_grid_exact(const IntegerWeights& w, GgmlType type) {
  std::string why;
  const std::optional<GgmlType> fit = exact_ggml_type(w, &why);
  SLMKIT_CHECK(fit.has_value(), "exact GGUF encoding: ", why);
  SLMKIT_CHECK(*fit == type, "exact GGUF encoding: this grid fits ", ggml_type_name(*fit), ", not ",
               ggml_type_name(type));
  const int64_t rows = w.out_features(), cols = w.in_features(), blocks = cols / kBlock;
  const int64_t group = w.group_size > 0 ? std::min(w.group_size, cols) : cols;
  const size_t row_bytes = ggml_row_bytes(type, cols);
  const at::Tensor codes = w.codes.to(at::kInt).contiguous();
  const at::Tensor scales = w.scales.to(at::kFloat).contiguous();
  const at::Tensor zeros = w.zeros.to(at::kInt).contiguous();
  const int32_t* c = codes.data_ptr<int32_t>();
  const float* s = scales.data_ptr<float>();
  const int32_t* z = zeros.data_ptr<int32_t>();
  const int64_t n_groups = w.n_groups();
  std::vector<uint8_t> out(row_bytes * static_cast<size_t>(rows));
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> row_codes(static_cast<size_t>(cols));
    std::vector<float> block_scales(static_cast<size_t>(blocks)), block_mins(static_cast<size_t>(blocks));
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t g = b * kBlock / group;
        const float scale = s[r * n_groups + g];
        const int32_t zero = z[r * n_groups + g];
        block_scales[static_cast<size_t>(b)] = scale;
        // x = scale·(q − zero) = scale·q + (−scale·zero): Q4_1's m, rounded once to fp16 by the encoder.
        block_mins[static_cast<size_t>(b)] = -scale * static_cast<float>(zero);
        for (int64_t j = 0; j < kBlock; ++j) {
          const int32_t q = c[r * cols + b * kBlock + j];
          row_codes[static_cast<size_t>(b * kBlock + j)] = type == GgmlType::Q8_0 ? q - 128 : q;
        }
      }
      encode_row_exact(type, row_codes.data(), block_scales.data(), block_mins.data(), cols,
                       out.data() + static_cast<size_t>(r) * row_bytes);
    }
  });
  return out;
}

std::vector<uint8_t> encode_rows(const at::Tensor& weight, GgmlType type, const at::Tensor& importance) {
  SLMKIT_CHECK(weight.dim() == 2, "GGUF encoding: expected a 2-D weight, found ", weight.dim(), " dims");
  const at::Tensor w = weight.to(at::kFloat).contiguous();
  const int64_t rows = w.size(0), cols = w.size(1);
  const size_t row_bytes = ggml_row_bytes(type, cols);
  SLMKIT_CHECK(at::isfinite(w).all().item<bool>(), "GGUF encoding: the weight has non-finite values");
  at::Tensor imp;
  if (importance.defined()) {
    imp = importance.to(at::kFloat).contiguous();
    SLMKIT_CHECK(imp.dim() == 1 && imp.size(0) == cols, "GGUF encoding: importance has ", imp.numel(),
                 " values for ", cols, " columns");
    SLMKIT_CHECK(at::isfinite(imp).all().item<bool>() && imp.ge(0).all().item<bool>(),
                 "GGUF encoding: importance values must be finite and >= 0");
  }
  const float* x = w.data_ptr<float>();
  const float* q = imp.defined() ? imp.data_ptr<float>() : nullptr;
  std::vector<uint8_t> out(row_bytes * static_cast<size_t>(rows));
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      quantize_row(type, x + r * cols, cols, out.data() + static_cast<size_t>(r) * row_bytes, q);
  });
  return out;
}

at::Tensor decode_rows(const uint8_t* blocks, GgmlType type, int64_t rows, int64_t cols) {
  const size_t row_bytes = ggml_row_bytes(type, cols);
  SLMKIT_CHECK(ggml_type_info(type).has_codec, "ggml type ", ggml_type_name(type), ": slmkit cannot decode it");
  at::Tensor out = at::empty({rows, cols}, at::kFloat);
  float* y = out.data_ptr<float>();
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) dequantize_row(type, blocks + static_cast<size_t>(r) * row_bytes, cols, y + r * cols);
  });
  return out;
}

}  // namespace slmkit
