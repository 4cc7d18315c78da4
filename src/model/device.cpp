#include "model/device.h"

#include <ATen/Context.h>

#include "core/error.h"
#include "core/overloaded.h"

namespace slmkit {
at::Device parse_device(const std::string& name) {
  if (name == "cpu") return at::Device(at::kCPU);
  SLMKIT_CHECK(name.rfind("cuda", 0) == 0, "--device ", name, " is not supported (use cpu or cuda[:N])");
  SLMKIT_CHECK(at::hasCUDA(), "--device ", name, ": this slmkit build's LibTorch has no CUDA support or no CUDA ",
               "device is present; run on the CPU (--device cpu) or rebuild against a CUDA LibTorch");
  try {
    return at::Device(name);
  } catch (const std::exception&) {
    throw Error(cat("--device ", name, " is not a device name (use cuda or cuda:N)"));
  }
}

void move_model_to_device(Model& m, at::Device device) {
  auto move = [&](at::Tensor& t) {
    if (t.defined()) t = t.to(device);
  };
  const at::Tensor embed_before = m.tensors.at("model.embed_tokens.weight");
  for (auto& [name, t] : m.tensors) move(t);
  for (auto& [name, l] : m.linears) {
    SLMKIT_CHECK(!l.adapter, "linear ", name, " carries an unmerged LoRA adapter; merge it before moving the model");
    std::visit(Overloaded{[&](DenseWeights& d) {
                            if (d.weight.is_same(embed_before)) d.weight = m.tensors.at("model.embed_tokens.weight");
                            else move(d.weight);
                          },
                          [&](QuantizedWeights& q) {
                            for (at::Tensor* t : {&q.qweight, &q.qzeros, &q.scales, &q.g_idx}) move(*t);
                          },
                          [&](LowRankWeights& r) {
                            move(r.a);
                            move(r.b);
                          }},
               l.weights);
    move(l.bias);
  }
  move(m.rope_cos);
  move(m.rope_sin);
}

}  // namespace slmkit
