// load_tokenizer(): picks the tokenizer implementation for a path.
#include <filesystem>

#include "core/error.h"
#include "io/json.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

namespace fs = std::filesystem;

namespace {

std::unique_ptr<Tokenizer> load_from_directory(const fs::path& dir) {
  const fs::path json_path = dir / "tokenizer.json";
  const fs::path model_path = dir / "tokenizer.model";
  std::error_code ec;
  std::string json_note;
  if (fs::is_regular_file(json_path, ec)) {
    const nlohmann::json parsed = read_json_file(json_path.string());
    // Byte-level BPE is read from tokenizer.json; SentencePiece-style files
    // (Llama-2's) are better served by their tokenizer.model.
    if (BpeTokenizer::is_byte_level_bpe(parsed))
      return BpeTokenizer::from_parsed(parsed, json_path.string());
    json_note = " (tokenizer.json is there but is not byte-level BPE)";
  }
  if (fs::is_regular_file(model_path, ec)) {
    return std::make_unique<SpmTokenizer>(model_path.string());
  }
  // A llama2.c tokenizer that slmkit copied beside a converted checkpoint.
  if (fs::is_regular_file(dir / "tokenizer.bin", ec)) return std::make_unique<Llama2cTokenizer>((dir / "tokenizer.bin").string());
  throw Error(cat("no tokenizer found in ", dir.string(),
                  ": looked for tokenizer.json, tokenizer.model, tokenizer.bin", json_note,
                  "; pass --tokenizer PATH"));
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) return load_from_directory(p);
  SLMKIT_CHECK(fs::exists(p, ec), "no tokenizer found at ", path,
               ": no such file or directory (expected a model directory with tokenizer.json or "
               "tokenizer.model, or a .model/.json/.bin file); pass --tokenizer PATH");
  const std::string extension = p.extension().string();
  if (extension == ".model") return std::make_unique<SpmTokenizer>(path);
  if (extension == ".json") return std::make_unique<BpeTokenizer>(path);
  if (extension == ".bin") return std::make_unique<Llama2cTokenizer>(path);
  if (extension == ".gguf") return load_gguf_tokenizer(path);  // the vocabulary inside a GGUF model
  throw Error(cat("cannot tell the tokenizer format of ", path, " from its extension '", extension,
                  "': expected .model (SentencePiece), .json (Hugging Face tokenizer.json) or "
                  ".bin (llama2.c tokenizer) or .gguf (a GGUF model's vocabulary)"));
}

}  // namespace slmkit
