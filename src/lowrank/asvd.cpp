#include "lowrank/asvd.h"

#include "core/error.h"

namespace slmkit {

Decomposition decompose_asvd(const at::Tensor& weight, const at::Tensor& abs_mean, const AsvdConfig& config,
                             AsvdStats* stats) {
  SLMKIT_ASSERT(weight.dim() == 2 && abs_mean.dim() == 1 && abs_mean.size(0) == weight.size(1),
                "ASVD needs abs_mean [in] for a weight [out, in]");
  SLMKIT_CHECK(config.alpha >= 0 && config.floor > 0 && config.floor < 1, "ASVD: alpha must be >= 0 and floor in ",
               "(0, 1), found alpha ", config.alpha, ", floor ", config.floor);
  at::Tensor scale = abs_mean.to(at::kDouble).pow(config.alpha);
  SLMKIT_CHECK(at::isfinite(scale).all().item<bool>(), "ASVD: the activation statistics hold NaN or Inf; check the ",
               "calibration data");
  const double max_scale = scale.max().item<double>();
  const double lowest = max_scale > 0 ? config.floor * max_scale : 1.0;
  const at::Tensor low = scale < lowest;
  if (stats) stats->floored_channels = low.sum().item<int64_t>();
  scale = scale.clamp_min(lowest);

  Decomposition d;
  at::Tensor vt;
  thin_svd(weight.to(at::kDouble) * scale.unsqueeze(0), &d.u, &d.sigma, &vt);
  d.vt = (vt / scale.unsqueeze(0)).contiguous();  // Vᵀ S⁻¹
  return d;
}

}  // namespace slmkit
