// Encoding one weight matrix into ggml blocks: either exactly (a GPTQ/AWQ grid
// whose groups fit a 32-element block type is copied code for code, scale for
// scale) or by (re-)quantizing float rows, optionally importance-weighted like
// llama-quantize with an imatrix.
//
// Exact fits (formats.md §4.7), for contiguous groups (g_idx[i] = i / group) of
// a multiple of 32 columns, in_features a multiple of 32:
//   4-bit symmetric (zero 8)   → Q4_0: code q, d = scale (x = d·(q − 8))
//   4-bit asymmetric           → Q4_1: code q, d = scale, m = −scale·zero rounded
//                                once to fp16 (exact when scale·zero is an fp16 number)
//   8-bit symmetric (zero 128) → Q8_0: code q − 128, d = scale
// A group of 64 or 128 columns repeats its scale in each of its 32-element blocks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "io/ggml_blocks.h"
#include "model/quantized_weights.h"

namespace slmkit {

// The 32-element type that stores this grid exactly, or nullopt with the reason
// in *why_not ("act-order g_idx is not contiguous", "3-bit", ...).
std::optional<GgmlType> exact_ggml_type(const IntegerWeights& w, std::string* why_not);

// Blocks of w's rows (out_features rows of in_features) in `type`, which must be
// exact_ggml_type(w). Q4_1 minimums are rounded to fp16 as the type stores them.
std::vector<uint8_t> encode_grid_exact(const IntegerWeights& w, GgmlType type);

// Blocks of a float [rows, cols] matrix in `type` (any type with a codec), row by
// row; `importance` is float [cols] (mean x² of each input) or undefined. Rows
// are encoded in parallel with LibTorch's thread pool.
std::vector<uint8_t> encode_rows(const at::Tensor& weight, GgmlType type, const at::Tensor& importance);

// The inverse for any codec type: float32 [rows, cols] (used by the GGUF loader and tests).
at::Tensor decode_rows(const uint8_t* blocks, GgmlType type, int64_t rows, int64_t cols);

}  // namespace slmkit
