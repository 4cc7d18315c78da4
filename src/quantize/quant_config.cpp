#include "quantize/quant_config.h"

#include "core/error.h"

namespace slmkit {

std::string describe(const QuantGrid& g) {
  const std::string groups = g.group_size > 0 ? cat("g", g.group_size) : std::string("per-row");
  return cat(g.bits, "-bit ", groups, " ", g.symmetric ? "sym" : "asym");
}

void check_grid(const QuantGrid& g) {
  SLMKIT_CHECK(g.bits >= 2 && g.bits <= 8, "quantization grid: bits must be 2..8, got ", g.bits,
               "; choose a width in that range (4 is the usual choice)");
  SLMKIT_CHECK(g.group_size >= -1, "quantization grid: group_size must be a positive column count, or 0/-1 ",
               "for one group per row; got ", g.group_size);
}

int64_t effective_group_size(const QuantGrid& g, int64_t in_features) {
  if (g.group_size <= 0 || g.group_size >= in_features) return in_features;
  return g.group_size;
}

}  // namespace slmkit
