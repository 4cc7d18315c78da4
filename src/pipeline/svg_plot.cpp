#include "pipeline/svg_plot.h"

#include <algorithm>
#include <array>
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

std::vector<bool> pareto_optimal(const std::vector<PlotPoint>& points, bool lower_y_is_better) {
  auto finite = [](const PlotPoint& p) { return std::isfinite(p.x) && std::isfinite(p.y); };
  // a beats b: no worse on both axes, strictly better on one.
  auto beats = [&](const PlotPoint& a, const PlotPoint& b) {
    const double ya = lower_y_is_better ? a.y : -a.y, yb = lower_y_is_better ? b.y : -b.y;
    return a.x <= b.x && ya <= yb && (a.x < b.x || ya < yb);
  };
  std::vector<bool> optimal(points.size(), false);
  for (size_t i = 0; i < points.size(); ++i) {
    if (!finite(points[i])) continue;
    optimal[i] = true;
    for (size_t j = 0; j < points.size() && optimal[i]; ++j)
      if (j != i && finite(points[j]) && beats(points[j], points[i])) optimal[i] = false;
  }
  return optimal;
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
    if (panel.mark_pareto) {
      // The frontier as a dashed line from the smallest model up, each optimal point ringed.
      const std::vector<bool> optimal = pareto_optimal(pts, panel.lower_is_better);
      std::vector<const PlotPoint*> front;
      for (size_t i = 0; i < pts.size(); ++i)
        if (optimal[i]) front.push_back(&pts[i]);
      std::sort(front.begin(), front.end(), [](const PlotPoint* a, const PlotPoint* b) { return a->x < b->x; });
      std::string line;
      for (const PlotPoint* pt : front) line += fmt("%.1f", px(pt->x)) + "," + fmt("%.1f", py(pt->y)) + " ";
      if (front.size() > 1)
        svg += "<polyline points=\"" + line + "\" fill=\"none\" stroke=\"#2ca02c\" stroke-width=\"1.5\" "
               "stroke-dasharray=\"5,3\"/>\n";
      for (const PlotPoint* pt : front)
        svg += "<circle cx=\"" + fmt("%.1f", px(pt->x)) + "\" cy=\"" + fmt("%.1f", py(pt->y)) +
               "\" r=\"9\" fill=\"none\" stroke=\"#2ca02c\" stroke-width=\"2\"/>\n";
      const double lx = ox + kPanelW - 100, ly = oy + kPanelH + 38;  // legend right of the x-axis label
      svg += "<circle cx=\"" + fmt("%.1f", lx) + "\" cy=\"" + fmt("%.1f", ly - 4) +
             "\" r=\"6\" fill=\"white\" stroke=\"#2ca02c\" stroke-width=\"2\"/>\n";
      svg += "<text x=\"" + fmt("%.1f", lx + 10) + "\" y=\"" + fmt("%.1f", ly) +
             "\" fill=\"#2ca02c\">Pareto-optimal</text>\n";
    }
    std::vector<std::array<double, 3>> placed;  // label boxes so far: x, top, width
    for (size_t i = 0; i < pts.size(); ++i) {
      const auto& pt = pts[i];
      const char* colour = pt.highlight ? "#d62728" : "#1f77b4";
      svg += "<circle cx=\"" + fmt("%.1f", px(pt.x)) + "\" cy=\"" + fmt("%.1f", py(pt.y)) + "\" r=\"5\" fill=\"" +
             colour + "\"/>\n";
      // Labels alternate above/below so neighbours at similar sizes stay readable;
      // one that would overlap a label already placed tries the other side, then further out.
      const bool right_half = px(pt.x) > ox + kPanelW * 0.7;
      const double w = 7.0 * static_cast<double>(pt.label.size());  // ~12 px sans-serif
      const double x0 = right_half ? px(pt.x) - 7 - w : px(pt.x) + 7;
      const double first = i % 2 == 0 ? -9 : 17, second = i % 2 == 0 ? 17 : -9;
      double dy = first;
      auto further = [](double d) { return d < 0 ? d - 14 : d + 14; };
      for (const double candidate : {first, second, further(first), further(second)}) {
        dy = candidate;
        const double y0 = py(pt.y) + dy - 11;  // text box [y0, y0 + 13]
        bool clear = true;
        for (const auto& b : placed)
          clear = clear && (x0 + w < b[0] || b[0] + b[2] < x0 || y0 + 13 < b[1] || b[1] + 13 < y0);
        if (clear) break;
      }
      placed.push_back({x0, py(pt.y) + dy - 11, w});
      svg += "<text x=\"" + fmt("%.1f", px(pt.x) + (right_half ? -7 : 7)) + "\" y=\"" + fmt("%.1f", py(pt.y) + dy) +
             "\" text-anchor=\"" + (right_half ? "end" : "start") + "\" fill=\"" + colour + "\">" +
             escape_xml(pt.label) + "</text>\n";
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace slmkit
