#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (and the shared dictionary).

    fuzz/make_seeds.py OUT_DIR [SLMKIT_DATA]

OUT_DIR/<target>/ gets tiny valid files of the target's format, built here from
the format's rules, plus the regression shapes of the advisories listed in
../shared/reference/reliability.md (§1, §6.2): each one a file the reader must
refuse cleanly. A few small real files are copied from the repository's test
fixtures and from SLMKIT_DATA when present (never committed). Nothing here needs
PyTorch: pickles and zips are written byte by byte.
"""
import io
import json
import os
import pathlib
import random
import shutil
import struct
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def put(out, target, name, data):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---------------------------------------------------------------- safetensors

def safetensors(tensors, metadata=None, pad=b" ", header_override=None):
    """tensors: [(name, dtype, shape, data bytes)] in offset order."""
    header, offset, blob = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blob += data
    text = (header_override or json.dumps(header, separators=(",", ":"))).encode()
    text += pad * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + blob


def safetensors_seeds(out):
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    t = "safetensors"
    put(out, t, "one", safetensors([("w", "F32", [2, 2], f32(1, 2, 3, 4))]))
    put(out, t, "several", safetensors([
        ("a", "F64", [1], struct.pack("<d", 1.5)), ("b", "F32", [3], f32(1, 2, 3)),
        ("c", "BF16", [2], b"\x80\x3f\x00\x40"), ("d", "I8", [0, 5], b""), ("e", "U8", [], b"\x07")],
        metadata={"format": "pt"}))
    put(out, t, "empty", safetensors([]))
    put(out, t, "len_max_u64", struct.pack("<Q", 2**64 - 1) + b"{}")
    put(out, t, "shape_overflow", safetensors([], header_override=json.dumps(
        {"x": {"dtype": "F32", "shape": [2**32, 2**32, 2], "data_offsets": [0, 0]}})))
    put(out, t, "nul_padding", safetensors([("w", "F32", [1], f32(1))], pad=b"\0"))
    put(out, t, "tied", safetensors([], header_override=json.dumps(
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
         "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})) + f32(1))
    put(out, t, "gap", safetensors([], header_override=json.dumps(
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})) + f32(1, 2))
    put(out, t, "deep", safetensors([], header_override='{"x":' + "[" * 200 + "]" * 200 + "}"))


def safetensors_index_seeds(out):
    t = "safetensors_index"
    wm = {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}
    put(out, t, "valid", json.dumps({"metadata": {"total_size": 32}, "weight_map": wm}))
    put(out, t, "subdir", json.dumps({"weight_map": {"c.weight": "sub/model-00003.safetensors"}}))
    put(out, t, "dotdot", json.dumps({"weight_map": {"a.weight": "../slmkit_fuzz_outside.safetensors"}}))
    put(out, t, "absolute", json.dumps({"weight_map": {"a.weight": "/etc/passwd"}}))
    put(out, t, "symlink", json.dumps({"weight_map": {"a.weight": "escape.safetensors"}}))
    put(out, t, "two_shards", json.dumps({"weight_map": {"a.weight": "model-00002-of-00002.safetensors"}}))


# ---------------------------------------------------------------- GGUF

def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf(kvs, tensors, version=3, alignment=32, n_tensors=None, n_kv=None):
    """kvs: [(key, type id, encoded value)]; tensors: [(name, [ne...], type, data)]."""
    out = b"GGUF" + struct.pack("<I", version)
    out += struct.pack("<QQ", len(tensors) if n_tensors is None else n_tensors,
                       len(kvs) if n_kv is None else n_kv)
    for key, vtype, value in kvs:
        out += gstr(key) + struct.pack("<I", vtype) + value
    offset = 0
    for name, ne, gtype, data in tensors:
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<q", d) for d in ne)
        out += struct.pack("<IQ", gtype, offset)
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * ((-len(out)) % alignment)
    for _, _, _, data in tensors:
        out += data + b"\0" * ((-len(data)) % alignment)
    return out


def gguf_seeds(out):
    t = "gguf"
    arch = ("general.architecture", 8, gstr("llama"))
    tokens = ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + gstr("<unk>") + gstr("a") + gstr("<0x0A>"))
    scores = ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0, -1, -2))
    f32 = struct.pack("<8f", *range(8))
    q8 = struct.pack("<H", 0x3C00) + bytes(range(32))
    put(out, t, "valid", gguf([arch, tokens, scores, ("general.alignment", 4, struct.pack("<I", 32))],
                              [("w", [4, 2], 0, f32), ("q", [32], 8, q8)]))
    put(out, t, "no_tensors", gguf([arch], []))
    put(out, t, "v2", gguf([arch], [("w", [8], 0, f32)], version=2))
    put(out, t, "version1", gguf([arch], [], version=1))
    put(out, t, "byteswapped_version", gguf([arch], [], version=0x03000000))
    put(out, t, "n_dims_5", gguf([arch], [("w", [1, 1, 1, 1, 8], 0, f32)]))
    # GGML_PAD wrap (llama.cpp#24759): F32 ne=[4, 2^30-1, 2^30+1, 1] → nbytes = 2^64-16.
    put(out, t, "pad_wrap", gguf([arch], [("w", [4, 2**30 - 1, 2**30 + 1, 1], 0, f32)]))
    # ggml_nelements sign wrap (issue #27203): ne=(INT64_MAX, 2, 1, 1), I8.
    put(out, t, "nelements_wrap", gguf([arch], [("w", [2**63 - 1, 2, 1, 1], 24, b"\0" * 8)]))
    put(out, t, "huge_string", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**62) + b"k")
    put(out, t, "nested_array", gguf([("a", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 9, 1) +
                                       struct.pack("<IQ", 4, 1) + struct.pack("<I", 7))], []))
    put(out, t, "alignment_13", gguf([("general.alignment", 4, struct.pack("<I", 13))], []))
    put(out, t, "alignment_u8", gguf([("general.alignment", 0, b"\x20")], []))
    put(out, t, "counts_impossible", gguf([arch], [], n_tensors=2**63, n_kv=2**40))
    put(out, t, "bad_type", gguf([arch], [("w", [8], 4, f32)]))
    put(out, t, "truncated", gguf([arch], [("w", [4, 2], 0, f32)])[:-5])
    put(out, t, "trailing", gguf([arch], [("w", [4, 2], 0, f32)]) + b"PK\x05\x06" + b"\0" * 18)


# ---------------------------------------------------------------- zip / pickle / torch

def stored_zip(entries, zip64=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in entries:
            with z.open(zipfile.ZipInfo(name), "w", force_zip64=zip64) as f:
                f.write(data)
    return buf.getvalue()


def pickle_state_dict():
    """The pickle torch.save writes for {'w': FloatStorage tensor [2, 2]} (protocol 2)."""
    p = b"\x80\x02" + b"ccollections\nOrderedDict\nq\x00)Rq\x01"
    p += b"X\x01\x00\x00\x00wq\x02"
    p += b"ctorch._utils\n_rebuild_tensor_v2\nq\x03("
    p += b"(X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06"
    p += b"X\x03\x00\x00\x00cpuq\x07K\x04tq\x08Q"
    p += b"K\x00K\x02K\x02\x86q\tK\x02K\x01\x86q\n\x89ccollections\nOrderedDict\nq\x0b)Rq\x0ctq\rRq\x0e"
    p += b"s."
    return p


def torch_zip(pkl, storages, prefix="archive/"):
    entries = [(prefix + "data.pkl", pkl), (prefix + "byteorder", b"little")]
    entries += [(prefix + "data/" + k, v) for k, v in storages.items()]
    entries.append((prefix + "version", b"3\n"))
    return stored_zip(entries)


def pickle_and_torch_seeds(out):
    pkl = pickle_state_dict()
    data = struct.pack("<4f", 1, 2, 3, 4)
    put(out, "pickle", "state_dict", pkl)
    put(out, "pickle", "malicious_global", b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00idR.")
    put(out, "pickle", "self_list", b"\x80\x02]q\x00h\x00a.")
    put(out, "pickle", "deep_marks", b"\x80\x02" + b"(" * 150 + b"t" * 150 + b".")
    put(out, "torch_pt", "state_dict", torch_zip(pkl, {"0": data}))
    put(out, "torch_pt", "missing_storage", torch_zip(pkl, {}))
    put(out, "torch_pt", "expanded_view", torch_zip(pkl.replace(b"K\x02K\x01\x86", b"K\x00K\x00\x86"), {"0": data}))
    put(out, "zip", "stored", stored_zip([("a/x", b"hello"), ("a/y", b"")]))
    put(out, "zip", "zip64", stored_zip([("a/x", b"hello")], zip64=True))
    put(out, "zip", "torch", torch_zip(pkl, {"0": data}))
    put(out, "zip", "dotdot_name", stored_zip([("../evil", b"x")]))
    fixtures = ROOT / "tests" / "fixtures" / "torch"
    for f in sorted(fixtures.glob("*.pt")):
        put(out, "torch_pt", f.stem, f.read_bytes())
        put(out, "zip", f.stem, f.read_bytes())
        try:
            with zipfile.ZipFile(f) as z:
                for name in z.namelist():
                    if name.endswith("data.pkl"):
                        put(out, "pickle", f.stem, z.read(name))
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError):
            pass


# ---------------------------------------------------------------- JSON side files

def config_seeds(out, data):
    t = "config_json"
    llama = {"model_type": "llama", "vocab_size": 32, "hidden_size": 16, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 64, "rope_scaling": {"rope_type": "llama3", "factor": 8.0},
             "bos_token_id": 1, "eos_token_id": [2, 3]}
    put(out, t, "llama", json.dumps(llama))
    q = dict(llama, quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 32,
                                        "dynamic": {"+:model\\.layers\\.0\\..*": {"bits": 8},
                                                    "-:.*down_proj": {}}})
    put(out, t, "gptq_dynamic", json.dumps(q))
    put(out, t, "gpt2", json.dumps({"model_type": "gpt2", "vocab_size": 32, "n_embd": 16, "n_layer": 1,
                                    "n_head": 2, "n_positions": 32}))
    put(out, t, "qwen2_sliding", json.dumps(dict(llama, model_type="qwen2", use_sliding_window=True,
                                                 sliding_window=16)))
    put(out, t, "absurd_layers", json.dumps(dict(llama, num_hidden_layers=10**9)))
    put(out, t, "custom_code", json.dumps(dict(llama, auto_map={"AutoModel": "x.Y"}, trust_remote_code=True)))
    put(out, t, "redos", json.dumps(dict(llama, quantization_config={
        "quant_method": "gptq", "bits": 4, "group_size": 32, "dynamic": {"+:(.*)*(.*)*x": {"bits": 8}}})))
    for model in ("stories260k", "mixed-en-13m"):
        p = data / "models" / model / "config.json"
        if p.exists():
            put(out, t, model, p.read_bytes())


def tokenizer_json_seed():
    """A tiny byte-level BPE tokenizer.json in the GPT-2 style."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = {chr(c): i for i, c in enumerate(cs)}
    merges = ["Ġ t", "h e", "Ġt he", "l l", "e ll", "ll o"]
    for m in merges:
        a, b = m.split(" ")
        vocab.setdefault(a + b, len(vocab))
    return {
        "version": "1.0",
        "added_tokens": [{"id": len(vocab), "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": merges},
    }


def tokenizer_json_seeds(out):
    t = "tokenizer_json"
    tok = tokenizer_json_seed()
    put(out, t, "byte_level_bpe", json.dumps(tok, ensure_ascii=False))
    dup = json.loads(json.dumps(tok))
    dup["model"]["merges"].append("zz qq")
    put(out, t, "unknown_merge", json.dumps(dup, ensure_ascii=False))
    redos = json.loads(json.dumps(tok))
    redos["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(a+)+$"
    put(out, t, "redos_split", json.dumps(redos, ensure_ascii=False))


# ---------------------------------------------------------------- SentencePiece, llama2.c

def varint(n):
    b = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            b += bytes([byte | 0x80])
        else:
            return b + bytes([byte])


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def spm_model(pieces, byte_fallback=True):
    body = b""
    for text, score, ptype in pieces:
        msg = field(1, 2, text.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(ptype))
        body += field(1, 2, msg)
    trainer = field(3, 0, varint(2)) + field(35, 0, varint(1 if byte_fallback else 0))
    body += field(2, 2, trainer)
    body += field(3, 2, field(1, 2, b"identity") + field(3, 0, varint(1)))
    return body


def spm_and_llama2c_seeds(out, data):
    pieces = [("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3)]
    pieces += [("<0x%02X>" % b, 0, 6) for b in range(256)]
    pieces += [("\u2581", -1, 1), ("a", -2, 1), ("b", -3, 1), ("\u2581a", -4, 1), ("ab", -5, 1)]
    put(out, "sentencepiece", "bpe_byte_fallback", spm_model(pieces))
    put(out, "sentencepiece", "two_unk", spm_model(pieces + [("<unk2>", 0, 2)]))
    put(out, "sentencepiece", "nul_piece", spm_model(pieces + [("a\0b", -9, 1)]))
    p = data / "models" / "stories260k" / "tokenizer.model"
    if p.exists():
        put(out, "sentencepiece", "stories260k", p.read_bytes())

    # llama2.c tokenizer.bin (first byte odd) and a tiny checkpoint (first byte even).
    toks = [("<unk>", 0.0), ("\n<s>\n", 0.0), ("\n</s>\n", 0.0)]
    toks += [("<0x%02X>" % b, 0.0) for b in range(256)]
    toks += [(" ", -1.0), ("a", -2.0), (" a", -3.0), ("b", -4.0), ("ab", -5.0)]
    tb = struct.pack("<i", 8) + b"".join(struct.pack("<fi", s, len(t.encode())) + t.encode() for t, s in toks)
    put(out, "llama2c", "tokenizer", b"\x01" + tb)
    p = data / "models" / "stories260k-llama2c" / "tok512.bin"
    if p.exists():
        put(out, "llama2c", "tok512", b"\x01" + p.read_bytes())
    dim, hidden, layers, heads, kv, vocab, seq = 8, 16, 1, 2, 2, 32, 4
    hd = dim // heads
    n = vocab * dim + layers * (dim + 2 * dim * dim + 2 * (kv * hd) * dim + dim + 3 * hidden * dim) + dim
    n += seq * hd  # freq_cis tables
    header = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq)
    rng = random.Random(0)
    weights = struct.pack("<%df" % n, *[rng.uniform(-1, 1) for _ in range(n)])
    put(out, "llama2c", "checkpoint", b"\x00" + header + weights)
    put(out, "llama2c", "checkpoint_untied", b"\x00" + struct.pack("<7i", dim, hidden, layers, heads, kv, -vocab, seq)
        + weights + struct.pack("<%df" % (vocab * dim), *([0.5] * (vocab * dim))))
    put(out, "llama2c", "huge_header", b"\x00" + struct.pack("<7i", 2**20 - 1, 2**20 - 1, 2**20 - 1, 1, 1, 2**20 - 1, 1))


# ---------------------------------------------------------------- text, tasks, blocks

def text_task_block_seeds(out, data):
    t = "text_input"
    put(out, t, "ascii", "The quick brown fox.\nJumps over the lazy dog.\n\n = Heading = \n")
    put(out, t, "unicode", "na\u00efve caf\u00e9 \u2014 \u65e5\u672c\u8a9e \U0001F600\n\ttab\r\n")
    put(out, t, "invalid_utf8", b"ok line\nbad \xc3\x28 here\n")
    put(out, t, "binary", b"\x7fELF\x02\x01\x01\0\0\0")
    put(out, t, "empty", b"")

    t = "task_jsonl"
    docs = {
        "piqa": '{"goal": "open a jar", "sol1": "twist the lid", "sol2": "eat the lid"}\n\xff0\n',
        "arc_easy": '{"query": "Question: 1+1?", "choices": ["2", "3"], "gold": 0}\n',
        "boolq": '{"query": "Passage: p\\nQuestion: q?", "choices": ["no", "yes"], "gold": 1}\n',
        "siqa": '{"query": "Q? Answer:", "choices": ["a", "b", "c"], "gold": 2}\n',
        "winogrande": '{"context_options": ["Sam ate", "Kim ate"], "continuation": "the cake.", "gold": 1}\n',
        "lambada_openai": '{"context": "the cat sat on the", "continuation": "mat"}\n',
    }
    order = ["piqa", "arc_easy", "arc_challenge", "boolq", "openbookqa", "siqa", "copa", "winogrande",
             "lambada_openai"]
    for name, text in docs.items():
        put(out, t, name, bytes([order.index(name)]) + text.encode("latin-1" if "\xff" in text else "utf-8"))
    put(out, t, "duplicate_key", bytes([order.index("arc_easy")]) +
        b'{"query": "q", "query": "r", "choices": ["a", "b"], "gold": 0}\n')
    put(out, t, "gold_wraps", bytes([order.index("arc_easy")]) +
        b'{"query": "q", "choices": ["a", "b"], "gold": 4294967297}\n')

    t = "quant_blocks"
    sizes = [4, 2, 2, 34, 18, 20, 144, 210]  # F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K Q6_K block bytes
    rng = random.Random(1)
    for i, size in enumerate(sizes):
        blocks = bytes(rng.getrandbits(8) for _ in range(size * 4))
        if i in (3, 4, 5):  # a plausible fp16 scale (≈ 0.01) in each 32-element block
            blocks = b"".join(struct.pack("<H", 0x211F) + blocks[k * size + 2:(k + 1) * size] for k in range(4))
        put(out, t, "type%d" % i, bytes([i]) + blocks)
    put(out, t, "q8_inf_scale", bytes([3]) + struct.pack("<H", 0x7C00) + bytes(32))


DICTIONARY = [
    "GGUF", "PK\\x03\\x04", "PK\\x01\\x02", "PK\\x05\\x06", "PK\\x06\\x06", "PK\\x06\\x07",
    "__metadata__", "data_offsets", "dtype", "shape", "F32", "F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3",
    "weight_map", "metadata", "general.alignment", "general.architecture", "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.model", "llama.block_count",
    "archive/data.pkl", "archive/version", "archive/data/", "byteorder", "little",
    "collections\\x0aOrderedDict\\x0a", "torch._utils\\x0a_rebuild_tensor_v2\\x0a", "torch\\x0aFloatStorage\\x0a",
    "storage", "cpu", "\\x80\\x02", "\\x80\\x04\\x95", "\\x8c", "\\x93", "\\x94",
    "model_type", "llama", "gpt2", "qwen2", "mistral", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "intermediate_size", "vocab_size", "head_dim", "max_position_embeddings",
    "rope_scaling", "rope_type", "quantization_config", "quant_method", "gptq", "dynamic", "group_size", "bits",
    "slmkit_layer_dims", "tie_word_embeddings", "eos_token_id", "bos_token_id",
    "added_tokens", "pre_tokenizer", "ByteLevel", "Split", "Sequence", "Regex", "merges", "vocab", "BPE",
    "post_processor", "TemplateProcessing", "normalizer", "NFKC", "Lowercase",
    "query", "choices", "gold", "goal", "sol1", "context_options", "continuation", "context",
    "<0x0A>", "\\xe2\\x96\\x81", "<unk>", "<s>", "</s>",
]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    data = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("SLMKIT_DATA", ROOT.parent / "shared" / "data"))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    safetensors_seeds(out)
    safetensors_index_seeds(out)
    gguf_seeds(out)
    pickle_and_torch_seeds(out)
    config_seeds(out, data)
    tokenizer_json_seeds(out)
    spm_and_llama2c_seeds(out, data)
    text_task_block_seeds(out, data)
    (out / "slmkit.dict").write_text("".join('"%s"\n' % w for w in DICTIONARY))
    for d in sorted(p for p in out.iterdir() if p.is_dir()):
        print("%-20s %3d seeds" % (d.name, len(list(d.iterdir()))))


if __name__ == "__main__":
    main()
