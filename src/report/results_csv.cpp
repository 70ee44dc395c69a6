#include <fmt/format.h>

#include "report/writers.hpp"

namespace oomless::report {

std::vector<std::string> csv_columns() {
  return {"seq",
          "id",
          "suite",
          "op",
          "aten",
          "case",
          "shapes_as_given",
          "shapes",
          "args",
          "args_note",
          "dtype",
          "layout",
          "memory",
          "out_memory",
          "ran_in_seed_run",
          "comment",
          "device",
          "policy",
          "mode",
          "status",
          "pass_kind",
          "message",
          "failed_allocation",
          "logical_bytes",
          "bytes_requested",
          "largest_buffer_bytes",
          "bytes_per_bank",
          "cb_bytes_per_core",
          "bank_size",
          "banks",
          "strategy",
          "chunks",
          "peak_l1_per_core",
          "peak_dram_per_bank",
          "peak_host_bytes",
          "seconds",
          "max_abs_error",
          "verify_checked",
          "verify_failed",
          "git_revision",
          "timestamp"};
}

// RFC 4180: quote fields holding a comma, quote or line break; double quotes.
static std::string cell(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q.push_back('"');
    q.push_back(c);
  }
  q.push_back('"');
  return q;
}

static std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s.append(sep);
    s.append(x);
  }
  return s;
}

std::string results_csv(const SweepRun& run) {
  std::string out;
  for (const auto& c : csv_columns()) {
    if (!out.empty()) out.push_back(',');
    out.append(c);
  }
  out += "\n";
  for (const auto& r : run.results) {
    std::vector<std::string> f = {
        std::to_string(r.seq),
        r.id,
        r.suite,
        r.op,
        r.aten,
        std::to_string(r.case_index),
        shapes_str(r.shapes_as_given),
        shapes_str(r.shapes),
        join(r.args, " "),
        r.args_note,
        r.dtype,
        r.layout,
        r.memory,
        r.out_memory,
        r.ran_in_seed_run ? "true" : "false",
        r.comment,
        r.device,
        r.policy,
        r.mode,
        r.status,
        r.pass_kind,
        r.message,
        r.failed_allocation,
        std::to_string(r.logical_bytes),
        std::to_string(r.bytes_requested),
        std::to_string(r.largest_buffer_bytes),
        std::to_string(r.bytes_per_bank),
        std::to_string(r.cb_bytes_per_core),
        std::to_string(r.bank_size),
        std::to_string(r.banks),
        r.strategy,
        std::to_string(r.chunks),
        std::to_string(r.peak_l1_per_core),
        std::to_string(r.peak_dram_per_bank),
        std::to_string(r.peak_host_bytes),
        fmt::format("{:.6f}", r.seconds),
        r.max_abs_error ? fmt::format("{:.6g}", *r.max_abs_error) : std::string(),
        std::to_string(r.verify_checked),
        std::to_string(r.verify_failed),
        r.git_revision,
        r.timestamp,
    };
    std::string line;
    for (size_t i = 0; i < f.size(); ++i) {
      if (i) line.push_back(',');
      line.append(cell(f[i]));
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace oomless::report
