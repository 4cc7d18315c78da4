// Output directories of commands that write a new checkpoint.
#pragma once

#include <string>
#include <vector>

namespace slmkit {

// Refuses an existing non-empty directory unless `force`; creates it. Throws Error.
void prepare_output_dir(const std::string& dir, bool force);

// Copies the tokenizer files that belong to the checkpoint at `model_path`
// (tokenizer.json, tokenizer.model, tokenizer_config.json, special_tokens_map.json,
// or a llama2.c tokenizer .bin, copied as tokenizer.bin) into `dir`, atomically.
// Returns the names copied.
std::vector<std::string> copy_tokenizer_files(const std::string& model_path, const std::string& dir);

}  // namespace slmkit
