// Sharded checkpoints: `model.safetensors.index.json` + the shards it lists.
// The index comes from the same untrusted download as the weights, so a shard
// name is only ever resolved inside the index's own directory.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/json.h"
#include "io/safetensors.h"

namespace slmkit {
namespace {

using nlohmann::json;

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Absolute, symlink-free path of an existing file, or "" with errno set.
std::string real_path(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr),
                                                       &std::free);
  return resolved ? std::string(resolved.get()) : std::string();
}

bool is_inside(const std::string& real_file, const std::string& real_dir) {
  if (real_dir == "/") return real_file.size() > 1;
  return real_file.size() > real_dir.size() + 1 &&
         real_file.compare(0, real_dir.size(), real_dir) == 0 && real_file[real_dir.size()] == '/';
}

// Lexical checks first (cheap, and clear about *why*), then the resolved path,
// which also catches symlinks that lead out of the directory.
std::string resolve_shard(const std::string& index_path, const std::string& real_dir,
                          const std::string& shard_name, const std::string& tensor) {
  const std::string where = cat(index_path, ": weight_map entry for tensor \"", tensor,
                                "\" names shard \"", shard_name, "\"");
  SLMKIT_CHECK(!shard_name.empty(), where, ", an empty file name");
  SLMKIT_CHECK(shard_name.find('\0') == std::string::npos, where,
               ", which contains a NUL character");
  SLMKIT_CHECK(shard_name.front() != '/', where, ", an absolute path; shards must be plain file ",
               "names relative to the index's directory");
  size_t start = 0;
  while (start <= shard_name.size()) {
    size_t slash = shard_name.find('/', start);
    if (slash == std::string::npos) slash = shard_name.size();
    SLMKIT_CHECK(shard_name.compare(start, slash - start, "..") != 0, where,
                 ", which has a \"..\" component; shards must stay inside the index's directory");
    start = slash + 1;
  }
  const std::string listed_path = parent_dir(index_path) + "/" + shard_name;
  const std::string real = real_path(listed_path);
  const int resolve_errno = errno;
  SLMKIT_CHECK(!real.empty(), where, ", which ",
               resolve_errno == ENOENT ? "does not exist" : "cannot be resolved", " (", listed_path,
               ": ", std::strerror(resolve_errno), "); the checkpoint is incomplete");
  SLMKIT_CHECK(is_inside(real, real_dir), where, ", which resolves to ", real,
               ", outside the index's directory ", real_dir, "; refusing to read it");
  return real;
}

struct Shard {
  std::string listed_name;  // as written in weight_map, for messages
  TensorSet contents;
};

void check_index_shape(const json& index, const std::string& index_path) {
  SLMKIT_CHECK(index.is_object(), index_path, ": expected a JSON object with \"weight_map\" ",
               "(and optionally \"metadata\"), found a JSON ", index.type_name());
  for (const auto& item : index.items())
    SLMKIT_CHECK(item.key() == "metadata" || item.key() == "weight_map", index_path,
                 ": unexpected top-level key \"", item.key(), "\"; a safetensors index has ",
                 "only \"metadata\" and \"weight_map\"");
  SLMKIT_CHECK(!index.contains("metadata") || index["metadata"].is_object(), index_path,
               ": \"metadata\" must be an object, found a JSON ", index["metadata"].type_name());
  SLMKIT_CHECK(index.contains("weight_map"), index_path, ": missing \"weight_map\" ",
               "(tensor name -> shard file); is this a safetensors index?");
  const json& weight_map = index["weight_map"];
  SLMKIT_CHECK(weight_map.is_object() && !weight_map.empty(), index_path,
               ": \"weight_map\" must be a non-empty object mapping tensor names to shard ",
               "files, found ",
               weight_map.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 60));
  for (const auto& [tensor, shard] : weight_map.items())
    SLMKIT_CHECK(shard.is_string(), index_path, ": weight_map entry for tensor \"", tensor,
                 "\" must be a shard file name (string), found a JSON ", shard.type_name());
}

}  // namespace

TensorSet read_safetensors_index(const std::string& index_path, const Limits& limits) {
  const json index = read_json_file(index_path, limits);
  check_index_shape(index, index_path);
  const json& weight_map = index["weight_map"];

  const std::string dir = parent_dir(index_path);
  const std::string real_dir = real_path(dir);
  const int resolve_errno = errno;
  SLMKIT_CHECK(!real_dir.empty(), index_path, ": cannot resolve its directory ", dir, ": ",
               std::strerror(resolve_errno));

  // Keyed by resolved path, so "a.safetensors" and "./a.safetensors" are one shard.
  std::map<std::string, Shard> shards;
  std::map<std::string, std::string> expected_shard;  // tensor -> resolved shard path
  for (const auto& [tensor, shard_value] : weight_map.items()) {
    const std::string& shard_name = shard_value.get_ref<const std::string&>();
    const std::string real = resolve_shard(index_path, real_dir, shard_name, tensor);
    shards.try_emplace(real, Shard{shard_name, {}});
    expected_shard.emplace(tensor, real);
  }
  for (auto& [real, shard] : shards) shard.contents = read_safetensors(real, limits);

  TensorSet result;
  std::map<std::string, const Shard*> found_in;  // tensor -> shard holding it
  for (auto& [real, shard] : shards) {
    for (auto& [tensor, view] : shard.contents.tensors) {
      const auto [seen, first_time] = found_in.emplace(tensor, &shard);
      SLMKIT_CHECK(first_time, index_path, ": tensor \"", tensor, "\" is present in two shards, \"",
                   seen->second->listed_name, "\" and \"", shard.listed_name,
                   "\"; each tensor must be stored exactly once");
      const auto expected = expected_shard.find(tensor);
      SLMKIT_CHECK(expected != expected_shard.end(), index_path, ": tensor \"", tensor,
                   "\" is in shard \"", shard.listed_name, "\" but absent from weight_map; the ",
                   "index and the shards do not belong together");
      SLMKIT_CHECK(expected->second == real, index_path, ": tensor \"", tensor, "\" is in shard \"",
                   shard.listed_name, "\" but weight_map assigns it to shard \"",
                   shards.at(expected->second).listed_name, "\"");
      result.tensors.emplace(tensor, std::move(view));
    }
    // Shards normally repeat the same {"format": "pt"}; the first shard (in
    // path order) wins where they differ, since metadata never affects the weights.
    result.metadata.insert(shard.contents.metadata.begin(), shard.contents.metadata.end());
  }
  for (const auto& [tensor, real] : expected_shard)
    SLMKIT_CHECK(found_in.count(tensor) != 0, index_path, ": weight_map assigns tensor \"", tensor,
                 "\" to shard \"", shards.at(real).listed_name, "\", but that shard does not ",
                 "contain it");
  return result;
}

}  // namespace slmkit
