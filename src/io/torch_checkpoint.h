// PyTorch checkpoints written by Python `torch.save(model.state_dict(), path)`:
// a stored (uncompressed) zip archive with `<dir>/data.pkl` and `<dir>/data/<key>`
// storages. Read WITHOUT executing anything: our own zip reader plus an
// allow-list unpickler (protocol <= 2 opcodes; globals limited to
// collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter
// and torch.*Storage). Any other global (e.g. os.system) is refused before
// anything is called. Tied weights (one storage, two names) share memory.
#pragma once

#include <memory>
#include <string>

#include "core/limits.h"
#include "core/tensor_view.h"
#include "io/mapped_file.h"

namespace slmkit {

TensorSet read_torch_checkpoint(const std::string& path, const Limits& limits = Limits{});
// The same over an already opened (or in-memory) file.
TensorSet read_torch_checkpoint(std::shared_ptr<const MappedFile> file, const Limits& limits = Limits{});

}  // namespace slmkit
