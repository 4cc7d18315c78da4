#include "model/low_rank_checkpoint.h"

#include "core/error.h"
#include "model/tensor_adapter.h"

namespace slmkit {

bool is_low_rank_part(const std::string& suffix) { return suffix == "weight_a" || suffix == "weight_b"; }

void load_low_rank_linears(Model& m, const std::map<std::string, std::map<std::string, TensorView>>& parts,
                           const std::string& source) {
  const std::map<std::string, int64_t>& listed = m.config.low_rank;
  for (const auto& [linear, p] : parts) {
    const auto rank_it = listed.find(linear);
    SLMKIT_CHECK(rank_it != listed.end(), source, ": ", linear, ".", p.begin()->first, " is a low-rank factor, but ",
                 "config.json's slmkit_low_rank does not list ", linear, "; add \"", linear,
                 "\": <rank> there or store a dense ", linear, ".weight");
    const int64_t rank = rank_it->second;
    auto factor = [&](const char* suffix, int64_t rank_dim) {
      const auto it = p.find(suffix);
      SLMKIT_CHECK(it != p.end(), source, ": ", linear, " is low-rank (slmkit_low_rank) but ", linear, ".", suffix,
                   " is missing; a factorized linear needs both weight_a [r, in] and weight_b [out, r]");
      const std::string name = linear + "." + suffix;
      at::Tensor t = to_torch(it->second, name);
      SLMKIT_CHECK(t.is_floating_point(), source, ": ", name, " has integer dtype ", dtype_name(it->second.dtype),
                   "; expected a floating-point factor");
      SLMKIT_CHECK(t.dim() == 2 && t.size(rank_dim) == rank, source, ": ", name, " has shape ",
                   shape_str(t.sizes().vec()), ", expected rank ", rank, " (slmkit_low_rank) along dimension ",
                   rank_dim, " (weight_a is [r, in], weight_b is [out, r])");
      return t.scalar_type() == m.dtype ? t : t.to(m.dtype);
    };
    at::Tensor a = factor("weight_a", 0), b = factor("weight_b", 1);
    auto existing = m.linears.find(linear);
    SLMKIT_CHECK(existing == m.linears.end() || !existing->second.has_weight(), source, ": linear ", linear,
                 " has both a dense ", linear, ".weight and low-rank factors");
    m.linears[linear].weights = LowRankWeights{a, b};
  }
  for (const auto& [linear, rank] : listed)
    SLMKIT_CHECK(parts.count(linear), source, ": config.json's slmkit_low_rank lists ", linear, " (rank ", rank,
                 ") but the checkpoint has no ", linear, ".weight_a/.weight_b");
}

void add_low_rank_tensors(const std::string& linear, const LowRankWeights& w, std::map<std::string, at::Tensor>& out) {
  out[linear + ".weight_a"] = w.a.contiguous();
  out[linear + ".weight_b"] = w.b.contiguous();
}

std::map<std::string, int64_t> describe_low_rank(const Model& m) {
  std::map<std::string, int64_t> ranks;
  for (const auto& [name, l] : m.linears) {
    const auto* w = std::get_if<LowRankWeights>(&l.weights);
    if (w == nullptr) continue;
    SLMKIT_CHECK(m.config.arch != Arch::kGPT2, "cannot save low-rank linears of a GPT-2 model: its checkpoints fuse ",
                 "q/k/v into one c_attn layer; factorized checkpoints are written for llama-family models only");
    SLMKIT_CHECK(!(name == "lm_head" && m.config.tie_word_embeddings), "lm_head is low-rank but ",
                 "tie_word_embeddings is true: a tied head is stored as the embedding; untie it first");
    ranks[name] = w->rank();
  }
  return ranks;
}

}  // namespace slmkit
