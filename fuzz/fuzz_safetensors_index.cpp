// Bytes as model.safetensors.index.json in a directory holding two small valid
// shards, a symlink leading out of the directory and a subdirectory. Exercises
// weight_map resolution: shard names must stay inside the directory (no "..",
// no absolute path, no symlink escape), every tensor in exactly one shard.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor_view.h"
#include "fuzz_util.h"
#include "io/safetensors.h"

namespace {

std::string make_fixture_dir() {
  char pattern[] = "/tmp/slmkit_fuzz_index_XXXXXX";
  const char* dir = ::mkdtemp(pattern);
  if (dir == nullptr) std::abort();
  const std::string d = dir;
  using namespace slmkit;
  auto shard = [&](const std::string& name, const std::string& tensor, float value) {
    auto bytes = std::make_shared<std::vector<float>>(4, value);
    TensorView v;
    v.dtype = DType::F32;
    v.shape = {2, 2};
    v.data = reinterpret_cast<const uint8_t*>(bytes->data());
    v.owner = bytes;
    write_safetensors(d + "/" + name, {{tensor, v}});
  };
  shard("model-00001-of-00002.safetensors", "a.weight", 1.0f);
  shard("model-00002-of-00002.safetensors", "b.weight", 2.0f);
  ::mkdir((d + "/sub").c_str(), 0755);
  shard("sub/model-00003.safetensors", "c.weight", 3.0f);
  // Outside the directory, and a link to it from inside: must be refused.
  shard("../slmkit_fuzz_outside.safetensors", "a.weight", 4.0f);
  if (::symlink("../slmkit_fuzz_outside.safetensors", (d + "/escape.safetensors").c_str()) != 0) std::abort();
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  static const std::string dir = make_fixture_dir();
  const std::string index = dir + "/model.safetensors.index.json";
  {
    std::ofstream out(index, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  return fuzz::run_expecting_only_errors([&] {
    const TensorSet set = read_safetensors_index(index, limits);
    // Whatever was accepted came from inside the directory: the outside file's
    // tensor holds 4.0, every inside shard something else.
    for (const auto& [name, view] : set.tensors) {
      SLMKIT_ASSERT(view.dtype == DType::F32 && view.nbytes() == 16);
      SLMKIT_ASSERT(reinterpret_cast<const float*>(view.data)[0] != 4.0f, "read a shard outside the directory");
    }
  });
}
