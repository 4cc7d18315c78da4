// The GGUF writer (write_gguf); see io/gguf.h.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/gguf.h"
#include "io/gguf_rules.h"

namespace slmkit {

using namespace gguf_detail;

// ---------------------------------------------------------------- writer

void write_gguf(const std::string& path, const std::vector<GgufKeyValue>& metadata,
                const std::vector<GgufTensor>& tensors) {
  uint64_t alignment = kDefaultAlignment;
  std::unordered_set<std::string> seen;
  for (const GgufKeyValue& kv : metadata) {
    const std::string problem = key_problem(kv.key);
    SLMKIT_CHECK(problem.empty(), path, ": metadata key ", quoted(kv.key), ": ", problem);
    SLMKIT_CHECK(seen.insert(kv.key).second, path, ": duplicate metadata key ", quoted(kv.key));
    if (kv.key == kAlignmentKey) {
      const std::string bad = alignment_problem(kv.value, GgufLimits{}.max_alignment);
      SLMKIT_CHECK(bad.empty(), path, ": metadata key \"", kAlignmentKey, "\": ", bad);
      alignment = kv.value.as_uint();
    }
  }

  std::string head = "GGUF";
  append_u32(head, kCurrentVersion);
  append_u64(head, tensors.size());
  append_u64(head, metadata.size());
  for (const GgufKeyValue& kv : metadata) {
    append_string(head, kv.key);
    append_u32(head, static_cast<uint32_t>(kv.value.type()));
    kv.value.encode(head);
  }

  seen.clear();
  uint64_t offset = 0;
  for (const GgufTensor& t : tensors) {
    const std::string where = cat(path, ": tensor ", quoted(t.name));
    const std::string problem = tensor_name_problem(t.name);
    SLMKIT_CHECK(problem.empty(), where, ": ", problem);
    SLMKIT_CHECK(seen.insert(t.name).second, where, ": duplicate tensor name");
    SLMKIT_CHECK(t.ne.size() <= kGgmlMaxDims, where, ": ", t.ne.size(), " dims; ggml allows at most ", kGgmlMaxDims);
    int64_t rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) {
      SLMKIT_CHECK(t.ne[d] >= 0 && !__builtin_mul_overflow(rows, t.ne[d], &rows), where, ": invalid dims");
    }
    const GgmlTypeInfo& info = ggml_type_info(t.type);
    const int64_t row = t.ne.empty() ? 1 : t.ne[0];
    SLMKIT_CHECK(row >= 0 && row % info.block_size == 0, where, ": type ", info.name,
                 " needs rows (ne[0]) that are a multiple of ", info.block_size, ", found ", row);
    const size_t row_bytes = ggml_row_bytes(t.type, row);
    uint64_t expected = 0;
    SLMKIT_CHECK(!__builtin_mul_overflow(row_bytes, static_cast<uint64_t>(rows), &expected), where,
                 ": byte size overflows");
    SLMKIT_CHECK(t.nbytes == expected, where, ": ", t.nbytes, " bytes given, but ", ggml_type_name(t.type),
                 " with ne ", shape_text(t.ne), " takes ", expected);
    SLMKIT_CHECK(t.data != nullptr || t.nbytes == 0, where, ": no data");
    append_string(head, t.name);
    append_u32(head, static_cast<uint32_t>(t.ne.size()));
    for (int64_t ne : t.ne) append_u64(head, static_cast<uint64_t>(ne));
    append_u32(head, static_cast<uint32_t>(t.type));
    append_u64(head, offset);
    offset = align_up(offset + t.nbytes, alignment);
  }
  if (!tensors.empty()) head.resize(align_up(head.size(), alignment), '\0');

  AtomicFile out(path);
  out.write(head);
  const std::string zeros(alignment, '\0');
  for (const GgufTensor& t : tensors) {
    out.write(t.data, t.nbytes);
    out.write(zeros.data(), align_up(t.nbytes, alignment) - t.nbytes);
  }
  out.commit();
}

}  // namespace slmkit
