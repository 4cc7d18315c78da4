#include "pipeline/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace slmkit {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_print_(start_) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& detail) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  // A terminal gets a redrawn line 4x per second; a log file a line every 5 s.
  if (done < total_ && since_print < (tty_ ? 0.25 : 5.0)) return;
  last_print_ = now;
  const double elapsed = elapsed_seconds();
  const int64_t done_here = done - skipped_;
  const double eta =
      done_here > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done_here) : NAN;
  std::fprintf(stderr, "%s[%s] %lld/%lld %s  %5.1f%%  %s elapsed  ETA %s%s%s%s", tty_ ? "\r\033[K" : "",
               label_.c_str(), static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(),
               total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0,
               format_duration(elapsed).c_str(), format_duration(eta).c_str(), detail.empty() ? "" : "  ",
               detail.c_str(), tty_ ? "" : "\n");
  std::fflush(stderr);
}

void Progress::finish(const std::string& summary) {
  if (!enabled_) return;
  std::fprintf(stderr, "%s[%s] done in %s%s%s\n", tty_ ? "\r\033[K" : "", label_.c_str(),
               format_duration(elapsed_seconds()).c_str(), summary.empty() ? "" : ": ", summary.c_str());
  std::fflush(stderr);
}

}  // namespace slmkit
