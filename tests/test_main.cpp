#include <gtest/gtest.h>

#include "core/blas_setup.h"

#ifdef SLMKIT_TEST_TORCH
#include <ATen/Parallel.h>
#endif

int main(int argc, char** argv) {
  slmkit::ensure_fast_blas(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
#ifdef SLMKIT_TEST_TORCH
  at::set_num_threads(2);  // LibTorch defaults to one thread here
#endif
  return RUN_ALL_TESTS();
}
