#include "lowrank/svd.h"

#include "core/error.h"

namespace slmkit {

Decomposition decompose_svd(const at::Tensor& weight) {
  SLMKIT_ASSERT(weight.dim() == 2, "decompose_svd needs a 2-D weight");
  Decomposition d;
  thin_svd(weight.to(at::kDouble), &d.u, &d.sigma, &d.vt);
  return d;
}

}  // namespace slmkit
