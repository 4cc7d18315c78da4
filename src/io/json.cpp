#include "io/json.h"

#include <cstddef>
#include <iterator>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "io/mapped_file.h"

namespace slmkit {
namespace {

// nlohmann's parser callback sees keys but not where they are. Feeding the
// parser through this iterator records how far it has read, which at a `key`
// event is the byte just after the key's closing quote.
class TrackingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackingIterator(const char* p, const char** furthest) : p_(p), furthest_(furthest) {}
  reference operator*() const { return *p_; }
  TrackingIterator& operator++() {
    ++p_;
    if (p_ > *furthest_) *furthest_ = p_;
    return *this;
  }
  TrackingIterator operator++(int) {
    TrackingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const TrackingIterator& other) const { return p_ == other.p_; }
  bool operator!=(const TrackingIterator& other) const { return p_ != other.p_; }

 private:
  const char* p_;
  const char** furthest_;
};

// Thrown out of the parser callback; turned into an Error once the position is known.
struct DuplicateKey {
  std::string key;
};
struct TooDeep {};

// nlohmann prefixes messages with "[json.exception.parse_error.101] "; the
// reader of our message does not need the library's error id.
std::string_view without_exception_id(std::string_view message) {
  if (!message.empty() && message.front() == '[') {
    const size_t close = message.find("] ");
    if (close != std::string_view::npos) return message.substr(close + 2);
  }
  return message;
}

}  // namespace

nlohmann::json parse_json_strict(const std::string& text, const std::string& what,
                                 const Limits& limits) {
  // One key set per object currently open; objects nest, so a stack.
  std::vector<std::unordered_set<std::string>> open_objects_keys;
  const uint32_t max_depth = limits.json_depth;
  const nlohmann::json::parser_callback_t reject_duplicates =
      [&open_objects_keys, max_depth](int depth, nlohmann::json::parse_event_t event,
                                      nlohmann::json& parsed) {
        using Event = nlohmann::json::parse_event_t;
        // `depth` counts the containers open around this event; a new one makes it +1.
        if ((event == Event::object_start || event == Event::array_start) &&
            static_cast<uint64_t>(depth) + 1 > max_depth)
          throw TooDeep{};
        if (event == Event::object_start) {
          open_objects_keys.emplace_back();
        } else if (event == Event::object_end) {
          open_objects_keys.pop_back();
        } else if (event == Event::key) {
          const std::string& key = parsed.get_ref<const std::string&>();
          if (!open_objects_keys.back().insert(key).second) throw DuplicateKey{key};
        }
        return true;
      };

  // nlohmann's lexer takes a NUL byte for the end of input and ignores what
  // follows, so `{"a":1}\0<anything>` would parse. JSON text never contains a
  // raw NUL (not even inside strings), so refuse it up front.
  const size_t nul = text.find('\0');
  if (nul != std::string::npos)
    throw Error(cat(what, ": invalid JSON at byte ", nul + 1, ": a NUL byte, which JSON text ",
                    "cannot contain (the file is corrupt or padded with zeros)"));

  const char* begin = text.data();
  const char* furthest_read = begin;
  try {
    return nlohmann::json::parse(TrackingIterator(begin, &furthest_read),
                                 TrackingIterator(begin + text.size(), &furthest_read),
                                 reject_duplicates);
  } catch (const TooDeep&) {
    throw Error(cat(what, ": JSON nested more than ", max_depth, " levels deep (at byte ",
                    furthest_read - begin, "); refusing a possibly hostile file (Limits::json_depth)"));
  } catch (const DuplicateKey& dup) {
    throw Error(cat(what, ": duplicate key \"", dup.key, "\" (ending at byte ",
                    furthest_read - begin, "); keys must be unique because parsers disagree ",
                    "on which value wins, so the document is ambiguous"));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(cat(what, ": invalid JSON at byte ", e.byte, ": ", without_exception_id(e.what())));
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(what, ": invalid JSON near byte ", furthest_read - begin, ": ",
                    without_exception_id(e.what())));
  }
}

nlohmann::json read_json_file(const std::string& path, const Limits& limits) {
  return parse_json_strict(read_text_file(path, limits.side_file_bytes), path, limits);
}

}  // namespace slmkit
