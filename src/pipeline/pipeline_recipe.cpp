#include "pipeline/pipeline_recipe.h"

#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "io/mapped_file.h"

namespace slmkit {
namespace fs = std::filesystem;
namespace {

std::string kind_list() {
  std::string s;
  for (const auto& k : step_kinds()) s += cat(s.empty() ? "" : ", ", k.name);
  return s;
}

// Names become folder names and labels: letters, digits, '.', '_' and '-' only.
void check_name(const std::string& name, const std::string& where) {
  bool ok = !name.empty() && name[0] != '.' && name[0] != '-';
  for (const char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  SLMKIT_CHECK(ok, where, ": name \"", name,
               "\" must be letters, digits, '.', '_' or '-' (not starting with '.' or '-'): it names a folder");
}

std::string scalar(const YAML::Node& node, const std::string& where, const char* key) {
  SLMKIT_CHECK(node.IsScalar(), where, ": key \"", key, "\" must be a single value");
  return node.Scalar();
}

std::vector<PipelineStep> read_steps(const YAML::Node& list, const std::string& where, const RecipeEnv& env) {
  SLMKIT_CHECK(list && list.IsSequence() && list.size() > 0, where,
               ": steps must be a non-empty list, e.g. steps: [{quantize: {bits: 4}}] (step kinds: ", kind_list(), ")");
  std::vector<PipelineStep> steps;
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const std::string at = cat(where, ": step ", i + 1);
    SLMKIT_CHECK(item.IsMap(), at, ": a step is a mapping like {name: q4, quantize: {bits: 4}}");
    std::string name;
    const StepKind* kind = nullptr;
    YAML::Node settings;
    for (const auto& kv : item) {
      const std::string key = kv.first.as<std::string>();
      if (key == "name") {
        name = scalar(kv.second, at, "name");
        continue;
      }
      const StepKind* k = find_step_kind(key);
      SLMKIT_CHECK(k, at, ": unknown step kind \"", key, "\" (step kinds: ", kind_list(), "; other key: name)");
      SLMKIT_CHECK(!kind, at, ": one step has one kind, found \"", kind ? kind->name : "", "\" and \"", key,
                   "\"; make them two steps");
      kind = k;
      settings = kv.second;
    }
    SLMKIT_CHECK(kind, at, ": no step kind (one of ", kind_list(), ")");
    if (name.empty()) {  // default names: the kind, numbered when it repeats
      name = kind->name;
      for (int n = 2; names.count(name); ++n) name = cat(kind->name, "-", n);
    }
    check_name(name, at);
    SLMKIT_CHECK(!names.count(name), at, ": the name \"", name, "\" is used by an earlier step; names must be unique");
    names.insert(name);
    const std::string step_where = cat(at, " (", name, ", ", kind->name, ")");
    PreparedStep prepared;
    try {
      StepSettings s(settings, step_where);
      prepared = kind->prepare(s, env);
      s.finish();
    } catch (const Error& e) {  // e.g. a file the settings name is missing: say which step named it
      const std::string msg = e.what();
      if (msg.rfind(step_where, 0) == 0) throw;
      throw Error(cat(step_where, ": ", msg));
    }
    steps.push_back({name, kind, std::move(prepared), step_where});
  }
  return steps;
}

// A copy of `node` with "${var}" replaced in every scalar; an unknown variable is an error.
YAML::Node substitute(const YAML::Node& node, const std::map<std::string, std::string>& vars,
                      const std::string& where) {
  if (node.IsScalar()) {
    std::string s = node.Scalar();
    for (const auto& [var, value] : vars)
      for (size_t at = s.find("${" + var + "}"); at != std::string::npos; at = s.find("${" + var + "}", at))
        s.replace(at, var.size() + 3, value);
    const size_t open = s.find("${");
    SLMKIT_CHECK(open == std::string::npos, where, ": \"", node.Scalar(), "\" uses ",
                 s.substr(open, s.find('}', open) - open + 1), ", which the matrix does not define");
    return YAML::Node(s);
  }
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& item : node) out.push_back(substitute(item, vars, where));
    return out;
  }
  if (node.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : node) out[kv.first.as<std::string>()] = substitute(kv.second, vars, where);
    return out;
  }
  return YAML::Clone(node);
}

// Every combination of the matrix values, the first variable outermost.
std::vector<std::map<std::string, std::string>> expand_matrix(const YAML::Node& matrix, const std::string& where) {
  std::vector<std::map<std::string, std::string>> combos{{}};
  if (!matrix) return combos;
  SLMKIT_CHECK(matrix.IsMap() && matrix.size() > 0, where, ": matrix must map variables to lists of values, ",
               "e.g. {bits: [3, 4, 8]}");
  for (const auto& kv : matrix) {
    const std::string var = kv.first.as<std::string>();
    SLMKIT_CHECK(kv.second.IsSequence() && kv.second.size() > 0, where, ": matrix variable \"", var,
                 "\" needs a non-empty list of values");
    std::vector<std::map<std::string, std::string>> next;
    for (const auto& combo : combos)
      for (const auto& value : kv.second) {
        auto c = combo;
        c[var] = scalar(value, where + ": matrix", var.c_str());
        next.push_back(c);
      }
    combos = std::move(next);
  }
  return combos;
}

void check_keys(const YAML::Node& node, const std::set<std::string>& allowed, const std::string& where) {
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (allowed.count(key)) continue;
    std::string list;
    for (const auto& a : allowed) list += cat(list.empty() ? "" : ", ", a);
    throw Error(cat(where, ": unknown key \"", key, "\" (allowed: ", list, ")"));
  }
}

}  // namespace

PipelineRecipe parse_pipeline_recipe(const std::string& yaml, const std::string& name, const std::string& base_dir,
                                     const RecipeContext& context) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw Error(cat(name, ": not valid YAML: ", e.what()));
  }
  SLMKIT_CHECK(root.IsMap(), name, ": a recipe is a YAML mapping with steps: (a pipeline) or variants: (a sweep)");
  check_keys(root, {"description", "model", "calibration", "steps", "variants", "compare"}, name);
  PipelineRecipe r;
  r.path = name;
  if (root["description"]) r.description = scalar(root["description"], name, "description");
  if (root["model"]) r.model = scalar(root["model"], name, "model");

  RecipeEnv env;
  env.data_dir = context.data_dir;
  env.recipe_dir = base_dir;
  env.threads = context.threads;
  CalibrationConfig calib;
  calib.text_path = context.data_dir + "/text/wikitext-2/wiki.valid.tokens";
  env.calibration = read_calibration(root["calibration"], name + ": calibration", calib);

  const bool has_steps = static_cast<bool>(root["steps"]), has_variants = static_cast<bool>(root["variants"]);
  SLMKIT_CHECK(has_steps != has_variants, name, has_steps ? ": has both steps: and variants:; a recipe is a pipeline "
                                                            "(steps) or a sweep (variants), not both"
                                                          : ": needs steps: (a pipeline) or variants: (a sweep)");
  if (has_steps) {
    SLMKIT_CHECK(!root["compare"], name, ": compare: is a sweep's section; in a pipeline add a step {compare: {...}}");
    r.steps = read_steps(root["steps"], name, env);
    return r;
  }
  const YAML::Node variants = root["variants"];
  SLMKIT_CHECK(variants.IsSequence() && variants.size() > 0, name, ": variants must be a non-empty list");
  std::set<std::string> names;
  for (size_t i = 0; i < variants.size(); ++i) {
    const YAML::Node v = variants[i];
    const std::string at = cat(name, ": variant ", i + 1);
    SLMKIT_CHECK(v.IsMap() && v["name"] && v["steps"], at, ": a variant needs a name and steps");
    check_keys(v, {"name", "matrix", "steps"}, at);
    const std::string name_template = scalar(v["name"], at, "name");
    for (const auto& vars : expand_matrix(v["matrix"], at)) {
      const std::string vname = substitute(v["name"], vars, at).Scalar();
      const std::string vwhere = cat(name, ": variant ", vname);
      check_name(vname, vwhere);
      SLMKIT_CHECK(!names.count(vname), vwhere, ": the name is used twice (a matrix variant's name must use every ",
                   "matrix variable, e.g. \"", name_template, "\" with ${...} for each)");
      names.insert(vname);
      r.variants.push_back({vname, read_steps(substitute(v["steps"], vars, vwhere), vwhere, env)});
    }
  }
  StepSettings compare(root["compare"], name + ": compare");
  r.compare = read_compare_settings(compare, env);
  compare.finish();
  return r;
}

PipelineRecipe load_pipeline_recipe(const std::string& path, const RecipeContext& context) {
  const std::string text = read_text_file(path);
  return parse_pipeline_recipe(text, path, fs::path(path).parent_path().string(), context);
}

}  // namespace slmkit
