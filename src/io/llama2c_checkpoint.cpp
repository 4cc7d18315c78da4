#include "io/llama2c_checkpoint.h"

#include <climits>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "core/checked_size.h"
#include "core/error.h"
#include "io/mapped_file.h"

namespace slmkit {
namespace {

constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);

// Reads consecutive fp32 arrays from the mapping with bounds checks.
class Cursor {
 public:
  Cursor(std::shared_ptr<const MappedFile> file, size_t offset) : file_(std::move(file)), offset_(offset) {}

  // A view of the next numel floats (zero-copy).
  TensorView take(const std::vector<int64_t>& shape, const std::string& what) {
    const uint64_t bytes = checked_nbytes(checked_numel(shape, file_->path() + ": " + what),
                                          sizeof(float), file_->path() + ": " + what);
    SLMKIT_CHECK(offset_ <= file_->size() && bytes <= file_->size() - offset_, file_->path(),
                 ": llama2.c checkpoint is truncated: ", what, " needs ", bytes, " bytes at offset ", offset_,
                 ", file has ", file_->size(), " bytes");
    TensorView v;
    v.dtype = DType::F32;
    v.shape = shape;
    v.data = file_->data() + offset_;
    v.owner = file_;
    offset_ += static_cast<size_t>(bytes);
    return v;
  }
  void skip(uint64_t bytes, const std::string& what) {
    SLMKIT_CHECK(offset_ <= file_->size() && bytes <= file_->size() - offset_, file_->path(),
                 ": llama2.c checkpoint is truncated in ", what);
    offset_ += bytes;
  }
  size_t offset() const { return offset_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  size_t offset_;
};

// Slice `layer` of a [n_layers, ...] view.
TensorView layer_slice(const TensorView& all, int64_t layer) {
  TensorView v = all;
  v.shape.erase(v.shape.begin());
  v.data = all.data + static_cast<size_t>(layer) * v.nbytes();
  return v;
}

// Meta interleaved → HF rotate-half: HF row h·hd + j·hd/2 + i = Meta row h·hd + 2i + j.
TensorView permute_rope_rows(const TensorView& w, int64_t n_heads) {
  const int64_t rows = w.shape[0], cols = w.shape[1];
  const int64_t hd = rows / n_heads, half = hd / 2;
  auto buf = std::make_shared<std::vector<float>>(static_cast<size_t>(rows * cols));
  const float* src = reinterpret_cast<const float*>(w.data);
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i) {
        const int64_t hf_row = h * hd + j * half + i, meta_row = h * hd + 2 * i + j;
        std::memcpy(buf->data() + hf_row * cols, src + meta_row * cols, static_cast<size_t>(cols) * sizeof(float));
      }
  TensorView v;
  v.dtype = DType::F32;
  v.shape = w.shape;
  v.data = reinterpret_cast<const uint8_t*>(buf->data());
  v.owner = buf;
  return v;
}

}  // namespace

bool looks_like_llama2c(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  if (!in) return false;
  return std::memcmp(magic, "PK\x03\x04", 4) != 0 && std::memcmp(magic, "ak42", 4) != 0;
}

Llama2cCheckpoint read_llama2c(const std::string& path) { return read_llama2c(MappedFile::open(path)); }

Llama2cCheckpoint read_llama2c(std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  SLMKIT_CHECK(file->size() >= kHeaderBytes, path, ": too small for a llama2.c checkpoint (", file->size(),
               " bytes, the header alone is ", kHeaderBytes, ")");
  int32_t h[7];
  std::memcpy(h, file->data(), kHeaderBytes);
  Llama2cCheckpoint ck;
  Llama2cHeader& hd = ck.header;
  hd.dim = h[0], hd.hidden_dim = h[1], hd.n_layers = h[2], hd.n_heads = h[3], hd.n_kv_heads = h[4];
  hd.shared_classifier = h[5] > 0;
  // INT32_MIN has no positive counterpart (negating it is UB; found by fuzz_llama2c):
  // it becomes 0, which the plausibility check below refuses.
  hd.vocab_size = h[5] == INT32_MIN ? 0 : h[5] > 0 ? h[5] : -h[5];
  hd.seq_len = h[6];
  const int32_t limit = 1 << 20;  // no real model has a dimension this large
  for (int32_t v : {hd.dim, hd.hidden_dim, hd.n_layers, hd.n_heads, hd.n_kv_heads, hd.vocab_size, hd.seq_len})
    SLMKIT_CHECK(v > 0 && v < limit, path, ": implausible llama2.c header (dim=", hd.dim, " hidden_dim=",
                 hd.hidden_dim, " n_layers=", hd.n_layers, " n_heads=", hd.n_heads, " n_kv_heads=", hd.n_kv_heads,
                 " vocab_size=", h[5], " seq_len=", hd.seq_len, "); is this a llama2.c .bin file?");
  SLMKIT_CHECK(hd.dim % hd.n_heads == 0, path, ": dim (", hd.dim, ") is not divisible by n_heads (", hd.n_heads, ")");
  SLMKIT_CHECK(hd.n_heads % hd.n_kv_heads == 0, path, ": n_heads (", hd.n_heads,
               ") is not a multiple of n_kv_heads (", hd.n_kv_heads, ")");
  SLMKIT_CHECK((hd.dim / hd.n_heads) % 2 == 0, path, ": head dimension dim/n_heads = ",
               hd.dim / hd.n_heads, " is odd; rotary embeddings need it even");

  const int64_t dim = hd.dim, hidden = hd.hidden_dim, L = hd.n_layers, V = hd.vocab_size;
  const int64_t head_dim = dim / hd.n_heads, kv_dim = head_dim * hd.n_kv_heads;
  Cursor cur(file, kHeaderBytes);
  auto& t = ck.tensors.tensors;
  t["model.embed_tokens.weight"] = cur.take({V, dim}, "token embeddings");
  const TensorView rms_att = cur.take({L, dim}, "rms_att_weight");
  const TensorView wq = cur.take({L, dim, dim}, "wq");
  const TensorView wk = cur.take({L, kv_dim, dim}, "wk");
  const TensorView wv = cur.take({L, kv_dim, dim}, "wv");
  const TensorView wo = cur.take({L, dim, dim}, "wo");
  const TensorView rms_ffn = cur.take({L, dim}, "rms_ffn_weight");
  const TensorView w1 = cur.take({L, hidden, dim}, "w1");
  const TensorView w2 = cur.take({L, dim, hidden}, "w2");
  const TensorView w3 = cur.take({L, hidden, dim}, "w3");
  t["model.norm.weight"] = cur.take({dim}, "rms_final_weight");
  // Precomputed RoPE tables (legacy format): we compute our own.
  cur.skip(uint64_t{static_cast<uint32_t>(hd.seq_len)} * static_cast<uint64_t>(head_dim) * sizeof(float),
           "freq_cis tables");  // < 2^20 · 2^20 · 4: no overflow
  if (!hd.shared_classifier) t["lm_head.weight"] = cur.take({V, dim}, "classifier");
  SLMKIT_CHECK(cur.offset() == file->size(), path, ": ", file->size() - cur.offset(),
               " unexpected bytes after the last llama2.c tensor (header says dim=", hd.dim, ", layers=", hd.n_layers,
               "); the header does not match the weights");
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t[p + "input_layernorm.weight"] = layer_slice(rms_att, l);
    t[p + "self_attn.q_proj.weight"] = permute_rope_rows(layer_slice(wq, l), hd.n_heads);
    t[p + "self_attn.k_proj.weight"] = permute_rope_rows(layer_slice(wk, l), hd.n_kv_heads);
    t[p + "self_attn.v_proj.weight"] = layer_slice(wv, l);
    t[p + "self_attn.o_proj.weight"] = layer_slice(wo, l);
    t[p + "post_attention_layernorm.weight"] = layer_slice(rms_ffn, l);
    t[p + "mlp.gate_proj.weight"] = layer_slice(w1, l);
    t[p + "mlp.down_proj.weight"] = layer_slice(w2, l);
    t[p + "mlp.up_proj.weight"] = layer_slice(w3, l);
  }
  return ck;
}

}  // namespace slmkit
