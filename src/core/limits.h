// The one set of bounds on what an input file may make slmkit read, nest or
// allocate. Every reader takes a `const Limits&` (default: these values), so a
// test or a fuzz target can lower them, and a hostile file fails with an Error
// naming the limit instead of exhausting memory or the stack. Every count taken
// from a file is ALSO checked against the bytes actually left in it before
// anything is allocated; the limits bound what a consistent-looking file may ask.
// Policy and sources: ../shared/reference/reliability.md §6.1.
#pragma once

#include <cstddef>
#include <cstdint>

namespace slmkit {

struct Limits {
  // ---- every reader ----
  // Largest buffer a reader allocates because of a size it read (a copy for
  // alignment, a gathered non-contiguous view). The largest tensors of published
  // 70B-class models are ~2 GiB in bf16.
  uint64_t alloc_bytes = uint64_t{8} << 30;

  // ---- safetensors ----
  uint64_t safetensors_header_bytes = 100'000'000;  // the reference MAX_HEADER_SIZE

  // ---- side files: config.json, tokenizer.json / .model / .bin, *.index.json ----
  uint64_t side_file_bytes = uint64_t{256} << 20;  // tokenizer.json of 256k-token vocabularies is ~35 MB
  uint32_t json_depth = 64;                        // JSON nesting; real files nest < 10 deep

  // ---- zip (torch.save archives) ----
  uint64_t zip_entries = 100000;
  uint64_t zip_name_bytes = 4096;

  // ---- pickle (data.pkl inside torch.save archives) ----
  struct Pickle {
    size_t max_memo_entries = size_t{1} << 20;
    size_t max_stack_values = size_t{1} << 20;
    size_t max_mark_depth = 100;  // nested MARKs (torch needs ~5)
    size_t max_string_bytes = size_t{1} << 20;
    size_t max_container_items = size_t{1} << 24;
    size_t max_values = size_t{1} << 22;  // objects created in total
    size_t max_tensor_dims = 64;
  } pickle;

  // ---- GGUF ----
  struct Gguf {
    uint64_t max_tensors = uint64_t{1} << 20;         // largest published GGUFs hold ~50k tensors
    uint64_t max_kv = uint64_t{1} << 16;              // real files have tens of keys
    uint64_t max_string_bytes = uint64_t{64} << 20;   // 64 MiB; chat templates are a few KiB
    uint64_t max_array_elements = uint64_t{1} << 24;  // 16M; vocabularies are <= ~260k entries
    uint32_t max_dims = 4;                            // GGML_MAX_DIMS; larger is refused
    uint32_t max_array_depth = 4;                     // nesting of arrays in arrays (ggml allows none)
    uint64_t max_alignment = uint64_t{1} << 20;       // general.alignment, bytes
  } gguf;

  // ---- tokenizers (tokenizer.model, tokenizer.json, llama2.c tokenizer.bin) ----
  uint64_t vocab_size = uint64_t{1} << 22;  // 4M; the largest real vocabularies are ~260k
  uint64_t token_bytes = uint64_t{1} << 16;  // one piece; sentencepiece#1263 crashed on ~100 KB

  // ---- text (calibration text, perplexity text, task files) ----
  uint64_t text_file_bytes = uint64_t{4} << 30;
};

}  // namespace slmkit
