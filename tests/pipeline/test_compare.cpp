// The comparison report's pure parts: axis ticks, the SVG scatter plot, the
// JSON round trip of a row (what the cache stores) and the Markdown table.
#include <cmath>

#include <gtest/gtest.h>

#include "pipeline/compare.h"
#include "pipeline/svg_plot.h"

namespace slmkit {
namespace {

TEST(SvgPlot, NiceTicksCoverTheRangeWithRoundSteps) {
  const auto t = nice_ticks(103.7, 116.2);
  ASSERT_GE(t.size(), 3u);
  EXPECT_LE(t.front(), 103.7);
  EXPECT_GE(t.back(), 116.2);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 5.0);  // range 12.5 over ~5 ticks → step 5
  const auto small = nice_ticks(0.27, 1.0);
  EXPECT_NEAR(small[1] - small[0], 0.2, 1e-12);
  const auto flat = nice_ticks(3.0, 3.0);  // one value still gets an axis
  EXPECT_LT(flat.front(), 3.0);
  EXPECT_GT(flat.back(), 3.0);
}

TEST(SvgPlot, PointsLabelsAndEscaping) {
  PlotPanel p{"PPL", "MiB", "ppl", {{1.0, 10.0, "base", true}, {0.3, 12.0, "a<b & \"c\"", false},
                                    {NAN, 5.0, "skipped", false}}, true};
  const std::string svg = render_scatter_svg("title", {p});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("a&lt;b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("skipped"), std::string::npos);
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  EXPECT_EQ(circles, 2u);
}

TEST(Compare, RowJsonRoundTripKeepsMissingValuesMissing) {
  ModelRow r;
  r.path = "/m", r.label = "gptq4", r.disk_bytes = 123, r.parameters = 456, r.bits_per_weight = 4.25;
  r.perplexity = 801.8, r.kl_mean = 0.0015, r.kl_p99 = 0.01, r.top1 = 0.97;
  r.task_acc["piqa"] = 0.5163;
  r.prefill_tps = NAN, r.decode_tps = NAN;
  const ModelRow back = row_from_json(to_json(r));
  EXPECT_EQ(back.label, "gptq4");
  EXPECT_EQ(back.disk_bytes, 123);
  EXPECT_DOUBLE_EQ(back.perplexity, 801.8);
  EXPECT_DOUBLE_EQ(back.task_acc.at("piqa"), 0.5163);
  EXPECT_TRUE(std::isnan(back.decode_tps));
  CompareConfig cfg;
  cfg.tasks = {"piqa"};
  cfg.speed = false;
  const std::string md = compare_markdown({back}, cfg);
  EXPECT_NE(md.find("| gptq4 | 0.0 MiB | 4.25 | 0.00M | 801.800 | 0.0015 |"), std::string::npos) << md;
  EXPECT_NE(md.find("51.63%"), std::string::npos) << md;
}

}  // namespace
}  // namespace slmkit
