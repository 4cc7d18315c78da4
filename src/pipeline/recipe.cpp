#include "pipeline/recipe.h"

#include <set>

#include <yaml-cpp/yaml.h>

#include "core/error.h"

namespace slmkit {
namespace {

void check_keys(const YAML::Node& node, const std::set<std::string>& allowed, const std::string& where) {
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw Error(cat(where, ": unknown key \"", key, "\" (allowed: ", list, ")"));
    }
  }
}

template <typename T>
void read(const YAML::Node& node, const char* key, T* out, const std::string& where) {
  if (!node[key]) return;
  try {
    *out = node[key].as<T>();
  } catch (const YAML::Exception& e) {
    throw Error(cat(where, ": key \"", key, "\" has the wrong type (", e.msg, ")"));
  }
}

}  // namespace

void load_quantize_recipe(const std::string& path, QuantizeRecipe* recipe, CalibrationConfig* calib) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(cat(path, ": not a readable YAML recipe: ", e.what()));
  }
  read_quantize_recipe(root, path, recipe, calib);
}

void read_quantize_recipe(const YAML::Node& root, const std::string& path, QuantizeRecipe* recipe,
                          CalibrationConfig* calib) {
  SLMKIT_CHECK(root.IsMap(), path, ": a recipe must be a YAML mapping of keys to values");
  check_keys(root,
             {"method", "bits", "group_size", "sym", "act_order", "static_groups", "percdamp", "block_size",
              "true_sequential", "calibration", "overrides"},
             path);
  read(root, "method", &recipe->method, path);
  read(root, "bits", &recipe->gptq.grid.bits, path);
  read(root, "group_size", &recipe->gptq.grid.group_size, path);
  read(root, "sym", &recipe->gptq.grid.symmetric, path);
  read(root, "act_order", &recipe->gptq.act_order, path);
  read(root, "static_groups", &recipe->gptq.static_groups, path);
  read(root, "percdamp", &recipe->gptq.percdamp, path);
  read(root, "block_size", &recipe->gptq.block_size, path);
  read(root, "true_sequential", &recipe->true_sequential, path);
  if (recipe->gptq.grid.group_size < 0) recipe->gptq.grid.group_size = 0;
  if (const YAML::Node c = root["calibration"]) {
    const std::string where = path + ": calibration";
    SLMKIT_CHECK(c.IsMap(), where, " must be a mapping");
    check_keys(c, {"samples", "seq_len", "seed", "text"}, where);
    read(c, "samples", &calib->samples, where);
    read(c, "seq_len", &calib->seq_len, where);
    read(c, "seed", &calib->seed, where);
    read(c, "text", &calib->text_path, where);
  }
  if (const YAML::Node list = root["overrides"]) {
    SLMKIT_CHECK(list.IsSequence(), path, ": overrides must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = cat(path, ": overrides[", i, "]");
      SLMKIT_CHECK(list[i].IsMap() && list[i]["pattern"], where, " needs a pattern");
      check_keys(list[i], {"pattern", "bits", "group_size", "sym"}, where);
      QuantOverride o;
      o.grid = recipe->gptq.grid;
      read(list[i], "pattern", &o.pattern, where);
      read(list[i], "bits", &o.grid.bits, where);
      read(list[i], "group_size", &o.grid.group_size, where);
      read(list[i], "sym", &o.grid.symmetric, where);
      if (o.grid.group_size < 0) o.grid.group_size = 0;
      o.keep_dense = o.grid.bits == 16;
      SLMKIT_CHECK(o.keep_dense || (o.grid.bits >= 2 && o.grid.bits <= 8), where, ": bits must be 2..8 or 16, found ",
                   o.grid.bits);
      recipe->overrides.push_back(o);
    }
  }
  SLMKIT_CHECK(recipe->gptq.grid.bits >= 2 && recipe->gptq.grid.bits <= 8, path, ": bits must be 2..8, found ",
               recipe->gptq.grid.bits);
}

}  // namespace slmkit
