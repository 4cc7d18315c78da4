// Runs the real slmkit binary in a child process for CLI tests.
#pragma once

#include <string>
#include <vector>

namespace slmkit::test {

struct RunResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  std::string out, err;
};

std::string read_all(const std::string& path);

// fork/exec with stdout and stderr sent to files: no shell, so paths need no
// quoting. `env` adds "NAME=VALUE" entries to the child's environment.
RunResult run_slmkit(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

}  // namespace slmkit::test
