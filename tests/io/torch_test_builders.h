// Test helpers for the PyTorch-checkpoint readers: pickle opcode snippets and a
// tiny stored-zip writer whose layout (offsets of every header) is returned so
// tests can corrupt one field at a time.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/zip_archive.h"
#include "test_util.h"

namespace slmkit::test {

inline std::string le_bytes(uint64_t value, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += static_cast<char>((value >> (8 * i)) & 0xFF);
  return out;
}

// --- pickle opcodes ----------------------------------------------------------
inline std::string pk_proto2() { return std::string("\x80\x02", 2); }
inline std::string pk_str(const std::string& s) { return "X" + le_bytes(s.size(), 4) + s; }
inline std::string pk_int1(uint8_t v) { return std::string("K") + static_cast<char>(v); }
inline std::string pk_global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
// ('storage', torch.<type>, key, 'cpu', numel) as BINPERSID.
inline std::string pk_storage(const std::string& type, const std::string& key, uint8_t numel) {
  return "(" + pk_str("storage") + pk_global("torch", type) + pk_str(key) + pk_str("cpu") +
         pk_int1(numel) + "tQ";
}
// _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).
inline std::string pk_tensor(const std::string& storage_pid, uint8_t offset,
                             const std::vector<uint8_t>& size, const std::vector<uint8_t>& stride) {
  std::string s = pk_global("torch._utils", "_rebuild_tensor_v2") + "(" + storage_pid + pk_int1(offset);
  s += "(";
  for (uint8_t d : size) s += pk_int1(d);
  s += "t(";
  for (uint8_t d : stride) s += pk_int1(d);
  s += "t\x89" + pk_global("collections", "OrderedDict") + ")RtR";
  return s;
}

// --- stored zip writer ---------------------------------------------------------
struct ZipRecord {
  std::string name;
  std::string data;
};

struct ZipOptions {
  bool zip64_end = false;     // zip64 end record + locator, as torch.save writes
  bool zip64_extra = false;   // central sizes/offset as 0xFFFFFFFF + zip64 extra field
  uint16_t method = 0;        // claimed compression method (data stays raw)
  uint16_t flags = 0;
};

struct ZipImage {
  std::string bytes;
  std::vector<size_t> local_offsets;    // local header of each record
  std::vector<size_t> central_offsets;  // central directory entry of each record
  size_t cd_offset = 0;
  size_t eocd_offset = 0;
};

inline ZipImage build_zip(const std::vector<ZipRecord>& records, const ZipOptions& opt = {}) {
  ZipImage img;
  std::string& z = img.bytes;
  std::vector<uint32_t> crcs;
  for (const ZipRecord& r : records) {
    const uint32_t crc =
        crc32_update(0, reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size());
    crcs.push_back(crc);
    img.local_offsets.push_back(z.size());
    z += le_bytes(0x04034b50, 4) + le_bytes(20, 2) + le_bytes(opt.flags, 2) +
         le_bytes(opt.method, 2) + le_bytes(0, 4) + le_bytes(crc, 4) +
         le_bytes(r.data.size(), 4) + le_bytes(r.data.size(), 4) + le_bytes(r.name.size(), 2) +
         le_bytes(0, 2) + r.name + r.data;
  }
  img.cd_offset = z.size();
  for (size_t i = 0; i < records.size(); ++i) {
    const ZipRecord& r = records[i];
    const uint64_t wide = opt.zip64_extra ? 0xFFFFFFFFu : 0;
    const std::string extra =
        opt.zip64_extra ? le_bytes(1, 2) + le_bytes(24, 2) + le_bytes(r.data.size(), 8) +
                              le_bytes(r.data.size(), 8) + le_bytes(img.local_offsets[i], 8)
                        : std::string();
    img.central_offsets.push_back(z.size());
    z += le_bytes(0x02014b50, 4) + le_bytes(20, 2) + le_bytes(20, 2) + le_bytes(opt.flags, 2) +
         le_bytes(opt.method, 2) + le_bytes(0, 4) + le_bytes(crcs[i], 4) +
         le_bytes(wide ? wide : r.data.size(), 4) + le_bytes(wide ? wide : r.data.size(), 4) +
         le_bytes(r.name.size(), 2) + le_bytes(extra.size(), 2) + le_bytes(0, 2) + le_bytes(0, 2) +
         le_bytes(0, 2) + le_bytes(0, 4) + le_bytes(wide ? wide : img.local_offsets[i], 4) +
         r.name + extra;
  }
  const size_t cd_size = z.size() - img.cd_offset;
  if (opt.zip64_end) {
    const size_t z64 = z.size();
    z += le_bytes(0x06064b50, 4) + le_bytes(44, 8) + le_bytes(45, 2) + le_bytes(45, 2) +
         le_bytes(0, 4) + le_bytes(0, 4) + le_bytes(records.size(), 8) +
         le_bytes(records.size(), 8) + le_bytes(cd_size, 8) + le_bytes(img.cd_offset, 8);
    z += le_bytes(0x07064b50, 4) + le_bytes(0, 4) + le_bytes(z64, 8) + le_bytes(1, 4);
  }
  img.eocd_offset = z.size();
  z += le_bytes(0x06054b50, 4) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(records.size(), 2) +
       le_bytes(records.size(), 2) + le_bytes(cd_size, 4) + le_bytes(img.cd_offset, 4) +
       le_bytes(0, 2);
  return img;
}

inline void poke(std::string& bytes, size_t offset, uint64_t value, int count) {
  const std::string v = le_bytes(value, count);
  bytes.replace(offset, static_cast<size_t>(count), v);
}

// Writes `bytes` to a fresh file named `name` in a new temp directory.
inline std::string write_temp_file(const std::string& name, const std::string& bytes) {
  const std::string path = make_temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// Runs `fn`, expecting slmkit::Error whose message contains every fragment.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& f : fragments) {
      EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
    }
    return;
  }
  ADD_FAILURE() << "expected slmkit::Error";
}

}  // namespace slmkit::test
