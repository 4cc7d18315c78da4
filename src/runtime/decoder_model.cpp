#include "runtime/decoder_model.h"

#include <map>

#include "core/error.h"
#include "runtime/vector_ops.h"

namespace slmkit::runtime {
namespace {

// Every linear of the model, lm_head last.
template <typename Model, typename F>
void for_each_linear(Model& m, F&& f) {
  for (auto& l : m.layers)
    for (auto* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      if (lin->weight.out_features > 0) f(*lin);
  f(m.lm_head);
}

// "4-bit g32" / "dense f16" for one linear.
std::string weight_kind(const PackedLinear& w) {
  if (w.format == WeightFormat::kDense) return cat("dense ", dtype_name(w.dense_dtype));
  return cat(w.bits, "-bit");
}

}  // namespace

void EmbeddingTable::row(int64_t i, float* out) const {
  SLMKIT_CHECK(i >= 0 && i < rows, "token id ", i, " out of range [0, ", rows, ")");
  to_f32_row(data + i * row_bytes(), dtype, out, cols);
}

bool DecoderModel::quantized() const {
  bool any = false;
  for_each_linear(*this, [&](const RuntimeLinear& l) { any = any || l.weight.format != WeightFormat::kDense; });
  return any;
}

int64_t DecoderModel::weight_bytes_per_token() const {
  int64_t n = tokens.row_bytes() + (positions.rows > 0 ? positions.row_bytes() : 0) + final_norm.bytes();
  for (const LayerWeights& l : layers) n += l.attn_norm.bytes() + l.mlp_norm.bytes();
  for_each_linear(*this, [&](const RuntimeLinear& l) { n += l.bytes(); });
  return n;
}

int64_t DecoderModel::weight_bytes_total() const {
  int64_t n = tokens.rows * tokens.row_bytes() + positions.rows * positions.row_bytes() + final_norm.bytes();
  for (const LayerWeights& l : layers) n += l.attn_norm.bytes() + l.mlp_norm.bytes();
  const bool tied = lm_head.weight.format == WeightFormat::kDense && lm_head.weight.dense == tokens.data;
  for_each_linear(*this, [&](const RuntimeLinear& l) {
    if (!(tied && &l == &lm_head)) n += l.bytes();
  });
  return n;
}

std::string DecoderModel::describe_weights() const {
  std::map<std::string, int64_t> count;
  for (const LayerWeights& l : layers)
    for (const auto* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      if (lin->weight.out_features > 0) ++count[weight_kind(lin->weight)];
  std::string out = "decoder linears ";
  bool first = true;
  for (const auto& [kind, n] : count) {
    out += cat(first ? "" : " + ", n, "x ", kind);
    first = false;
  }
  if (config.quantization.enabled())
    out += cat(" (GPTQ g", config.quantization.group_size, config.quantization.sym ? ", sym" : ", asym",
               config.quantization.desc_act ? ", act-order" : "", ")");
  return out + ", lm_head " + weight_kind(lm_head.weight);
}

}  // namespace slmkit::runtime
