#include "runtime/runtime_test_util.h"

#include <c10/core/InferenceMode.h>

#include "model/checkpoint.h"
#include "model/forward.h"
#include "quantize/rtn.h"
#include "runtime/session.h"
#include "test_util.h"

namespace slmkit::test {

at::Tensor runtime_logits(const runtime::DecoderModel& m, const std::vector<int32_t>& tokens, runtime::KvDType kv,
                          int64_t max_chunk) {
  runtime::SessionOptions o;
  o.capacity = static_cast<int64_t>(tokens.size());
  o.kv_dtype = kv;
  o.max_chunk = max_chunk;
  runtime::Session s(m, o);
  at::Tensor out = at::empty({static_cast<int64_t>(tokens.size()), m.config.vocab_size}, at::kFloat);
  s.forward_all(tokens.data(), static_cast<int64_t>(tokens.size()), out.data_ptr<float>());
  return out;
}

at::Tensor torch_logits(const Model& m, const std::vector<int32_t>& tokens) {
  c10::InferenceMode guard;
  const at::Tensor ids = at::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()), at::kLong).view({1, -1});
  return forward(m, ids)[0].contiguous();
}

double relative_error(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

std::string write_rtn_copy(const std::string& src, int bits, int64_t group_size) {
  Model m = load_model(src);
  QuantGrid grid;
  grid.bits = bits;
  grid.group_size = group_size;
  grid.symmetric = true;
  for (auto& [name, l] : m.linears)
    if (name != "lm_head") l.weights = pack_gptq(quantize_rtn(l.dense_weight(), grid));
  const std::string dir = make_temp_dir() + "/q";
  save_model(m, dir);
  return dir;
}

std::vector<int32_t> random_tokens(int64_t vocab, int64_t n, uint64_t seed) {
  std::vector<int32_t> out;
  uint64_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    out.push_back(static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(vocab)));
  }
  return out;
}

}  // namespace slmkit::test
