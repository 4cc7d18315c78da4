// Raw bytes as a zero-shot task file (JSON lines). The first byte picks the
// task's format (PIQA with a labels file, ARC/BoolQ, SIQA, WinoGrande, LAMBADA);
// for PIQA the rest is split at the first 0xFF into the JSONL and the labels.
#include "eval/tasks.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  if (size == 0) return 0;
  const auto& specs = task_specs();
  const TaskSpec& spec = specs[data[0] % specs.size()];
  std::string jsonl = fuzz::bytes_of(data + 1, size - 1), labels;
  if (spec.labels_file != nullptr) {
    const size_t cut = jsonl.find('\xff');
    if (cut != std::string::npos) {
      labels = jsonl.substr(cut + 1);
      jsonl.resize(cut);
    }
  }
  return fuzz::run_expecting_only_errors([&] {
    const std::vector<TaskDoc> docs = parse_task(spec, jsonl, labels, spec.file);
    for (const TaskDoc& d : docs) {
      SLMKIT_ASSERT(!d.requests.empty());
      SLMKIT_ASSERT(spec.kind == TaskKind::kLastWord || (d.gold >= 0 && d.gold < static_cast<int>(d.choices.size())));
    }
  });
}
