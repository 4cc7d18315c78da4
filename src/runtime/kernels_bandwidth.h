// Memory bandwidth probes, the yardstick for the memory-bound decode kernels
// (bench_kernels and `slmkit bench` report matvec GB/s as a fraction of these).
#pragma once

#include <cstdint>

namespace slmkit::runtime {

// STREAM-style triad a[i] = b[i] + s·c[i] on double arrays of `bytes_per_array`
// each (default 64 MiB: far beyond the caches), run by `threads` OpenMP threads
// with first-touch placement; best of `repeats` runs. GB/s (1e9) counting 24
// bytes per element, STREAM's convention (write-allocate traffic not counted).
double measure_triad_bandwidth_gbs(int threads, int64_t bytes_per_array = int64_t{64} << 20, int repeats = 10);

// Read-only streaming (a sum over one array of `bytes` bytes), the access pattern
// of a matvec; best of `repeats` runs, GB/s.
double measure_read_bandwidth_gbs(int threads, int64_t bytes = int64_t{256} << 20, int repeats = 10);

}  // namespace slmkit::runtime
