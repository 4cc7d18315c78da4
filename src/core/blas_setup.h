// OpenBLAS picks its kernels once, when the library loads, from the CPU model
// it recognises. Debian's 0.3.21 does not know recent Xeons (seen here: a
// Sapphire Rapids VM reported as "Prescott"), falls back to SSE3 kernels, and
// fp32 matrix products run 3-5x slower. OPENBLAS_CORETYPE overrides the choice,
// but only if it is set before the library loads — so when we detect a
// fallback on a CPU with AVX2/AVX-512 we set it and re-execute ourselves once.
#pragma once

namespace slmkit {

// Call first thing in main(). Returns normally when nothing needs fixing (or
// when re-execution is impossible); otherwise does not return.
void ensure_fast_blas(int argc, char** argv);

// The core name OpenBLAS runs with ("SkylakeX", "Prescott"), or "" if OpenBLAS
// is not the BLAS in this process.
const char* blas_core_name();

}  // namespace slmkit
