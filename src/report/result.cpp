#include "report/result.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace oomless::report {

using nlohmann::json;

bool is_oom(std::string_view s) {
  return s == "FAIL_L1_OUT_OF_MEM" || s == "FAIL_DRAM_OUT_OF_MEM" || s == "FAIL_CB_OUT_OF_MEM";
}

std::string_view tt_metal_status(std::string_view s) {
  if (s == "FAIL_DRAM_OUT_OF_MEM") return "FAIL_L1_OUT_OF_MEM";
  if (s == "FAIL_CB_OUT_OF_MEM") return "FAIL_ASSERT_EXCEPTION";
  return s;
}

std::string error_signature(std::string_view message) {
  std::string_view first = message.substr(0, message.find('\n'));
  if (first.size() <= 255) return std::string(first);
  // Cut on a UTF-8 character boundary (PostgreSQL rejects a split sequence).
  size_t n = 255;
  while (n > 0 && (static_cast<unsigned char>(first[n]) & 0xC0) == 0x80) --n;
  return std::string(first.substr(0, n));
}

std::string how_it_ran(const SweepMeta& m) {
  if (m.engine.empty()) return {};
  std::string who =
      m.engine == "dask"
          ? fmt::format("a dask sweep on {} worker{}", m.workers, m.workers == 1 ? "" : "s")
      : m.engine == "local"
          ? fmt::format("a sweep in {} worker process{}", m.workers, m.workers == 1 ? "" : "es")
          : fmt::format("a {} sweep", m.engine);
  return fmt::format("{} in {:.1f} s (the cases took {:.1f} s)", who, m.seconds, m.case_seconds);
}

std::string CaseResult::shape_key() const {
  return shapes_as_given.empty() ? std::string("[]") : shape_str(shapes_as_given[0]);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) s.append(sep);
    s.append(items[i]);
  }
  return s;
}

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::vector<std::string> v;
  for (const auto& sh : shapes) v.push_back(shape_str(sh));
  return join(v, " x ");
}

std::string human_bytes(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

static json str_or_null(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}
static std::string str_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string() : it->get<std::string>();
}
template <class T>
static T num_of(const json& j, const char* key, T def = T{}) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? def : it->get<T>();
}

json to_json(const CaseResult& r) {
  return json{
      {"seq", r.seq},
      {"id", r.id},
      {"suite", r.suite},
      {"op", r.op},
      {"aten", r.aten},
      {"case", r.case_index},
      {"shapes_as_given", r.shapes_as_given},
      {"shapes", r.shapes},
      {"args", r.args},
      {"args_note", str_or_null(r.args_note)},
      {"dtype", r.dtype},
      {"layout", r.layout},
      {"memory", r.memory},
      {"out_memory", r.out_memory},
      {"ran_in_seed_run", r.ran_in_seed_run},
      {"comment", str_or_null(r.comment)},
      {"device", r.device},
      {"policy", r.policy},
      {"mode", r.mode},
      {"status", r.status},
      {"pass_kind", str_or_null(r.pass_kind)},
      {"message", str_or_null(r.message)},
      {"failed_allocation", str_or_null(r.failed_allocation)},
      {"logical_bytes", r.logical_bytes},
      {"bytes_requested", r.bytes_requested},
      {"largest_buffer_bytes", r.largest_buffer_bytes},
      {"bytes_per_bank", r.bytes_per_bank},
      {"cb_bytes_per_core", r.cb_bytes_per_core},
      {"bank_size", r.bank_size},
      {"banks", r.banks},
      {"strategy", r.strategy},
      {"chunks", r.chunks},
      {"peak_l1_per_core", r.peak_l1_per_core},
      {"peak_dram_per_bank", r.peak_dram_per_bank},
      {"peak_host_bytes", r.peak_host_bytes},
      {"seconds", r.seconds},
      {"max_abs_error", r.max_abs_error ? json(*r.max_abs_error) : json(nullptr)},
      {"verify_checked", r.verify_checked},
      {"verify_failed", r.verify_failed},
      {"git_revision", r.git_revision},
      {"timestamp", r.timestamp},
  };
}

CaseResult case_from_json(const json& j) {
  CaseResult r;
  r.seq = num_of<int64_t>(j, "seq");
  r.id = str_of(j, "id");
  r.suite = str_of(j, "suite");
  r.op = str_of(j, "op");
  r.aten = str_of(j, "aten");
  r.case_index = num_of<int64_t>(j, "case");
  r.shapes_as_given = j.value("shapes_as_given", std::vector<Shape>{});
  r.shapes = j.value("shapes", std::vector<Shape>{});
  r.args = j.value("args", std::vector<std::string>{});
  r.args_note = str_of(j, "args_note");
  r.dtype = str_of(j, "dtype");
  r.layout = str_of(j, "layout");
  r.memory = str_of(j, "memory");
  r.out_memory = str_of(j, "out_memory");
  r.ran_in_seed_run = num_of<bool>(j, "ran_in_seed_run");
  r.comment = str_of(j, "comment");
  r.device = str_of(j, "device");
  r.policy = str_of(j, "policy");
  r.mode = str_of(j, "mode");
  r.status = str_of(j, "status");
  r.pass_kind = str_of(j, "pass_kind");
  r.message = str_of(j, "message");
  r.failed_allocation = str_of(j, "failed_allocation");
  r.logical_bytes = num_of<int64_t>(j, "logical_bytes");
  r.bytes_requested = num_of<int64_t>(j, "bytes_requested");
  r.largest_buffer_bytes = num_of<int64_t>(j, "largest_buffer_bytes");
  r.bytes_per_bank = num_of<int64_t>(j, "bytes_per_bank");
  r.cb_bytes_per_core = num_of<int64_t>(j, "cb_bytes_per_core");
  r.bank_size = num_of<int64_t>(j, "bank_size");
  r.banks = num_of<int64_t>(j, "banks");
  r.strategy = str_of(j, "strategy");
  r.chunks = num_of<int64_t>(j, "chunks", 1);
  r.peak_l1_per_core = num_of<int64_t>(j, "peak_l1_per_core");
  r.peak_dram_per_bank = num_of<int64_t>(j, "peak_dram_per_bank");
  r.peak_host_bytes = num_of<int64_t>(j, "peak_host_bytes");
  r.seconds = num_of<double>(j, "seconds");
  if (j.contains("max_abs_error") && !j["max_abs_error"].is_null())
    r.max_abs_error = j["max_abs_error"].get<double>();
  r.verify_checked = num_of<int64_t>(j, "verify_checked");
  r.verify_failed = num_of<int64_t>(j, "verify_failed");
  r.git_revision = str_of(j, "git_revision");
  r.timestamp = str_of(j, "timestamp");
  return r;
}

json to_json(const SweepMeta& m) {
  return json{{"suite", m.suite},
              {"suite_file", m.suite_file},
              {"device", m.device},
              {"mode", m.mode},
              {"policies", m.policies},
              {"shards", m.shards},
              {"filters", m.filters},
              {"suite_cases", m.suite_cases},
              {"l1_banks", m.l1_banks},
              {"l1_bank_size", m.l1_bank_size},
              {"dram_banks", m.dram_banks},
              {"dram_bank_size", m.dram_bank_size},
              {"git_revision", m.git_revision},
              {"started", m.started},
              {"finished", m.finished},
              {"seconds", m.seconds},
              {"engine", m.engine},
              {"label", m.label},
              {"workers", m.workers},
              {"case_seconds", m.case_seconds},
              {"seed_reported_oom", m.seed_reported_oom}};
}

SweepMeta meta_from_json(const json& j) {
  SweepMeta m;
  m.suite = str_of(j, "suite");
  m.suite_file = str_of(j, "suite_file");
  m.device = str_of(j, "device");
  m.mode = str_of(j, "mode");
  m.policies = j.value("policies", std::vector<std::string>{});
  m.shards = j.value("shards", std::vector<std::string>{});
  m.filters = j.value("filters", std::vector<std::string>{});
  m.suite_cases = num_of<int64_t>(j, "suite_cases");
  m.l1_banks = num_of<int64_t>(j, "l1_banks");
  m.l1_bank_size = num_of<int64_t>(j, "l1_bank_size");
  m.dram_banks = num_of<int64_t>(j, "dram_banks");
  m.dram_bank_size = num_of<int64_t>(j, "dram_bank_size");
  m.git_revision = str_of(j, "git_revision");
  m.started = str_of(j, "started");
  m.finished = str_of(j, "finished");
  m.seconds = num_of<double>(j, "seconds");
  m.engine = str_of(j, "engine");
  m.label = str_of(j, "label");
  m.workers = num_of<int64_t>(j, "workers");
  m.case_seconds = num_of<double>(j, "case_seconds");
  m.seed_reported_oom = j.value("seed_reported_oom", std::map<std::string, int64_t>{});
  return m;
}

}  // namespace oomless::report
