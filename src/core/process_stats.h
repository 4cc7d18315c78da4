// What the process costs the machine, for summaries and benchmarks.
#pragma once

#include <cstdint>

namespace slmkit {

// Peak resident set size so far (VmHWM), in bytes; 0 where it cannot be read.
int64_t peak_rss_bytes();
// Current resident set size (VmRSS), in bytes; 0 where it cannot be read.
int64_t current_rss_bytes();

}  // namespace slmkit
