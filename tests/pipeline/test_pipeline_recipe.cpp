// Pipeline and sweep recipes: steps and matrix variants land where they should;
// every mistake is an error that names the file, the step and the key.
#include <gtest/gtest.h>

#include "core/error.h"
#include "pipeline/pipeline_recipe.h"
#include "pipeline/svg_plot.h"
#include "test_util.h"

namespace slmkit {
namespace {

PipelineRecipe parse(const std::string& yaml) {
  return parse_pipeline_recipe(yaml, "r.yaml", "", {test::data_dir(), 1});
}

std::string parse_error(const std::string& yaml) {
  return test::error_of([&] { parse(yaml); });
}

TEST(PipelineRecipe, StepsGetNamesKindsAndCanonicalSettings) {
  const PipelineRecipe r = parse(
      "description: test\n"
      "calibration: {samples: 16, seq_len: 64}\n"
      "steps:\n"
      "  - quantize: {method: rtn, bits: 4, group_size: 32}\n"
      "  - {name: q8, quantize: {method: rtn, bits: 8, calibration: {seed: 3}}}\n"
      "  - quantize: {method: gptq}\n"
      "  - prune: {method: unstructured, criterion: magnitude, pattern: '2:4'}\n"
      "  - compare: {tasks: 'piqa,arc_easy', limit: 10, models: last}\n");
  EXPECT_FALSE(r.is_sweep());
  ASSERT_EQ(r.steps.size(), 5u);
  EXPECT_EQ(r.steps[0].name, "quantize");
  EXPECT_EQ(r.steps[1].name, "q8");
  EXPECT_EQ(r.steps[2].name, "quantize-2") << "a repeated default name is numbered";
  EXPECT_EQ(r.steps[3].kind->name, std::string("prune"));
  EXPECT_TRUE(r.steps[0].kind->produces_model);
  EXPECT_FALSE(r.steps[4].kind->produces_model);
  // The canonical line carries the effective settings, recipe-level calibration included.
  EXPECT_NE(r.steps[0].prepared.canonical.find("method=rtn bits=4 group=32"), std::string::npos)
      << r.steps[0].prepared.canonical;
  EXPECT_NE(r.steps[0].prepared.canonical.find("samples=16 seq_len=64 seed=0"), std::string::npos);
  EXPECT_NE(r.steps[1].prepared.canonical.find("samples=16 seq_len=64 seed=3"), std::string::npos)
      << "a step's calibration changes only the keys it sets";
  EXPECT_NE(r.steps[3].prepared.canonical.find("sparsity=0.5 pattern=2:4"), std::string::npos);
  EXPECT_NE(r.steps[3].prepared.canonical.find("no calibration"), std::string::npos)
      << "magnitude pruning reads no activations, so the calibration text is not part of its key";
  EXPECT_NE(r.steps[4].prepared.canonical.find("task=piqa#"), std::string::npos);
  EXPECT_NE(r.steps[4].prepared.canonical.find("models=last"), std::string::npos);
  EXPECT_NE(r.steps[0].prepared.canonical, r.steps[1].prepared.canonical);
}

TEST(PipelineRecipe, MatrixVariantsExpandInOrder) {
  const PipelineRecipe r = parse(
      "variants:\n"
      "  - name: '${method}-${bits}'\n"
      "    matrix: {method: [rtn, gptq], bits: [3, 8]}\n"
      "    steps: [{quantize: {method: '${method}', bits: '${bits}', group_size: 32}}]\n"
      "  - name: pruned\n"
      "    steps: [{prune: {target_params: 0.7}}, {quantize: {bits: 4}}]\n"
      "compare: {max_windows: 5, kl_windows: 2}\n");
  ASSERT_TRUE(r.is_sweep());
  ASSERT_EQ(r.variants.size(), 5u);
  const char* names[] = {"rtn-3", "rtn-8", "gptq-3", "gptq-8", "pruned"};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(r.variants[i].name, names[i]);
  EXPECT_NE(r.variants[3].steps[0].prepared.canonical.find("method=gptq bits=8 group=32"), std::string::npos)
      << r.variants[3].steps[0].prepared.canonical;
  EXPECT_EQ(r.variants[4].steps.size(), 2u);
  EXPECT_EQ(r.compare.config.max_windows, 5);
  EXPECT_EQ(r.compare.config.kl_windows, 2);
  EXPECT_FALSE(r.compare.config.speed) << "speed is opt-in in recipes";
}

TEST(PipelineRecipe, ShippedRecipesLoad) {
  const std::string dir = std::string(SLMKIT_FIXTURES) + "/../../configs/";
  for (const char* name : {"edge-4bit.yaml", "prune-and-quantize.yaml"}) {
    const PipelineRecipe r = load_pipeline_recipe(dir + name, {test::data_dir(), 1});
    EXPECT_FALSE(r.is_sweep()) << name;
    EXPECT_EQ(r.steps.back().kind->name, std::string("compare")) << name;
  }
  const PipelineRecipe sweep = load_pipeline_recipe(dir + "quality-sweep.yaml", {test::data_dir(), 1});
  EXPECT_EQ(sweep.variants.size(), 12u);
}

TEST(PipelineRecipe, ErrorsNameTheStepAndTheKey) {
  struct Case {
    const char* yaml;
    std::vector<const char*> expected;  // substrings of the message
  };
  const Case cases[] = {
      {"steps: [{quantize: {bitz: 4}}]", {"r.yaml: step 1 (quantize, quantize)", "unknown key \"bitz\""}},
      {"steps:\n  - quantize: {bits: 4}\n  - {name: p, prune: {sparsty: 0.5}}",
       {"step 2 (p, prune)", "unknown key \"sparsty\"", "allowed:", "sparsity"}},
      {"steps: [{quantise: {bits: 4}}]", {"step 1", "unknown step kind \"quantise\"", "quantize"}},
      {"steps: [{quantize: {}, prune: {}}]", {"step 1", "one step has one kind"}},
      {"steps: [{name: a, quantize: {}}, {name: a, quantize: {}}]", {"step 2", "\"a\" is used by an earlier step"}},
      {"steps: [{name: 'a/b', quantize: {}}]", {"step 1", "name \"a/b\""}},
      {"steps: [{quantize: {method: gptx}}]", {"step 1 (quantize, quantize)", "unknown quantization method \"gptx\""}},
      {"steps: [{prune: {target_params: lots}}]", {"step 1 (prune, prune)", "\"target_params\" has the wrong type"}},
      {"steps: [{prune: {method: unstructured, target_params: 0.5}}]", {"step 1", "target_params is for structured"}},
      {"steps: [{prune: {criterion: hessian}}]", {"step 1", "unknown pruning criterion \"hessian\""}},
      {"steps: [{quantize: 4}]", {"step 1 (quantize, quantize)", "must be a mapping"}},
      {"steps: [{compare: {tasks: [piqaa]}}]", {"step 1 (compare, compare)", "piqaa"}},
      {"steps: [{compare: {models: some}}]", {"step 1", "models must be \"all\" or \"last\""}},
      {"steps: [{quantize: {calibration: {sample: 3}}}]", {"step 1", "unknown key \"sample\""}},
      {"steps: []", {"r.yaml", "steps must be a non-empty list"}},
      {"stepz: []", {"r.yaml", "unknown key \"stepz\""}},
      {"description: x", {"r.yaml", "needs steps:"}},
      {"steps: [{quantize: {}}]\nvariants: [{name: a, steps: [{quantize: {}}]}]", {"not both"}},
      {"steps: [{quantize: {}}]\ncompare: {}", {"compare: is a sweep's section"}},
      {"steps: [{quantize: {bits: 4}", {"r.yaml", "not valid YAML"}},
      {"calibration: {samples: 0}\nsteps: [{quantize: {}}]", {"r.yaml: calibration", "samples must be > 0"}},
      {"steps: [{prune: {calibration: {text: /nonexistent/calib.txt}}}]",
       {"r.yaml: step 1 (prune, prune): ", "/nonexistent/calib.txt"}},
      {"variants: [{name: 'q${bit}', matrix: {bits: [3]}, steps: [{quantize: {}}]}]",
       {"variant 1", "${bit}", "does not define"}},
      {"variants: [{name: q, matrix: {bits: [3, 4]}, steps: [{quantize: {bits: '${bits}'}}]}]",
       {"variant q", "used twice"}},
      {"variants: [{name: q, steps: [{quantize: {bits: 9}}]}]", {"variant q: step 1 (quantize, quantize)", "bits"}},
      {"variants: [{name: q, steps: [{quantize: {}}]}]\ncompare: {limt: 3}", {"r.yaml: compare", "\"limt\""}},
  };
  for (const Case& c : cases) {
    const std::string msg = parse_error(c.yaml);
    for (const char* e : c.expected) EXPECT_NE(msg.find(e), std::string::npos) << c.yaml << "\n  -> " << msg;
  }
}

TEST(ParetoFront, KeepsPointsNoOtherBeatsOnBothAxes) {
  // (size, ppl): b is dominated by a (smaller and better); d ties a on size but is worse.
  const std::vector<PlotPoint> pts = {{10, 100, "a"}, {12, 110, "b"}, {5, 130, "c"}, {20, 90, "e"},
                                      {10, 105, "d"}, {NAN, 1, "nan"}};
  const auto lower = pareto_optimal(pts, true);
  EXPECT_EQ(lower, (std::vector<bool>{true, false, true, true, false, false}));
  // Higher is better (accuracy): c is the smallest and the highest, so it beats every other point.
  EXPECT_EQ(pareto_optimal(pts, false), (std::vector<bool>{false, false, true, false, false, false}));
  // Marked in the SVG: one ring per optimal point.
  PlotPanel panel{"p", "x", "y", pts, true, true};
  const std::string svg = render_scatter_svg("t", {panel});
  size_t rings = 0;
  for (size_t at = svg.find("r=\"9\""); at != std::string::npos; at = svg.find("r=\"9\"", at + 1)) ++rings;
  EXPECT_EQ(rings, 3u);
  EXPECT_NE(svg.find("Pareto-optimal"), std::string::npos);
}

}  // namespace
}  // namespace slmkit
