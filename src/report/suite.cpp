#include "report/suite.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"

namespace oomless::report {

namespace fs = std::filesystem;
using nlohmann::json;

static std::string resolve(const std::string& path) {
  if (fs::exists(path)) return path;
#ifdef OOMLESS_SOURCE_DIR
  fs::path p(path);
  if (p.is_relative() && fs::exists(fs::path(OOMLESS_SOURCE_DIR) / p))
    return (fs::path(OOMLESS_SOURCE_DIR) / p).string();
#endif
  fail("sweep", fmt::format("suite file '{}' not found", path));
}

static std::string str_of(const json& j, const char* key, const char* def = "") {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string(def) : it->get<std::string>();
}

Suite load_suite(const std::string& path) {
  std::string file = resolve(path);
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return parse_suite(text.str(), file);
}

Suite parse_suite(const std::string& text, const std::string& origin) {
  Suite s;
  s.file = origin;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("sweep", fmt::format("suite file '{}' is not valid JSON: {}", s.file, e.what()));
  }
  if (!j.is_object() || !j.contains("cases") || !j["cases"].is_array())
    fail("sweep", fmt::format("suite file '{}' has no \"cases\" array", s.file));
  s.name = str_of(j, "suite", "suite");
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : j["cases"].dump()) h = (h ^ ch) * 1099511628211ULL;
  s.digest = fmt::format("{:016x}", h);
  const json defaults = j.value("defaults", json::object());
  if (j.contains("ops") && j["ops"].is_object())
    for (const auto& [name, info] : j["ops"].items())
      if (info.is_object() && info.contains("seed_reported_oom") &&
          info["seed_reported_oom"].is_number_integer())
        s.seed_reported_oom[name] = info["seed_reported_oom"].get<int64_t>();
  int64_t seq = 0;
  for (const auto& c : j["cases"]) {
    try {
      SuiteCase sc;
      sc.seq = seq++;
      sc.op = c.at("op").get<std::string>();
      sc.case_index = c.value("case", sc.seq);
      sc.id = str_of(c, "id");
      if (sc.id.empty()) sc.id = fmt::format("{}/{}", sc.op, sc.case_index);
      sc.aten = str_of(c, "aten");
      sc.shapes = c.value("shapes", std::vector<Shape>{});
      sc.shapes_as_given = c.value("shapes_as_given", sc.shapes);
      sc.args = c.value("args", std::vector<std::string>{});
      sc.args_note = str_of(c, "args_note");
      sc.dtype = str_of(c, "dtype", str_of(defaults, "dtype", "bf16").c_str());
      sc.layout = str_of(c, "layout", str_of(defaults, "layout", "tile").c_str());
      sc.memory = str_of(c, "memory", str_of(defaults, "memory", "l1").c_str());
      sc.out_memory = str_of(c, "out_memory");
      sc.comment = str_of(c, "comment");
      sc.ran_in_seed_run = c.value("ran_in_seed_run", false);
      s.cases.push_back(std::move(sc));
    } catch (const json::exception& e) {
      fail("sweep",
           fmt::format("suite file '{}': case {} is malformed: {}", s.file, seq - 1, e.what()));
    }
  }
  return s;
}

plan::CallSpec to_call(const SuiteCase& c) {
  plan::CallSpec call;
  call.op = &ops::find_op(c.op);
  std::string_view name = call.op->name;
  call.dtype = parse_dtype(c.dtype, name);
  call.layout = parse_layout(c.layout, name);
  call.in_memory = device::parse_buffer_type(c.memory, name);
  if (!c.out_memory.empty()) call.out_memory = device::parse_buffer_type(c.out_memory, name);
  for (const auto& s : c.shapes) call.inputs.push_back({s, call.dtype});
  call.args = ops::parse_args(name, call.op->args, c.args);
  return call;
}

CaseResult base_result(const Suite& suite, const SuiteCase& c) {
  CaseResult r;
  r.seq = c.seq;
  r.id = c.id;
  r.suite = suite.name;
  r.op = c.op;
  r.aten = c.aten;
  if (r.aten.empty()) {
    try {
      r.aten = ops::find_op(c.op).aten;
    } catch (const InvalidArgument&) {
    }
  }
  r.case_index = c.case_index;
  r.shapes_as_given = c.shapes_as_given;
  r.shapes = c.shapes;
  r.args = c.args;
  r.args_note = c.args_note;
  r.dtype = c.dtype;
  r.layout = c.layout;
  r.memory = c.memory;
  r.out_memory = c.out_memory.empty() ? c.memory : c.out_memory;
  r.ran_in_seed_run = c.ran_in_seed_run;
  r.comment = c.comment;
  return r;
}

}  // namespace oomless::report
