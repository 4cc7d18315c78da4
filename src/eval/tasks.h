// Zero-shot tasks as lm-evaluation-harness poses them: each document is a set
// of (context, continuation) requests, one per choice, scored by the
// log-likelihood of the continuation. The prompt format of each task is in the
// table in tasks.cpp and documented in docs/TASKS.md.
//
// Parsing is pure (text in, documents out); the CLI reads the files.
#pragma once

#include <string>
#include <vector>

namespace slmkit {

struct TaskRequest {
  std::string context;       // conditioning text (may be empty: then only BOS conditions)
  std::string continuation;  // scored text, with its leading delimiter (" choice")
};

struct TaskDoc {
  std::vector<TaskRequest> requests;  // one per choice (LAMBADA: one)
  std::vector<std::string> choices;   // choice texts without the delimiter, for acc_norm's length
  int gold = 0;                       // index of the correct choice
};

enum class TaskKind {
  kMultipleChoice,  // acc = argmax LL is gold; acc_norm = argmax LL / len(choice chars) is gold
  kPartialScoring,  // WinoGrande: the choices are contexts, the continuation is shared; acc only
  kLastWord,        // LAMBADA: acc = the continuation is the greedy prediction; perplexity of it
};

struct TaskSpec {
  const char* name;
  const char* file;         // under $SLMKIT_DATA/tasks/
  const char* labels_file;  // separate gold labels (PIQA), or nullptr
  TaskKind kind;
  const char* primary;      // the metric papers usually report: "acc" or "acc_norm"
  const char* format;       // the prompt format, for --help and docs
};

// Every task slmkit knows, in --help order.
const std::vector<TaskSpec>& task_specs();
// Throws Error listing the known names.
const TaskSpec& task_spec(const std::string& name);

// Parses a task file's contents (JSON lines; `labels` is the labels file's
// contents for tasks that have one). `source` names the file in errors.
std::vector<TaskDoc> parse_task(const TaskSpec& spec, const std::string& jsonl, const std::string& labels,
                                const std::string& source);

}  // namespace slmkit
