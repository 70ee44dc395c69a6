#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "report/writers.hpp"

namespace oomless::report {

using nlohmann::json;

std::string results_json(const SweepRun& run) {
  json cases = json::array();
  for (const auto& r : run.results) cases.push_back(to_json(r));
  json j{{"meta", to_json(run.meta)}, {"cases", cases}};
  return j.dump(1) + "\n";
}

SweepRun parse_results_json(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("merge", fmt::format("{} is not valid JSON: {}", origin, e.what()));
  }
  if (!j.is_object() || !j.contains("cases") || !j["cases"].is_array())
    fail("merge", fmt::format("{} has no \"cases\" array (not a results.json)", origin));
  SweepRun run;
  run.meta = meta_from_json(j.value("meta", json::object()));
  for (const auto& c : j["cases"]) run.results.push_back(case_from_json(c));
  return run;
}

SweepRun read_results_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("merge", fmt::format("cannot read {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_results_json(ss.str(), path);
}

}  // namespace oomless::report
