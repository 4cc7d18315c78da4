// safetensors: strict reader (memory-mapped, no copy) and atomic writer.
// Every rule of the reference parser is enforced (rules from ../shared/reference/formats.md §1):
// header size limits, UTF-8/JSON validity, no duplicate keys, known dtypes,
// contiguous non-overlapping offsets, overflow-checked sizes, no trailing bytes.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/limits.h"
#include "core/tensor_view.h"
#include "io/mapped_file.h"

namespace slmkit {

// Reads one .safetensors file. The views borrow the mapping (TensorView::owner).
// Throws Error naming the file, the tensor/field, what was expected and found.
TensorSet read_safetensors(const std::string& path, const Limits& limits = Limits{});
// The same over an already opened (or in-memory) file.
TensorSet read_safetensors(std::shared_ptr<const MappedFile> file, const Limits& limits = Limits{});

// Reads a sharded checkpoint from its `model.safetensors.index.json`: every
// tensor in exactly one listed shard, every shard inside the index's directory,
// union of shard contents == weight_map keys.
TensorSet read_safetensors_index(const std::string& index_path, const Limits& limits = Limits{});

// Writes tensors atomically (temp file + fsync + rename), in the reference
// writer's layout: header starts with '{', padded with spaces to a multiple of
// 8, tensors ordered by dtype alignment (descending) then name.
void write_safetensors(const std::string& path, const std::map<std::string, TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace slmkit
