// Raw bytes as config.json: strict JSON, then the config parser and its
// consistency checks, then the per-module quantization settings lookup
// (quantization_config.dynamic patterns are regexes from the file).
#include "fuzz_util.h"
#include "io/json.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  return fuzz::run_expecting_only_errors([&] {
    const nlohmann::json j = parse_json_strict(fuzz::bytes_of(data, size), "config.json", limits);
    const ModelConfig c = parse_hf_config(j, "config.json");
    for (const char* module : {"model.layers.0.self_attn.q_proj", "model.layers.11.mlp.down_proj", "lm_head"})
      c.quantization.settings_for(module);
    (void)c.parameter_count();
    (void)to_hf_config(c).dump();
  });
}
