#include "prune/importance.h"

#include "core/error.h"

namespace slmkit {
namespace {

at::Tensor f64(const at::Tensor& t) { return t.to(at::kDouble); }

// Σ over input columns of |W| weighted by the input norms: [out].
at::Tensor weighted_row_sums(const at::Tensor& w, const at::Tensor& input_norm) {
  return at::mv(f64(w).abs(), input_norm);
}

void require(const ChannelMoments& m, const char* what, StructureCriterion c) {
  SLMKIT_CHECK(m.defined(), "structure criterion ", criterion_name(c), " needs calibration statistics of ", what,
               "; none were collected");
}

// Spreads per-k/v-row scores [kv_heads·hd] onto the query channels that read
// them [kv_heads·group·hd], each query head getting 1/group of its KV head's rows.
at::Tensor spread_kv_rows(const at::Tensor& kv_row_scores, int64_t num_kv_heads, int64_t group, int64_t head_dim) {
  return (kv_row_scores.view({num_kv_heads, 1, head_dim}) / static_cast<double>(group))
      .expand({num_kv_heads, group, head_dim})
      .reshape({-1});
}

}  // namespace

StructureCriterion parse_structure_criterion(const std::string& name) {
  if (name == "magnitude") return StructureCriterion::kMagnitude;
  if (name == "wanda") return StructureCriterion::kWanda;
  if (name == "flap") return StructureCriterion::kFlap;
  throw Error(cat("unknown structured pruning criterion \"", name, "\" (use magnitude, wanda or flap)"));
}

const char* criterion_name(StructureCriterion c) {
  switch (c) {
    case StructureCriterion::kMagnitude: return "magnitude";
    case StructureCriterion::kWanda: return "wanda";
    case StructureCriterion::kFlap: return "flap";
  }
  return "?";
}

ChannelScores channel_scores(const BlockWeights& w, const BlockInputMoments& in, int64_t num_kv_heads,
                             int64_t head_dim, StructureCriterion criterion) {
  const int64_t q_rows = w.q.size(0);
  SLMKIT_ASSERT(num_kv_heads > 0 && q_rows % (num_kv_heads * head_dim) == 0, "q_proj has ", q_rows,
                " rows for ", num_kv_heads, " KV heads of ", head_dim);
  const int64_t group = q_rows / (num_kv_heads * head_dim);
  const bool gated = w.gate.defined();
  ChannelScores s;
  switch (criterion) {
    case StructureCriterion::kMagnitude: {
      const at::Tensor kv = f64(w.k).square().sum(1) + f64(w.v).square().sum(1);
      s.attention = f64(w.q).square().sum(1) + f64(w.o).square().sum(0) +
                    spread_kv_rows(kv, num_kv_heads, group, head_dim);
      s.mlp = f64(w.up).square().sum(1) + f64(w.down).square().sum(0);
      if (gated) s.mlp += f64(w.gate).square().sum(1);
      break;
    }
    case StructureCriterion::kWanda: {
      for (const auto* m : {&in.attention_in, &in.o_in, &in.mlp_in, &in.down_in})
        require(*m, "every block linear's inputs", criterion);
      const at::Tensor attn_norm = in.attention_in.l2_norm(), mlp_norm = in.mlp_in.l2_norm();
      const at::Tensor kv = weighted_row_sums(w.k, attn_norm) + weighted_row_sums(w.v, attn_norm);
      s.attention = weighted_row_sums(w.q, attn_norm) + f64(w.o).abs().sum(0) * in.o_in.l2_norm() +
                    spread_kv_rows(kv, num_kv_heads, group, head_dim);
      s.mlp = weighted_row_sums(w.up, mlp_norm) + f64(w.down).abs().sum(0) * in.down_in.l2_norm();
      if (gated) s.mlp += weighted_row_sums(w.gate, mlp_norm);
      break;
    }
    case StructureCriterion::kFlap: {
      require(in.o_in, "o_proj's inputs", criterion);
      require(in.down_in, "down_proj's inputs", criterion);
      s.attention = (in.o_in.variance() * f64(w.o).square().sum(0)).square();
      s.mlp = in.down_in.variance() * f64(w.down).square().sum(0);
      break;
    }
  }
  SLMKIT_ASSERT(s.attention.size(0) == q_rows && s.mlp.size(0) == w.down.size(1), "score sizes");
  return s;
}

at::Tensor standardize(const at::Tensor& scores) {
  const at::Tensor x = f64(scores);
  const at::Tensor centered = x - x.mean();
  if (x.numel() < 2) return centered;
  const double sd = x.std().item<double>();
  return sd > 0 ? centered / sd : centered;
}

at::Tensor kv_group_scores(const at::Tensor& attention_channel_scores, int64_t num_kv_heads) {
  SLMKIT_ASSERT(attention_channel_scores.numel() % num_kv_heads == 0, "channels not divisible by KV heads");
  return f64(attention_channel_scores).view({num_kv_heads, -1}).mean(1);
}

}  // namespace slmkit
