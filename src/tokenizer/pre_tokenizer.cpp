#include "tokenizer/pre_tokenizer.h"

#include "core/error.h"

namespace slmkit {

const char* const kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

bool bool_field(const nlohmann::json& spec, const char* key, bool fallback,
                const std::string& where) {
  if (!spec.contains(key) || spec[key].is_null()) return fallback;
  SLMKIT_CHECK(spec[key].is_boolean(), where, ".", key, ": expected a boolean, found ",
               spec[key].dump());
  return spec[key].get<bool>();
}

std::string type_of(const nlohmann::json& spec, const std::string& where) {
  SLMKIT_CHECK(spec.is_object() && spec.contains("type") && spec["type"].is_string(), where,
               ": expected an object with a string \"type\", found ", spec.dump().substr(0, 200));
  return spec["type"].get<std::string>();
}

}  // namespace

PreTokenizer::PreTokenizer(const nlohmann::json& spec, const std::string& what) {
  if (!spec.is_null()) add_steps(spec, what + ": pre_tokenizer");
}

PreTokenizer::~PreTokenizer() = default;

bool PreTokenizer::contains_byte_level(const nlohmann::json& spec) {
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string()) return false;
  const std::string type = spec["type"].get<std::string>();
  if (type == "ByteLevel") return true;
  if (type == "Sequence" && spec.contains("pretokenizers") && spec["pretokenizers"].is_array()) {
    for (const auto& child : spec["pretokenizers"]) {
      if (contains_byte_level(child)) return true;
    }
  }
  return false;
}

void PreTokenizer::add_steps(const nlohmann::json& spec, const std::string& where) {
  const std::string type = type_of(spec, where);
  if (type == "Sequence") {
    SLMKIT_CHECK(spec.contains("pretokenizers") && spec["pretokenizers"].is_array(), where,
                 ": Sequence needs an array \"pretokenizers\"");
    for (size_t i = 0; i < spec["pretokenizers"].size(); ++i) {
      add_steps(spec["pretokenizers"][i], cat(where, ".pretokenizers[", i, "]"));
    }
    return;
  }
  Step step;
  if (type == "ByteLevel") {
    has_byte_level_ = true;
    step.add_prefix_space = bool_field(spec, "add_prefix_space", true, where);
    // Older files (GPT-2) have no use_regex field; the default is true.
    if (bool_field(spec, "use_regex", true, where)) {
      step.regex = std::make_unique<UnicodeRegex>(kGpt2SplitPattern, false, where);
    }
  } else if (type == "Split") {
    SLMKIT_CHECK(spec.contains("pattern") && spec["pattern"].is_object(), where,
                 ": Split needs an object \"pattern\" ({\"Regex\": ...} or {\"String\": ...})");
    const auto& pattern = spec["pattern"];
    const bool literal = pattern.contains("String");
    const char* key = literal ? "String" : "Regex";
    SLMKIT_CHECK(pattern.contains(key) && pattern[key].is_string(), where,
                 ".pattern: expected {\"Regex\": string} or {\"String\": string}, found ",
                 pattern.dump());
    step.regex = std::make_unique<UnicodeRegex>(pattern[key].get<std::string>(), literal, where);
    SLMKIT_CHECK(spec.contains("behavior") && spec["behavior"].is_string(), where,
                 ": Split needs a string \"behavior\"");
    const std::string behavior = spec["behavior"].get<std::string>();
    if (behavior == "Removed") {
      step.behavior = Behavior::kRemoved;
    } else if (behavior == "Isolated") {
      step.behavior = Behavior::kIsolated;
    } else if (behavior == "MergedWithPrevious") {
      step.behavior = Behavior::kMergedWithPrevious;
    } else if (behavior == "MergedWithNext") {
      step.behavior = Behavior::kMergedWithNext;
    } else if (behavior == "Contiguous") {
      step.behavior = Behavior::kContiguous;
    } else {
      throw Error(cat(where, ".behavior: unknown value '", behavior,
                      "'; expected Removed, Isolated, MergedWithPrevious, MergedWithNext or "
                      "Contiguous"));
    }
    step.invert = bool_field(spec, "invert", false, where);
  } else if (type == "Digits") {
    // HF splits on char::is_numeric; individual digits are isolated one by one,
    // otherwise runs of digits stay together.
    const bool individual = bool_field(spec, "individual_digits", false, where);
    step.regex =
        std::make_unique<UnicodeRegex>(individual ? R"(\p{N})" : R"(\p{N}+)", false, where);
  } else {
    throw Error(cat(where, ": unsupported pre-tokenizer type '", type,
                    "'; supported: ByteLevel, Split, Digits, Sequence"));
  }
  steps_.push_back(std::move(step));
}

void PreTokenizer::apply(const Step& step, const std::string& piece,
                         std::vector<std::string>& out) {
  std::string text = piece;
  if (step.add_prefix_space && (text.empty() || text[0] != ' ')) text.insert(0, 1, ' ');
  if (!step.regex) {
    if (!text.empty()) out.push_back(std::move(text));
    return;
  }
  // Alternate gaps and matches; `is_match` is what the behavior acts on (inverted
  // when the pattern describes what to keep).
  struct Span {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Span> spans;
  size_t cursor = 0;
  for (const auto& [begin, end] : step.regex->find_all(text)) {
    if (begin > cursor) spans.push_back({cursor, begin, step.invert});
    spans.push_back({begin, end, !step.invert});
    cursor = end;
  }
  if (cursor < text.size()) spans.push_back({cursor, text.size(), step.invert});

  std::string pending;  // for the merging behaviors
  auto flush = [&out](std::string& s) {
    if (!s.empty()) out.push_back(std::move(s));
    s.clear();
  };
  for (size_t i = 0; i < spans.size(); ++i) {
    const Span& span = spans[i];
    std::string part = text.substr(span.begin, span.end - span.begin);
    switch (step.behavior) {
      case Behavior::kRemoved:
        if (!span.is_match) flush(part);
        break;
      case Behavior::kIsolated:
        flush(part);
        break;
      case Behavior::kMergedWithPrevious:  // a match closes the piece before it
        pending += part;
        if (span.is_match) flush(pending);
        break;
      case Behavior::kMergedWithNext:  // a match opens the piece after it
        if (span.is_match) flush(pending);
        pending += part;
        break;
      case Behavior::kContiguous:  // adjacent matches form one piece
        if (!span.is_match || (i > 0 && !spans[i - 1].is_match)) flush(pending);
        pending += part;
        if (!span.is_match) flush(pending);
        break;
    }
  }
  flush(pending);
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string> pieces;
  if (!text.empty()) pieces.emplace_back(text);
  for (const Step& step : steps_) {
    std::vector<std::string> next;
    next.reserve(pieces.size());
    for (const std::string& piece : pieces) apply(step, piece, next);
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace slmkit
