// Whole-model pruning: walks the blocks with the calibration engine, collects
// what the chosen criterion needs, decides what to remove and applies it.
//  * structured: KV groups and MLP channels. Every layer is scored on the
//    dense model's activations first; the decision is global (all layers'
//    scores at once, allocation.h), then applied with optional FLAP bias
//    compensation.
//  * layers: whole blocks, lowest ShortGPT block influence first (dense activations).
//  * unstructured: zeros in dense weights (magnitude, Wanda, SparseGPT; optional
//    N:M). Wanda and SparseGPT see the inputs of the already pruned blocks, as
//    GPTQ does: each block's pruned outputs feed the next block.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model/model.h"
#include "prune/allocation.h"
#include "prune/sparsegpt.h"

namespace slmkit {

// The methods and criteria `prune` offers; the tables also drive --help.
struct PruneOptionInfo {
  const char* name;
  const char* summary;
};
const std::vector<PruneOptionInfo>& prune_methods();
const std::vector<PruneOptionInfo>& prune_criteria();

struct PruneRecipe {
  std::string method = "structured";  // see prune_methods()
  std::string criterion;              // see prune_criteria(); "" = flap (structured), wanda (unstructured)
  double target_params = 0.8;         // structured, layers: share of the decoder blocks' parameters kept
  AllocationConfig allocation;        // structured: uniform or global, and the global bounds
  bool bias_compensation = true;      // structured flap: removed channels' mean output folded into biases
  SparsityConfig sparsity;            // unstructured: 50% by default, or N:M
  SparseGptConfig sparsegpt;          // its block_size / percdamp (its target is taken from `sparsity`)
  int64_t chunk = 8;                  // calibration windows per forward call
};

// Whether the recipe reads calibration activations (magnitude criteria do not).
bool prune_needs_calibration(const PruneRecipe& recipe);

struct LayerPruneReport {
  int64_t layer = 0;  // index in the model before pruning
  LayerDims before, after;
  std::vector<int64_t> removed_kv_groups;  // structured: KV groups removed (indices before pruning)
  std::vector<int64_t> removed_channels;   // structured: MLP channels removed
  bool removed = false;                    // layers: the whole block went
  double block_influence = 0;              // layers: ShortGPT's BI of the block
  int64_t params_before = 0, params_after = 0;
  int64_t weights = 0, zeros = 0;          // unstructured: weights of the block's linears and how many are zero
  double seconds = 0;                      // wall time spent on this layer (statistics + pruning)
};

struct PruneSummary {
  std::string method, criterion;
  int64_t block_params_before = 0, block_params_after = 0;  // decoder blocks (embeddings, head excluded)
  int64_t target_params = 0;                                 // structured, layers: what was asked for
  int64_t model_params_before = 0, model_params_after = 0;
  bool bias_compensation = false;  // biases were added
  bool uniform_shape = true;       // every layer has the same shape (standard config.json)
  std::vector<std::string> notes;  // decisions the user should hear about
  std::vector<LayerPruneReport> layers;
  double seconds = 0;
};

// What a progress callback hears: a stage ("scoring", "pruning"), the blocks done
// of the total, and the report of a layer when one is finished.
struct PruneEvent {
  const char* stage = "";
  int64_t done = 0, total = 0;
  const LayerPruneReport* layer = nullptr;
};
using PruneProgress = std::function<void(const PruneEvent&)>;

// windows: int64 [N, L] calibration tokens (undefined when the recipe needs
// none). Prunes `model` in place; the model stays a valid dense Model that
// save_model writes (biases and the config's bias switches completed).
PruneSummary prune_model(Model& model, const at::Tensor& windows, const PruneRecipe& recipe,
                         const PruneProgress& progress = {});

}  // namespace slmkit
