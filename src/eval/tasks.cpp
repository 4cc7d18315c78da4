#include "eval/tasks.h"

#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/strings.h"
#include "io/json.h"

namespace slmkit {
namespace {

// The harness's target delimiter between context and choice.
constexpr const char* kDelimiter = " ";


// "Question: ...?" → "Question: ...?\nAnswer:" (the harness's ARC/BoolQ prompt);
// queries that already end in "Answer:" (SIQA's) are left alone.
std::string with_answer_cue(const std::string& query) {
  return ends_with(query, "Answer:") ? query : query + "\nAnswer:";
}

template <typename T>
T field(const nlohmann::json& doc, const char* key, const std::string& where) {
  const auto it = doc.find(key);
  SLMKIT_CHECK(it != doc.end(), where, ": missing field \"", key, "\"");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(cat(where, ": field \"", key, "\" has the wrong type (", it->type_name(), ")"));
  }
}

TaskDoc choice_doc(const std::string& context, const std::vector<std::string>& choices, int64_t gold,
                   const std::string& where) {
  SLMKIT_CHECK(choices.size() >= 2, where, ": expected at least 2 choices, found ", choices.size());
  SLMKIT_CHECK(gold >= 0 && gold < static_cast<int64_t>(choices.size()), where, ": gold ", gold,
               " is not a choice index in [0, ", choices.size(), ")");
  TaskDoc d;
  d.gold = static_cast<int>(gold);
  d.choices = choices;
  for (const auto& c : choices) d.requests.push_back({context, kDelimiter + c});
  return d;
}

enum class Format { kPiqa, kQueryAnswerCue, kQueryVerbatim, kWinogrande, kLambada };

Format format_of(const TaskSpec& spec) {
  const std::string n = spec.name;
  if (n == "piqa") return Format::kPiqa;
  if (n == "arc_easy" || n == "arc_challenge" || n == "boolq") return Format::kQueryAnswerCue;
  if (n == "winogrande") return Format::kWinogrande;
  if (n == "lambada_openai") return Format::kLambada;
  return Format::kQueryVerbatim;
}

}  // namespace

const std::vector<TaskSpec>& task_specs() {
  static const std::vector<TaskSpec> specs = {
      {"piqa", "piqa_valid.jsonl", "piqa_valid-labels.lst", TaskKind::kMultipleChoice, "acc",
       "\"Question: {goal}\\nAnswer:\" -> \" {sol1}\" | \" {sol2}\""},
      {"arc_easy", "arc_easy.jsonl", nullptr, TaskKind::kMultipleChoice, "acc",
       "\"{query}\\nAnswer:\" (query = \"Question: ...\") -> \" {choice}\""},
      {"arc_challenge", "arc_challenge.jsonl", nullptr, TaskKind::kMultipleChoice, "acc_norm",
       "\"{query}\\nAnswer:\" -> \" {choice}\""},
      {"boolq", "boolq.jsonl", nullptr, TaskKind::kMultipleChoice, "acc",
       "\"{query}\\nAnswer:\" (query = \"Passage: ...\\nQuestion: ...\") -> \" no\" | \" yes\""},
      {"openbookqa", "openbook_qa.jsonl", nullptr, TaskKind::kMultipleChoice, "acc_norm",
       "\"{question stem}\" -> \" {choice}\""},
      {"siqa", "siqa.jsonl", nullptr, TaskKind::kMultipleChoice, "acc",
       "\"{query}\" (ends in \"Answer:\") -> \" {choice}\""},
      {"copa", "copa.jsonl", nullptr, TaskKind::kMultipleChoice, "acc",
       "\"{premise without period} because|therefore\" -> \" {choice, first letter lowercased}\""},
      {"winogrande", "winogrande.jsonl", nullptr, TaskKind::kPartialScoring, "acc",
       "partial scoring: \"{sentence up to the blank, filled with option i}\" -> \" {rest of the sentence}\""},
      {"lambada_openai", "lambada_openai.jsonl", nullptr, TaskKind::kLastWord, "acc",
       "\"{text without its last word}\" -> \" {last word}\" (acc: every token greedy; perplexity)"},
  };
  return specs;
}

const TaskSpec& task_spec(const std::string& name) {
  std::string known;
  for (const auto& s : task_specs()) {
    if (name == s.name) return s;
    known += (known.empty() ? "" : ", ") + std::string(s.name);
  }
  throw Error(cat("unknown task \"", name, "\"; known tasks: ", known));
}

std::vector<TaskDoc> parse_task(const TaskSpec& spec, const std::string& jsonl, const std::string& labels,
                                const std::string& source) {
  std::vector<int> gold_labels;
  if (spec.labels_file) {
    std::istringstream in(labels);
    std::string line;
    int64_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      SLMKIT_CHECK(line == "0" || line == "1", spec.labels_file, " line ", n, ": expected a label 0 or 1, found \"",
                   line, "\"");
      gold_labels.push_back(line[0] - '0');
    }
  }
  std::vector<TaskDoc> docs;
  std::istringstream in(jsonl);
  std::string line;
  int64_t line_no = 0;
  const Format format = format_of(spec);
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(source, " line ", line_no);
    // Strict: duplicate keys (which value would win?) and deep nesting are refused.
    nlohmann::json doc;
    try {
      doc = parse_json_strict(line, where);
    } catch (const Error& e) {
      throw Error(cat(where, ": not valid JSON (", e.what(), ")"));
    }
    SLMKIT_CHECK(doc.is_object(), where, ": expected a JSON object");
    switch (format) {
      case Format::kPiqa: {
        const size_t i = docs.size();
        SLMKIT_CHECK(i < gold_labels.size(), source, ": more documents than labels in ", spec.labels_file, " (",
                     gold_labels.size(), ")");
        docs.push_back(choice_doc("Question: " + field<std::string>(doc, "goal", where) + "\nAnswer:",
                                  {field<std::string>(doc, "sol1", where), field<std::string>(doc, "sol2", where)},
                                  gold_labels[i], where));
        break;
      }
      case Format::kQueryAnswerCue:
      case Format::kQueryVerbatim: {
        const std::string query = field<std::string>(doc, "query", where);
        docs.push_back(choice_doc(format == Format::kQueryAnswerCue ? with_answer_cue(query) : query,
                                  field<std::vector<std::string>>(doc, "choices", where),
                                  field<int64_t>(doc, "gold", where), where));
        break;
      }
      case Format::kWinogrande: {
        const auto options = field<std::vector<std::string>>(doc, "context_options", where);
        const std::string rest = field<std::string>(doc, "continuation", where);
        TaskDoc d = choice_doc("", options, field<int64_t>(doc, "gold", where), where);
        for (size_t i = 0; i < options.size(); ++i) d.requests[i] = {options[i], kDelimiter + rest};
        docs.push_back(std::move(d));
        break;
      }
      case Format::kLambada: {
        TaskDoc d;
        const std::string word = field<std::string>(doc, "continuation", where);
        d.requests.push_back({field<std::string>(doc, "context", where), kDelimiter + word});
        d.choices.push_back(word);
        docs.push_back(std::move(d));
        break;
      }
    }
  }
  SLMKIT_CHECK(!docs.empty(), source, ": no documents");
  SLMKIT_CHECK(!spec.labels_file || docs.size() == gold_labels.size(), source, ": ", docs.size(), " documents but ",
               gold_labels.size(), " labels in ", spec.labels_file);
  return docs;
}

}  // namespace slmkit
