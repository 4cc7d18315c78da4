// A small scatter-plot renderer for comparison reports: labelled points, one
// or more panels side by side sharing the x axis quantity. Pure: returns the
// SVG document as a string (no fonts or scripts needed to view it).
#pragma once

#include <string>
#include <vector>

namespace slmkit {

struct PlotPoint {
  double x = 0, y = 0;
  std::string label;
  bool highlight = false;  // drawn in the accent colour (e.g. the base model)
};

struct PlotPanel {
  std::string title, x_label, y_label;
  std::vector<PlotPoint> points;
  bool lower_is_better = true;  // shown in the title ("lower is better")
  bool mark_pareto = false;     // ring the Pareto-optimal points (smaller x and better y) and join them
};

// For each point: whether no other point is at least as good on both axes and
// better on one (x: lower is better; y: lower or higher as given). Points with a
// non-finite coordinate are never optimal and never dominate.
std::vector<bool> pareto_optimal(const std::vector<PlotPoint>& points, bool lower_y_is_better);

// Panels are laid out left to right, each 420×320 px plus margins. Points with
// a non-finite coordinate are skipped.
std::string render_scatter_svg(const std::string& title, const std::vector<PlotPanel>& panels);

// "Nice" axis ticks covering [lo, hi]: 1, 2 or 5 × 10^k steps, about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

}  // namespace slmkit
