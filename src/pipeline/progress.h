// Progress lines for long work: "[eval] 120/1591 windows  7.5%  12.3 s  ETA 2:31".
// Rate-limited (at most a few lines per second), written to stderr so stdout
// stays clean for results. On a terminal the line is redrawn in place.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace slmkit {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit, bool enabled = true);
  // Reports `done` of total; `detail` is appended (e.g. "ppl 123.4").
  void update(int64_t done, const std::string& detail = "");
  // `done` items were finished by an earlier process (a resumed run): they count
  // towards the total but not towards this run's rate, so the ETA stays honest.
  void skip(int64_t done) { skipped_ = done; }
  // Prints the final line with the elapsed time.
  void finish(const std::string& summary = "");
  double elapsed_seconds() const;

 private:
  std::string label_, unit_;
  int64_t total_;
  int64_t skipped_ = 0;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
};

// "1:05" / "1:02:03" for a duration in seconds.
std::string format_duration(double seconds);

}  // namespace slmkit
