// The pipeline runner's cache on stories260k with cheap steps (magnitude
// pruning, RTN on a few short calibration windows, a two-window comparison):
// a second run does no work, a changed setting re-runs that step and what
// follows it only, a failing step leaves the earlier outputs alone, and a sweep
// shares and reuses its variants' steps.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "pipeline/pipeline_runner.h"
#include "test_util.h"

namespace slmkit {
namespace {
namespace fs = std::filesystem;

const std::string kModel = test::data_path("models/stories260k");

PipelineRecipe parse(const std::string& yaml) {
  return parse_pipeline_recipe(yaml, "test.yaml", "", {test::data_dir(), 1});
}

std::string recipe(const std::string& keep, int bits) {
  return "calibration: {samples: 4, seq_len: 64}\n"
         "steps:\n"
         "  - {name: pruned, prune: {method: structured, criterion: magnitude, target_params: " + keep + "}}\n"
         "  - {name: rtn, quantize: {method: rtn, bits: " + std::to_string(bits) + ", group_size: 32}}\n";
}

PipelineOptions quiet_options(const std::string& out) {
  PipelineOptions o;
  o.out_dir = out;
  o.progress = false;
  return o;
}

fs::file_time_type written_at(const StepOutcome& s) { return fs::last_write_time(s.dir + "/model.safetensors"); }

std::vector<std::string> work_folders(const std::string& out) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(out))
    if (e.path().filename().string().rfind(".work-", 0) == 0) found.push_back(e.path().string());
  return found;
}

TEST(PipelineRunner, SecondRunIsCachedAndAChangeRerunsOnlyDownstream) {
  const std::string out = test::make_temp_dir();
  const PipelineOptions opt = quiet_options(out);
  const ChainResult first = run_pipeline(parse(recipe("0.8", 4)), kModel, opt);
  ASSERT_EQ(first.steps.size(), 2u);
  EXPECT_FALSE(first.steps[0].cached || first.steps[1].cached);
  EXPECT_EQ(first.final_model, first.steps[1].dir);
  EXPECT_EQ(fs::path(first.steps[1].dir).filename().string(), "rtn-" + first.steps[1].key.substr(0, 12));
  EXPECT_TRUE(fs::exists(first.steps[1].dir + "/slmkit-step.json"));
  EXPECT_TRUE(fs::exists(first.steps[1].dir + "/tokenizer.model"));
  const std::string rtn_bytes = read_text_file(first.steps[1].dir + "/model.safetensors");
  const auto pruned_time = written_at(first.steps[0]), rtn_time = written_at(first.steps[1]);

  // Nothing changed: nothing runs, nothing is rewritten.
  const ChainResult again = run_pipeline(parse(recipe("0.8", 4)), kModel, opt);
  EXPECT_TRUE(again.steps[0].cached && again.steps[1].cached);
  EXPECT_EQ(again.steps[1].dir, first.steps[1].dir);
  EXPECT_EQ(written_at(again.steps[1]), rtn_time);
  EXPECT_EQ(again.steps[1].report.value("summary", ""), first.steps[1].report.value("summary", ""));

  // Only the quantizer's setting changed: the pruned model is reused.
  const ChainResult bits3 = run_pipeline(parse(recipe("0.8", 3)), kModel, opt);
  EXPECT_TRUE(bits3.steps[0].cached);
  EXPECT_FALSE(bits3.steps[1].cached);
  EXPECT_EQ(written_at(bits3.steps[0]), pruned_time);
  EXPECT_NE(bits3.steps[1].dir, first.steps[1].dir);
  EXPECT_NE(read_text_file(bits3.steps[1].dir + "/model.safetensors"), rtn_bytes);

  // The pruning setting changed: both steps run, although the RTN settings are the same as at first.
  const ChainResult keep7 = run_pipeline(parse(recipe("0.7", 4)), kModel, opt);
  EXPECT_FALSE(keep7.steps[0].cached || keep7.steps[1].cached);
  EXPECT_NE(keep7.steps[1].key, first.steps[1].key) << "keys chain: an upstream change invalidates downstream";

  // Back to the first recipe: every output is still there and reused, byte for byte.
  const ChainResult back = run_pipeline(parse(recipe("0.8", 4)), kModel, opt);
  EXPECT_TRUE(back.steps[0].cached && back.steps[1].cached);
  EXPECT_EQ(read_text_file(back.steps[1].dir + "/model.safetensors"), rtn_bytes);
  EXPECT_TRUE(work_folders(out).empty());

  // A folder without its completion marker is not a finished step.
  fs::remove(first.steps[1].dir + "/slmkit-step.json");
  const ChainResult redo = run_pipeline(parse(recipe("0.8", 4)), kModel, opt);
  EXPECT_TRUE(redo.steps[0].cached);
  EXPECT_FALSE(redo.steps[1].cached);
  EXPECT_EQ(read_text_file(redo.steps[1].dir + "/model.safetensors"), rtn_bytes) << "RTN is deterministic";
  const auto report = parse_json_strict(read_text_file(out + "/pipeline.json"), "pipeline.json");
  EXPECT_EQ(report.at("status"), "ok");
  EXPECT_EQ(report.at("steps").size(), 2u);
}

TEST(PipelineRunner, FailingStepLeavesEarlierOutputsAndNoWorkFolder) {
  const std::string out = test::make_temp_dir();
  const PipelineOptions opt = quiet_options(out);
  // Pruning needs dense weights: after quantization it fails when it runs (not when the recipe is read).
  const std::string failing =
      "calibration: {samples: 4, seq_len: 64}\n"
      "steps:\n"
      "  - {name: rtn, quantize: {method: rtn, bits: 4, group_size: 32}}\n"
      "  - {name: pruned, prune: {criterion: magnitude}}\n";
  const std::string msg = test::error_of([&] { run_pipeline(parse(failing), kModel, opt); });
  EXPECT_NE(msg.find("test.yaml: step 2 (pruned, prune) failed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("quantized"), std::string::npos) << msg;
  EXPECT_NE(msg.find("earlier steps' outputs"), std::string::npos) << msg;
  EXPECT_TRUE(work_folders(out).empty());
  const auto report = parse_json_strict(read_text_file(out + "/pipeline.json"), "pipeline.json");
  EXPECT_EQ(report.at("status"), "failed");
  ASSERT_EQ(report.at("steps").size(), 1u);
  const std::string rtn_dir = report.at("steps")[0].at("dir").get<std::string>();
  EXPECT_TRUE(fs::exists(rtn_dir + "/slmkit-step.json"));

  // The fixed recipe reuses the finished step.
  const ChainResult fixed = run_pipeline(parse("calibration: {samples: 4, seq_len: 64}\n"
                                               "steps: [{name: rtn, quantize: {method: rtn, bits: 4, group_size: 32}}]\n"),
                                         kModel, opt);
  EXPECT_TRUE(fixed.steps[0].cached);
  EXPECT_EQ(fixed.steps[0].dir, rtn_dir);
}

TEST(PipelineRunner, CompareStepAndSweepShareTheCache) {
  const std::string out = test::make_temp_dir();
  const PipelineOptions opt = quiet_options(out);
  const PipelineRecipe sweep = parse(
      "calibration: {samples: 4, seq_len: 64}\n"
      "variants:\n"
      "  - name: 'rtn${bits}'\n"
      "    matrix: {bits: [3, 8]}\n"
      "    steps: [{name: q, quantize: {method: rtn, bits: '${bits}', group_size: 32}}]\n"
      "compare: {max_windows: 2, kl_windows: 2}\n");
  const SweepResult r = run_sweep(sweep, {"base", kModel}, {}, sweep.compare, opt);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].label, "base");
  EXPECT_EQ(r.rows[1].label, "rtn3");
  EXPECT_EQ(r.rows[2].label, "rtn8");
  EXPECT_EQ(r.rows[0].kl_mean, 0);
  EXPECT_GT(r.rows[1].kl_mean, r.rows[2].kl_mean) << "3-bit RTN is further from the base than 8-bit";
  EXPECT_LT(r.rows[1].disk_bytes, r.rows[2].disk_bytes);
  const std::string md = read_text_file(out + "/compare.md");
  EXPECT_NE(md.find("| rtn8 |"), std::string::npos) << md;
  EXPECT_NE(md.find("Pareto-optimal"), std::string::npos) << md;
  EXPECT_NE(read_text_file(out + "/compare.svg").find("</svg>"), std::string::npos);

  // Rerun: every variant and the comparison come from the cache.
  const SweepResult again = run_sweep(sweep, {"base", kModel}, {}, sweep.compare, opt);
  EXPECT_TRUE(again.compare.cached);
  for (const auto& [name, chain] : again.variants) EXPECT_TRUE(chain.steps[0].cached) << name;
  EXPECT_DOUBLE_EQ(again.rows[1].perplexity, r.rows[1].perplexity);

  // A pipeline in the same folder finds the sweep's 8-bit step by its key, and its
  // compare step reuses the evaluation results cached by the sweep's comparison.
  const ChainResult chain = run_pipeline(parse("calibration: {samples: 4, seq_len: 64}\n"
                                               "steps:\n"
                                               "  - {name: q8, quantize: {method: rtn, bits: 8, group_size: 32}}\n"
                                               "  - compare: {max_windows: 2, kl_windows: 2}\n"),
                                         kModel, opt);
  EXPECT_TRUE(chain.steps[0].cached);
  EXPECT_EQ(chain.steps[0].dir, r.variants[1].second.steps[0].dir);
  EXPECT_FALSE(chain.steps[1].cached) << "a new comparison (other labels)";
  const auto rows = chain.steps[1].report.at("rows");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].at("label"), "q8");
  EXPECT_DOUBLE_EQ(rows[1].at("perplexity").get<double>(), r.rows[2].perplexity);
}

TEST(PipelineRunner, ExportedFileIsComparedAndLowRankIsAStep) {
  const std::string out = test::make_temp_dir();
  const PipelineOptions opt = quiet_options(out);
  const ChainResult r = run_pipeline(parse("calibration: {samples: 4, seq_len: 64}\n"
                                           "steps:\n"
                                           "  - {name: pruned, prune: {criterion: magnitude, target_params: 0.9}}\n"
                                           "  - {name: gguf, export: {type: q8_0}}\n"
                                           "  - {name: q8, quantize: {method: rtn, bits: 8, group_size: 32}}\n"
                                           "  - compare: {max_windows: 2, kl_windows: 2}\n"),
                                     kModel, opt);
  ASSERT_EQ(r.steps.size(), 4u);
  EXPECT_TRUE(fs::exists(r.steps[1].dir + "/model.gguf"));
  // The export is compared, not transformed: the quantizer read the pruned checkpoint.
  const auto marker = parse_json_strict(read_text_file(r.steps[2].dir + "/slmkit-step.json"), "marker");
  EXPECT_EQ(marker.at("input"), r.steps[0].dir);
  EXPECT_EQ(r.final_model, r.steps[2].dir);
  const auto rows = r.steps[3].report.at("rows");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[2].at("label"), "gguf");
  EXPECT_EQ(rows[2].at("path"), r.steps[1].dir + "/model.gguf");
  // An 8-bit GGUF of the pruned model is about as far from the original as the pruned model itself.
  const double kl_pruned = rows[1].at("kl_mean").get<double>(), kl_gguf = rows[2].at("kl_mean").get<double>();
  EXPECT_GT(kl_pruned, 0);
  EXPECT_NEAR(kl_gguf, kl_pruned, 0.1 * kl_pruned);

  const ChainResult lr = run_pipeline(parse("steps:\n"
                                            "  - {name: svd, lowrank: {method: svd, target: 0.9, rank_select: uniform, "
                                            "calibrate: false}}\n"),
                                      kModel, opt);
  EXPECT_LT(lr.steps[0].report.at("block_params_after").get<int64_t>(),
            lr.steps[0].report.at("block_params_before").get<int64_t>());
  EXPECT_TRUE(fs::exists(lr.steps[0].dir + "/model.safetensors"));
}

TEST(PipelineRunner, FinetuneStepDistilsFromTheInputAndMergesTheAdapter) {
  const std::string out = test::make_temp_dir();
  const ChainResult r = run_pipeline(parse("calibration: {samples: 4, seq_len: 64}\n"
                                           "steps:\n"
                                           "  - {name: q4, quantize: {method: rtn, bits: 4, group_size: 32}}\n"
                                           "  - {name: kd, finetune: {steps: 3, seq_len: 32, batch: 2, lora_r: 4, "
                                           "warmup_steps: 0}}\n"
                                           "  - compare: {max_windows: 2, kl_windows: 2}\n"),
                                     kModel, quiet_options(out));
  ASSERT_EQ(r.steps.size(), 3u);
  EXPECT_TRUE(fs::exists(r.steps[1].dir + "/adapter/adapter_model.safetensors"));
  EXPECT_NE(read_text_file(r.steps[1].dir + "/model.safetensors"), read_text_file(r.steps[0].dir + "/model.safetensors"))
      << "the trained adapter is merged into the weights";
  EXPECT_TRUE(std::isfinite(r.steps[1].report.at("final_loss").get<double>()));
  const auto rows = r.steps[2].report.at("rows");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].at("label"), "kd");
  EXPECT_LT(rows[2].at("disk_bytes").get<int64_t>(), rows[0].at("disk_bytes").get<int64_t>())
      << "merged back into 4-bit weights, not left dense";
}

}  // namespace
}  // namespace slmkit
