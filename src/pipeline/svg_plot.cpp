#include "pipeline/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace slmkit {
namespace {

constexpr double kPanelW = 420, kPanelH = 320;                  // plot area, px
constexpr double kLeft = 70, kRight = 30, kTop = 60, kBottom = 55;  // margins around each plot area

std::string escape_xml(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string tick_label(double v, double step) {
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) {
    const double pad = std::abs(lo) > 0 ? std::abs(lo) * 0.1 : 1.0;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  // From the last tick at or below lo to the first at or above hi.
  const int64_t first = static_cast<int64_t>(std::floor(lo / step + 1e-9));
  const int64_t last = static_cast<int64_t>(std::ceil(hi / step - 1e-9));
  std::vector<double> ticks;
  for (int64_t k = first; k <= std::max(last, first + 1); ++k) ticks.push_back(static_cast<double>(k) * step);
  return ticks;
}

std::string render_scatter_svg(const std::string& title, const std::vector<PlotPanel>& panels) {
  const double cell_w = kLeft + kPanelW + kRight;
  const double width = cell_w * static_cast<double>(std::max<size_t>(1, panels.size()));
  const double height = kTop + kPanelH + kBottom;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", width) + "\" height=\"" +
                    fmt("%.0f", height) + "\" viewBox=\"0 0 " + fmt("%.0f", width) + " " + fmt("%.0f", height) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fmt("%.0f", width / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">" +
         escape_xml(title) + "</text>\n";
  for (size_t p = 0; p < panels.size(); ++p) {
    const PlotPanel& panel = panels[p];
    std::vector<PlotPoint> pts;
    for (const auto& pt : panel.points)
      if (std::isfinite(pt.x) && std::isfinite(pt.y)) pts.push_back(pt);
    const double ox = cell_w * static_cast<double>(p) + kLeft, oy = kTop;  // plot area's top-left
    svg += "<text x=\"" + fmt("%.1f", ox + kPanelW / 2) + "\" y=\"" + fmt("%.1f", oy - 12) +
           "\" text-anchor=\"middle\" font-size=\"13\">" + escape_xml(panel.title) +
           (panel.lower_is_better ? " (lower is better)" : " (higher is better)") + "</text>\n";
    svg += "<rect x=\"" + fmt("%.1f", ox) + "\" y=\"" + fmt("%.1f", oy) + "\" width=\"" + fmt("%.0f", kPanelW) +
           "\" height=\"" + fmt("%.0f", kPanelH) + "\" fill=\"none\" stroke=\"#333\"/>\n";
    if (pts.empty()) continue;
    double x0 = pts[0].x, x1 = x0, y0 = pts[0].y, y1 = y0;
    for (const auto& pt : pts) {
      x0 = std::min(x0, pt.x), x1 = std::max(x1, pt.x);
      y0 = std::min(y0, pt.y), y1 = std::max(y1, pt.y);
    }
    // 6% padding keeps points off the frame.
    const double xpad = 0.06 * (x1 - x0), ypad = 0.06 * (y1 - y0);
    const std::vector<double> xt = nice_ticks(x0 - xpad, x1 + xpad), yt = nice_ticks(y0 - ypad, y1 + ypad);
    const double xa = xt.front(), xb = xt.back(), ya = yt.front(), yb = yt.back();
    auto px = [&](double x) { return ox + (x - xa) / (xb - xa) * kPanelW; };
    auto py = [&](double y) { return oy + kPanelH - (y - ya) / (yb - ya) * kPanelH; };
    const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
    for (const double t : xt) {
      svg += "<line x1=\"" + fmt("%.1f", px(t)) + "\" y1=\"" + fmt("%.1f", oy) + "\" x2=\"" + fmt("%.1f", px(t)) +
             "\" y2=\"" + fmt("%.1f", oy + kPanelH) + "\" stroke=\"#ddd\"/>\n";
      svg += "<text x=\"" + fmt("%.1f", px(t)) + "\" y=\"" + fmt("%.1f", oy + kPanelH + 16) +
             "\" text-anchor=\"middle\">" + tick_label(t, xstep) + "</text>\n";
    }
    for (const double t : yt) {
      svg += "<line x1=\"" + fmt("%.1f", ox) + "\" y1=\"" + fmt("%.1f", py(t)) + "\" x2=\"" + fmt("%.1f", ox + kPanelW) +
             "\" y2=\"" + fmt("%.1f", py(t)) + "\" stroke=\"#ddd\"/>\n";
      svg += "<text x=\"" + fmt("%.1f", ox - 6) + "\" y=\"" + fmt("%.1f", py(t) + 4) + "\" text-anchor=\"end\">" +
             tick_label(t, ystep) + "</text>\n";
    }
    svg += "<text x=\"" + fmt("%.1f", ox + kPanelW / 2) + "\" y=\"" + fmt("%.1f", oy + kPanelH + 38) +
           "\" text-anchor=\"middle\">" + escape_xml(panel.x_label) + "</text>\n";
    svg += "<text transform=\"translate(" + fmt("%.1f", ox - 52) + "," + fmt("%.1f", oy + kPanelH / 2) +
           ") rotate(-90)\" text-anchor=\"middle\">" + escape_xml(panel.y_label) + "</text>\n";
    for (size_t i = 0; i < pts.size(); ++i) {
      const auto& pt = pts[i];
      const char* colour = pt.highlight ? "#d62728" : "#1f77b4";
      svg += "<circle cx=\"" + fmt("%.1f", px(pt.x)) + "\" cy=\"" + fmt("%.1f", py(pt.y)) + "\" r=\"5\" fill=\"" +
             colour + "\"/>\n";
      // Labels alternate above/below so neighbours at similar sizes stay readable.
      const double dy = i % 2 == 0 ? -9 : 17;
      const bool right_half = px(pt.x) > ox + kPanelW * 0.7;
      svg += "<text x=\"" + fmt("%.1f", px(pt.x) + (right_half ? -7 : 7)) + "\" y=\"" + fmt("%.1f", py(pt.y) + dy) +
             "\" text-anchor=\"" + (right_half ? "end" : "start") + "\" fill=\"" + colour + "\">" +
             escape_xml(pt.label) + "</text>\n";
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace slmkit
