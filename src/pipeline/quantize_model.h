// Whole-model weight-only quantization: walks the blocks with the calibration
// engine, collects each linear's input statistics, runs the chosen method per
// linear and swaps the dense weights for packed integer ones in place.
#pragma once

#include <cstdint>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model/model.h"
#include "quantize/gptq.h"
#include "quantize/quant_config.h"

namespace slmkit {

// The methods `quantize` offers; the table also drives --help.
struct QuantMethodInfo {
  const char* name;
  const char* summary;
};
const std::vector<QuantMethodInfo>& quant_methods();

// A per-tensor override: linears whose name matches `pattern` use `grid`
// instead of the default (bits 16 = leave that linear dense). First match wins.
struct QuantOverride {
  std::string pattern;
  QuantGrid grid;
  bool keep_dense = false;
};

struct QuantizeRecipe {
  std::string method = "gptq";   // see quant_methods()
  GptqConfig gptq;               // its grid is the default grid for every method
  std::vector<QuantOverride> overrides;
  bool true_sequential = true;   // quantize [q,k,v] → [o] → [gate,up] → [down], re-running the block between
  int64_t chunk = 8;             // calibration windows per forward call
  // GPTQ: a linear whose Hessian stays indefinite after every damping increase is
  // rounded to nearest instead of stopping the run (recorded in its report).
  bool rtn_fallback = false;
};

struct TensorReport {
  std::string name;
  int64_t out_features = 0, in_features = 0;
  QuantGrid grid;
  bool kept_dense = false;
  double relative_error = 0;  // ‖X(W−Q)ᵀ‖² / ‖XWᵀ‖² on the calibration inputs
  double seconds = 0;
  double damp = 0;            // GPTQ damping actually used
  bool rtn_fallback = false;  // GPTQ failed (Hessian indefinite after max damping) and RTN was used
  int64_t bytes_before = 0, bytes_after = 0;  // the linear's storage before and after
};

struct QuantizeSummary {
  std::vector<TensorReport> tensors;
  int64_t linear_bytes_before = 0, linear_bytes_after = 0;  // block linears only
  int64_t model_bytes_before = 0, model_bytes_after = 0;    // every tensor
  double bits_per_weight = 0;  // over the quantized linears, scales/zeros/g_idx included
  double seconds = 0;
  std::vector<double> block_seconds;  // wall time of each block (calibration passes included); 0 = restored
};

// Called after each tensor with (report, tensors done, tensors total).
using TensorProgress = std::function<void(const TensorReport&, int64_t, int64_t)>;

// Where a run keeps its progress between blocks so that a killed run can go on
// (`quantize --resume`). Everything a block's quantization depends on is the
// model as left by the blocks before it and that block's inputs, so saving both
// after each block makes a resumed run compute exactly what an uninterrupted one would.
class BlockCheckpoint {
 public:
  virtual ~BlockCheckpoint() = default;
  // Restores saved progress: the tensors of the finished blocks into `model`, the
  // next block's inputs and the reports so far. Returns the number of finished
  // blocks (0: nothing saved, leave everything as it is).
  virtual int64_t restore(Model& model, at::Tensor* next_inputs, std::vector<TensorReport>* reports) = 0;
  // Block `layer` is finished; `next_inputs` is undefined after the last block.
  virtual void save(const Model& model, int64_t layer, const at::Tensor& next_inputs,
                    const std::vector<TensorReport>& reports) = 0;
};

// windows: int64 [N, L] calibration tokens. Quantizes the decoder blocks' linears
// (lm_head and embeddings stay as they are). With a checkpoint, continues from
// what it restores and saves after every block.
QuantizeSummary quantize_model(Model& model, const at::Tensor& windows, const QuantizeRecipe& recipe,
                               const TensorProgress& progress = {}, BlockCheckpoint* checkpoint = nullptr);

// Every setting that changes the result, as one canonical line (for fingerprints).
std::string describe_recipe(const QuantizeRecipe& recipe);

// Bytes of all parameters as stored (dense: element size; quantized: packed).
int64_t model_storage_bytes(const Model& model);

}  // namespace slmkit
