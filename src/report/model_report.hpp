// Reports of a model run (oomless model query|plan): one JSON object, summary.txt,
// report.md and report.html (memory timeline of strict beside auto, largest
// tensors, the node table). Each writer returns its text.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "graph/replay.hpp"

namespace oomless::report {

struct ModelRun {
  const graph::Graph* graph = nullptr;
  device::Profile profile;  // budgets applied
  graph::ModelOptions options;
  graph::ReplayResult strict;
  std::optional<graph::ModelPlan> plan;
  double load_seconds = 0, strict_seconds = 0;
};

nlohmann::json model_json(const ModelRun& run);  // also plan.json
std::string model_summary(const ModelRun& run);  // summary.txt
std::string model_md(const ModelRun& run);       // report.md
std::string model_html(const ModelRun& run);     // report.html

// Writes summary.txt, plan.json, report.md and report.html into dir.
std::vector<std::string> write_model_reports(const std::string& dir, const ModelRun& run);

// The largest storages of the graph (device bytes), largest first.
std::vector<int> largest_tensors(const graph::Graph& g, size_t n);

}  // namespace oomless::report
