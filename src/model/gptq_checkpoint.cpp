#include "model/gptq_checkpoint.h"

#include <cctype>
#include <optional>
#include <vector>

#include "core/error.h"
#include "model/tensor_adapter.h"

namespace slmkit {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t words_for(int64_t n, int bits) { return ceil_div(n * bits, 32); }
// Config group size → columns per group for a layer with `in` inputs (−1: the whole row).
int64_t effective_group(int64_t group_size, int64_t in) { return group_size > 0 ? group_size : in; }

// g_idx[i] == i / group_size: the plain layout that kernels assume without desc_act.
bool contiguous_groups(const at::Tensor& g_idx, int64_t group_size) {
  const at::Tensor g = g_idx.to(at::kInt).contiguous();
  const int32_t* p = g.data_ptr<int32_t>();
  for (int64_t i = 0; i < g.numel(); ++i)
    if (p[i] != i / group_size) return false;
  return true;
}

// Whether a packed layer can be read back under settings `s`.
bool compatible(const QuantizedWeights& q, const QuantSettings& s) {
  const int64_t gs = effective_group(s.group_size, q.in_features);
  return q.bits == s.bits && q.symmetric == s.sym && q.n_groups() == ceil_div(q.in_features, gs) &&
         (s.desc_act || contiguous_groups(q.g_idx, gs));
}

// A layer's own settings: its group size (−1 when one group spans the row) and
// desc_act when its g_idx is not the contiguous map.
QuantSettings native_settings(const QuantizedWeights& q) {
  QuantSettings s;
  s.quantized = true;
  s.bits = q.bits;
  s.sym = q.symmetric;
  s.group_size = q.group_size > 0 && q.group_size < q.in_features ? q.group_size : -1;
  s.desc_act = !contiguous_groups(q.g_idx, effective_group(s.group_size, q.in_features));
  return s;
}

// Module names hold only [A-Za-z0-9_.]; escape everything else anyway.
std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') out += '\\';
    out += c;
  }
  return out;
}

at::Tensor required_part(const std::string& linear, const std::map<std::string, TensorView>& parts,
                         const std::string& suffix, DType dtype, int64_t dims, const std::string& source) {
  const std::string name = linear + "." + suffix;
  auto it = parts.find(suffix);
  SLMKIT_CHECK(it != parts.end(), source, ": missing tensor ", name, " (GPTQ linear ", linear,
               " needs qweight, qzeros, scales and g_idx)");
  const TensorView& v = it->second;
  SLMKIT_CHECK(v.dtype == dtype, source, ": tensor ", name, " has dtype ", dtype_name(v.dtype), ", expected ",
               dtype_name(dtype), " (GPTQ format)");
  SLMKIT_CHECK(static_cast<int64_t>(v.shape.size()) == dims, source, ": tensor ", name, " has shape ",
               shape_str(v.shape), ", expected ", dims, " dimensions");
  return to_torch(v, name);
}

void expect_shape(const at::Tensor& t, const std::vector<int64_t>& shape, const std::string& name,
                  const std::string& why, const std::string& source) {
  SLMKIT_CHECK(t.sizes().vec() == shape, source, ": tensor ", name, " has shape ", shape_str(t.sizes().vec()),
               ", expected ", shape_str(shape), " (", why, ")");
}

}  // namespace

bool is_gptq_part(const std::string& suffix) {
  return suffix == "qweight" || suffix == "qzeros" || suffix == "scales" || suffix == "g_idx";
}

QuantizedWeights gptq_weights_from_tensors(const std::string& linear, const std::map<std::string, TensorView>& parts,
                                           const QuantSettings& s, const std::string& source) {
  const int bits = s.bits;
  const at::Tensor qweight = required_part(linear, parts, "qweight", DType::I32, 2, source);
  const at::Tensor qzeros = required_part(linear, parts, "qzeros", DType::I32, 2, source);
  const at::Tensor scales = required_part(linear, parts, "scales", DType::F16, 2, source);
  const int64_t out = scales.size(1), groups = scales.size(0);
  at::Tensor g_idx;
  int64_t in = 0;
  if (parts.count("g_idx") || s.desc_act) {
    g_idx = required_part(linear, parts, "g_idx", DType::I32, 1, source);
    in = g_idx.size(0);
  } else {
    // Early GPTQ-for-LLaMa files have no g_idx; they needed in % 32 == 0, so
    // the input count follows from qweight.
    SLMKIT_CHECK(qweight.size(0) * 32 % bits == 0, source, ": tensor ", linear, ".qweight has ", qweight.size(0),
                 " rows, not a whole number of inputs at ", bits, " bits, and there is no ", linear, ".g_idx");
    in = qweight.size(0) * 32 / bits;
  }
  const std::string dims = cat("in_features ", in, ", out_features ", out, ", ", bits, "-bit");
  SLMKIT_CHECK(in > 0 && out > 0, source, ": GPTQ linear ", linear, " is empty (", dims, ")");
  expect_shape(qweight, {words_for(in, bits), out}, linear + ".qweight", dims + ": [in·bits/32, out]", source);
  const int64_t gs = effective_group(s.group_size, in);
  expect_shape(scales, {ceil_div(in, gs), out}, linear + ".scales",
               cat(dims, ", group_size ", s.group_size, ": [ceil(in/group_size), out]"), source);
  expect_shape(qzeros, {groups, words_for(out, bits)}, linear + ".qzeros", dims + ": [n_groups, out·bits/32]", source);
  if (!g_idx.defined()) {
    g_idx = at::floor_divide(at::arange(in, at::kLong), gs).to(at::kInt);  // the contiguous map
  } else {
    const int64_t lo = g_idx.min().item<int64_t>(), hi = g_idx.max().item<int64_t>();
    SLMKIT_CHECK(lo >= 0 && hi < groups, source, ": tensor ", linear, ".g_idx has values in [", lo, ", ", hi,
                 "], expected group indices in [0, ", groups, ")");
  }

  QuantizedWeights q;
  q.bits = bits;
  q.group_size = gs;
  q.symmetric = s.sym;
  q.in_features = in;
  q.out_features = out;
  q.qweight = qweight;
  q.qzeros = qzeros;
  q.scales = scales;
  q.g_idx = g_idx;
  if (s.sym) {
    // Symmetric kernels (Marlin) ignore qzeros and assume 2^(bits−1): the file must agree.
    IntegerWeights mid;
    mid.bits = bits;
    mid.group_size = 1;
    mid.symmetric = true;
    mid.codes = at::zeros({out, 1}, at::kInt);
    mid.scales = at::ones({out, 1}, at::kFloat);
    mid.zeros = at::full({out, 1}, int64_t{1} << (bits - 1), at::kInt);
    mid.g_idx = at::zeros({1}, at::kInt);
    const at::Tensor expected = pack_gptq(mid).qzeros;
    SLMKIT_CHECK(at::equal(qzeros, expected.expand_as(qzeros)), source, ": tensor ", linear,
                 ".qzeros holds zero points other than ", int64_t{1} << (bits - 1),
                 ", but quantization_config says sym: true");
  }
  return q;
}

void load_gptq_linears(Model& m, const std::map<std::string, std::map<std::string, TensorView>>& parts,
                       const std::string& source) {
  const QuantizationInfo& info = m.config.quantization;
  if (!info.enabled()) {
    SLMKIT_CHECK(parts.empty(), source, ": tensor ", parts.empty() ? "" : parts.begin()->first,
                 ".qweight (or another GPTQ tensor) is present but config.json has no quantization_config");
    return;
  }
  for (const auto& [linear, p] : parts) {
    const QuantSettings s = info.settings_for(linear);
    SLMKIT_CHECK(s.quantized, source, ": GPTQ tensors for ", linear, " (", p.begin()->first,
                 "), but quantization_config leaves ", linear, " unquantized",
                 linear == "lm_head" ? " (set \"lm_head\": true)" : "");
    auto it = m.linears.find(linear);
    SLMKIT_CHECK(it == m.linears.end() || !it->second.has_weight(), source, ": linear ", linear,
                 " has both a dense ", linear, ".weight and GPTQ tensors");
    m.linears[linear].weights = gptq_weights_from_tensors(linear, p, s, source);
  }
  for (const auto& [name, l] : m.linears) {
    if (!l.is_dense() || !l.has_weight()) continue;
    const QuantSettings s = info.settings_for(name);
    SLMKIT_CHECK(!s.quantized, source, ": tensor ", name, ".weight is dense, but quantization_config says ", name,
                 " is ", s.bits, "-bit GPTQ; expected ", name, ".qweight/.qzeros/.scales/.g_idx");
  }
}

void add_gptq_tensors(const std::string& linear, const QuantizedWeights& q, std::map<std::string, at::Tensor>& out) {
  out[linear + ".qweight"] = q.qweight.contiguous();
  out[linear + ".qzeros"] = q.qzeros.contiguous();
  out[linear + ".scales"] = q.scales.contiguous();
  out[linear + ".g_idx"] = q.g_idx.contiguous();
}

QuantizationInfo describe_quantization(const Model& m) {
  std::vector<std::pair<std::string, const QuantizedWeights*>> quantized;
  for (const auto& [name, l] : m.linears)
    if (const auto* q = std::get_if<QuantizedWeights>(&l.weights)) quantized.emplace_back(name, q);
  QuantizationInfo info;
  if (quantized.empty()) return info;
  SLMKIT_CHECK(m.config.arch != Arch::kGPT2, "cannot save quantized linears of a GPT-2 model in the GPTQ format: ",
               "GPT-2 checkpoints fuse q/k/v into one c_attn layer; this build writes GPTQ for llama-family models only");
  SLMKIT_CHECK(!(m.config.tie_word_embeddings && m.linear("lm_head").is_quantized()),
               "lm_head is quantized but tie_word_embeddings is true: a tied head is stored as the embedding; "
               "untie it (config.tie_word_embeddings = false) before saving it quantized");

  // Default = the candidate setting that fits the most layers (ties: first by name).
  std::optional<QuantSettings> best;
  size_t best_count = 0;
  for (const auto& [name, q] : quantized) {
    const QuantSettings cand = native_settings(*q);
    size_t count = 0;
    for (const auto& [other, oq] : quantized) count += compatible(*oq, cand) ? 1 : 0;
    if (!best || count > best_count) {
      best = cand;
      best_count = count;
    }
  }
  info.method = "gptq";
  info.bits = best->bits;
  info.group_size = best->group_size;
  info.sym = best->sym;
  info.desc_act = best->desc_act;
  info.lm_head = m.linears.count("lm_head") && m.linear("lm_head").is_quantized();

  for (const auto& [name, l] : m.linears) {
    if (!l.is_quantized()) {  // dense or low-rank: stored unquantized
      if (name != "lm_head") info.dynamic.push_back(ModuleQuantOverride{regex_escape(name), true, {}, {}, {}, {}});
      continue;
    }
    const QuantizedWeights& q = std::get<QuantizedWeights>(l.weights);
    if (compatible(q, *best)) continue;
    const QuantSettings own = native_settings(q);
    ModuleQuantOverride o{regex_escape(name), false, {}, {}, {}, {}};
    QuantSettings eff = *best;
    if (q.bits != eff.bits) o.bits = eff.bits = q.bits;
    if (q.symmetric != eff.sym) o.sym = eff.sym = q.symmetric;
    if (q.n_groups() != ceil_div(q.in_features, effective_group(eff.group_size, q.in_features)))
      o.group_size = eff.group_size = own.group_size;
    if (!compatible(q, eff)) o.desc_act = eff.desc_act = true;
    info.dynamic.push_back(o);
  }
  // What a reader resolves must be what we hold.
  for (const auto& [name, l] : m.linears) {
    const QuantSettings s = info.settings_for(name);
    if (!l.is_quantized()) SLMKIT_ASSERT(!s.quantized, name, " would be read as quantized");
    else SLMKIT_ASSERT(s.quantized && compatible(std::get<QuantizedWeights>(l.weights), s), name, " would be misread");
  }
  return info;
}

}  // namespace slmkit
