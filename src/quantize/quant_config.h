// The integer grid shared by every weight-only method (RTN, GPTQ, AWQ).
#pragma once

#include <cstdint>
#include <string>

namespace slmkit {

struct QuantGrid {
  int bits = 4;             // 2..8
  int64_t group_size = 128; // input columns per group; 0 or -1 = one group per row
  bool symmetric = false;   // false: min/max grid with a zero point (GPTQ/AWQ default)
};

// "4-bit g128 asym", for logs and reports.
std::string describe(const QuantGrid& g);

// Throws slmkit::Error unless bits is in 2..8 and group_size is ≥ −1.
void check_grid(const QuantGrid& g);

// Columns per group for a layer with `in_features` inputs: in_features when the
// grid is per-row (group_size 0 or −1) or the group is at least as wide as the row.
int64_t effective_group_size(const QuantGrid& g, int64_t in_features);

}  // namespace slmkit
