#include "pipeline/output_dir.h"

#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"

namespace slmkit {
namespace fs = std::filesystem;

void prepare_output_dir(const std::string& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    SLMKIT_CHECK(fs::is_directory(dir, ec), dir, " exists and is not a directory");
    SLMKIT_CHECK(force || fs::is_empty(dir, ec), dir,
                 " already exists and is not empty; choose another --out or pass --force to overwrite");
  }
  fs::create_directories(dir, ec);
  SLMKIT_CHECK(!ec, dir, ": cannot create the output directory: ", ec.message());
}

std::vector<std::string> copy_tokenizer_files(const std::string& model_path, const std::string& dir) {
  std::vector<std::string> copied;
  const std::string tok = default_tokenizer_path(model_path);
  if (tok.empty()) return copied;
  auto copy = [&](const fs::path& from, const std::string& name) {
    write_file_atomic((fs::path(dir) / name).string(), read_text_file(from.string()));
    copied.push_back(name);
  };
  if (fs::is_directory(tok)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"})
      if (fs::exists(fs::path(tok) / name) && fs::absolute(fs::path(tok)) != fs::absolute(fs::path(dir)))
        copy(fs::path(tok) / name, name);
  } else {
    copy(tok, "tokenizer.bin");
  }
  return copied;
}

}  // namespace slmkit
