// The JSON object and summary.txt of a model run.
#include "report/model_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "report/result.hpp"

namespace oomless::report {

using graph::Graph;
using graph::NodeKind;
using graph::ReplayResult;
using nlohmann::json;

std::vector<int> largest_tensors(const Graph& g, size_t n) {
  std::vector<int> s;
  for (size_t t = 0; t < g.tensors.size(); ++t)
    if (g.tensors[t].storage == static_cast<int>(t) && g.tensors[t].dtype &&
        g.tensors[t].kind != graph::TensorKind::Param)
      s.push_back(static_cast<int>(t));
  std::stable_sort(s.begin(), s.end(), [&](int a, int b) {
    return graph::storage_bytes(g.tensors[a]) > graph::storage_bytes(g.tensors[b]);
  });
  if (s.size() > n) s.resize(n);
  return s;
}

namespace {

json traffic_json(const graph::Traffic& t) {
  return {{"total", t.total()},
          {"dram_read", t.dram_read},
          {"dram_write", t.dram_write},
          {"host_to_device", t.host_to_device},
          {"device_to_host", t.device_to_host},
          {"host", t.host}};
}

json failure_json(const graph::Failure& f) {
  return {{"node", f.where},
          {"index", f.node},
          {"op", f.op},
          {"tensor", f.tensor},
          {"status", plan::status_name(f.status)},
          {"message", f.message},
          {"detail", f.detail}};
}

json replay_json(const ReplayResult& r) {
  json j{{"policy", r.policy},
         {"fits", r.fits},
         {"peak_l1_per_bank", r.peak_l1_per_bank},
         {"peak_dram_per_bank", r.peak_dram_per_bank},
         {"peak_host_bytes", r.peak_host_bytes},
         {"weights_dram_per_bank", r.weights_dram_per_bank},
         {"largest_buffer", r.largest_buffer},
         {"largest_buffer_bytes", r.largest_buffer_bytes},
         {"traffic", traffic_json(r.traffic)}};
  if (!r.error.empty()) j["error"] = r.error;
  // Per node, in node order: how this policy ran it and the bytes it moved.
  json nodes = json::array();
  for (const auto& n : r.nodes)
    nodes.push_back({{"strategy", n.strategy}, {"traffic", n.traffic.total()}});
  j["nodes"] = nodes;
  return j;
}

std::string places(const std::vector<graph::Place>& p) {
  std::string s;
  for (auto x : p) {
    if (!s.empty()) s += ',';
    s += graph::place_name(x);
  }
  return s;
}

}  // namespace

json model_json(const ModelRun& run) {
  const Graph& g = *run.graph;
  const device::Profile& p = run.profile;
  const ReplayResult& strict = run.strict;
  const ReplayResult* best = run.plan ? &run.plan->best : nullptr;
  json j;
  j["model"] = g.model;
  j["graph"] = g.origin;
  j["device"] = p.name;
  j["memory"] = device::buffer_type_name(run.options.memory);
  j["capacity"] = {{"l1_banks", p.l1_banks},
                   {"l1_bank_size", p.l1_bank_size()},
                   {"l1_size", p.l1_size},
                   {"dram_banks", p.dram_banks},
                   {"dram_bank_size", p.dram_allocatable()}};
  int lowered = 0;
  for (const auto& n : g.nodes) lowered += n.kind != NodeKind::Host;
  j["graph_nodes"] = g.nodes.size();
  j["lowered_nodes"] = lowered;
  j["fits"] = best ? best->fits : strict.fits;
  j["first_oom"] = strict.failures.empty() ? json(nullptr) : failure_json(strict.failures.front());
  json fails = json::array();
  for (const auto& f : strict.failures) fails.push_back(failure_json(f));
  j["strict"] = replay_json(strict);
  j["strict"]["failures"] = fails;
  const ReplayResult& main = best ? *best : strict;
  j["peak_l1_per_bank"] = main.peak_l1_per_bank;
  j["peak_dram_per_bank"] = main.peak_dram_per_bank;
  j["peak_host_bytes"] = main.peak_host_bytes;
  if (run.plan) {
    j["traffic"] = {{"all_dram", traffic_json(run.plan->all_dram.traffic)},
                    {"greedy_l1", traffic_json(run.plan->greedy_l1.traffic)},
                    {"auto", traffic_json(run.plan->best.traffic)}};
    j["policies"] = {replay_json(run.plan->all_dram), replay_json(run.plan->greedy_l1),
                     replay_json(run.plan->best)};
    j["auto_variant"] = run.plan->variant;
    json chains = json::array();
    for (const auto& c : run.plan->chains) {
      json names = json::array();
      for (int n : c.nodes) names.push_back(g.nodes[n].name);
      chains.push_back({{"nodes", names},
                        {"runs_at", g.nodes[c.run_at].name},
                        {"axis", c.axis},
                        {"extent", c.extent},
                        {"chunk", c.chunk},
                        {"chunks", c.num_chunks},
                        {"largest_whole_bytes", c.largest_whole_bytes},
                        {"largest_chunk_bytes", c.largest_chunk_bytes},
                        {"pinned_in_l1", c.pinned}});
    }
    j["chains"] = chains;
    j["seconds"] = {
        {"load", run.load_seconds}, {"strict", run.strict_seconds}, {"plan", run.plan->seconds}};
  } else {
    j["seconds"] = {{"load", run.load_seconds}, {"strict", run.strict_seconds}};
  }
  json nodes = json::array();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    json outs = json::array();
    for (int t : n.outputs) outs.push_back(g.tensors[t].name);
    const graph::NodeResult& sr = strict.nodes[i];
    json e{{"name", n.name},
           {"op", n.op},
           {"kind", graph::node_kind_name(n.kind)},
           {"lowered_to", n.op_desc ? json(std::string(n.op_desc->name)) : json(nullptr)},
           {"outputs", outs}};
    const graph::NodeResult& r = best ? best->nodes[i] : sr;
    e["strategy"] = r.strategy;
    e["placement"] = places(r.out_place);
    e["l1_per_bank"] = r.l1_per_bank;
    e["cb_per_core"] = r.cb_per_core;
    e["dram_per_bank"] = r.dram_per_bank;
    if (r.chunks > 1) e["chunks"] = r.chunks;
    if (r.chain >= 0) e["chain"] = r.chain;
    if (!r.note.empty()) e["note"] = r.note;
    if (best) {
      e["traffic"] = r.traffic.total();
      e["strict"] = {{"strategy", sr.strategy}, {"placement", places(sr.out_place)}};
    }
    if (n.kind == NodeKind::Host) e["host_reason"] = n.host_reason;
    nodes.push_back(e);
  }
  j["nodes"] = nodes;
  json unsupported = json::object();
  for (const auto& [op, count] : g.host_ops) unsupported[op] = count;
  j["unsupported"] = unsupported;
  return j;
}

std::string model_summary(const ModelRun& run) {
  const Graph& g = *run.graph;
  const device::Profile& p = run.profile;
  const ReplayResult& s = run.strict;
  std::string out;
  int lowered = 0;
  for (const auto& n : g.nodes) lowered += n.kind != NodeKind::Host;
  out += fmt::format("model {} ({}): {} nodes, {} on the device, {} host ops\n", g.model, g.origin,
                     g.nodes.size(), lowered, g.nodes.size() - lowered);
  if (!g.host_ops.empty()) {
    std::string list;
    for (const auto& [op, count] : g.host_ops)
      list += fmt::format("{}{} x{}", list.empty() ? "" : ", ", op, count);
    out += fmt::format("  host ops: {}\n", list);
  }
  out += fmt::format("device {}: {} L1 banks x {} B, {} DRAM banks x {} B\n", p.name, p.l1_banks,
                     grouped(p.l1_bank_size()), p.dram_banks, grouped(p.dram_allocatable()));
  out += fmt::format(
      "\nstrict ({} activations, weights in DRAM: {} B per bank): {}\n",
      device::buffer_type_name(run.options.memory), grouped(s.weights_dram_per_bank),
      s.failures.empty() ? "fits" : fmt::format("{} node(s) run out of memory", s.failures.size()));
  for (size_t i = 0; i < s.failures.size() && i < (run.plan ? 5 : 20); ++i) {
    const auto& f = s.failures[i];
    out += fmt::format("  {} {} ({}), tensor {}: {}\n", i == 0 ? "first OOM at" : "then", f.where,
                       f.op, f.tensor, f.message);
  }
  if (s.failures.size() > (run.plan ? 5u : 20u))
    out += fmt::format("  ... {} more (--json lists them all)\n",
                       s.failures.size() - (run.plan ? 5 : 20));
  out += fmt::format("  peak L1 {} B per bank (of {}), peak DRAM {} B per bank (of {})\n",
                     grouped(s.peak_l1_per_bank), grouped(p.l1_bank_size()),
                     grouped(s.peak_dram_per_bank), grouped(p.dram_allocatable()));
  if (run.plan) {
    const auto& pl = *run.plan;
    const ReplayResult& a = pl.best;
    out += fmt::format("\nauto plan ({}): {}\n", pl.variant,
                       a.fits ? "fits" : "does not fit: " + a.error);
    out += fmt::format(
        "  peak L1 {} B per bank (of {}), peak DRAM {} B per bank (of {}), "
        "host {}\n",
        grouped(a.peak_l1_per_bank), grouped(p.l1_bank_size()), grouped(a.peak_dram_per_bank),
        grouped(p.dram_allocatable()), human_bytes(a.peak_host_bytes));
    std::map<std::string, int> strategies;
    for (size_t i = 0; i < g.nodes.size(); ++i) ++strategies[a.nodes[i].strategy];
    std::string list;
    for (const auto& [k, v] : strategies)
      list += fmt::format("{}{} {}", list.empty() ? "" : ", ", k, v);
    out += fmt::format("  strategies: {}\n", list);
    out += fmt::format(
        "\ntraffic (bytes moved: DRAM reads + writes by programs, host<->device, "
        "host memory of ops run on the host):\n");
    out +=
        fmt::format("  {:<10} {:>18} {:>17} {:>17} {:>16} {:>16} {:>16}  {}\n", "policy", "total",
                    "DRAM read", "DRAM write", "host->device", "device->host", "host ops", "fits");
    for (const ReplayResult* r : {&pl.all_dram, &pl.greedy_l1, &pl.best}) {
      const auto& t = r->traffic;
      out += fmt::format("  {:<10} {:>18} {:>17} {:>17} {:>16} {:>16} {:>16}  {}\n", r->policy,
                         grouped(t.total()), grouped(t.dram_read), grouped(t.dram_write),
                         grouped(t.host_to_device), grouped(t.device_to_host), grouped(t.host),
                         r->fits ? "yes" : "no");
    }
    if (!pl.chains.empty()) {
      out += fmt::format("\nchains chunked together ({}):\n", pl.chains.size());
      for (size_t i = 0; i < pl.chains.size() && i < 12; ++i) {
        const auto& c = pl.chains[i];
        if (c.num_chunks == 0) {
          out += fmt::format("  #{} {} nodes at {}: {}, run node by node (chunks did not pay)\n", i,
                             c.nodes.size(), g.nodes[c.run_at].name, c.axis);
          continue;
        }
        out += fmt::format(
            "  #{} {} nodes at {}: {}, {} chunks of {}; largest tensor {} whole, "
            "{} as chunked\n",
            i, c.nodes.size(), g.nodes[c.run_at].name, c.axis, c.num_chunks, c.chunk,
            human_bytes(c.largest_whole_bytes), human_bytes(c.largest_chunk_bytes));
      }
      if (pl.chains.size() > 12) out += fmt::format("  ... {} more\n", pl.chains.size() - 12);
    }
    out += fmt::format("\ntime: load {:.2f} s, strict {:.2f} s, plan {:.2f} s\n", run.load_seconds,
                       run.strict_seconds, pl.seconds);
  } else {
    out += fmt::format("\ntime: load {:.2f} s, strict {:.2f} s\n", run.load_seconds,
                       run.strict_seconds);
  }
  return out;
}

std::vector<std::string> write_model_reports(const std::string& dir, const ModelRun& run) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> paths;
  auto put = [&](const std::string& name, const std::string& text) {
    std::string path = (std::filesystem::path(dir) / name).string();
    std::ofstream f(path, std::ios::binary);
    if (!f) throw Error(fmt::format("cannot write {}", path));
    f << text;
    paths.push_back(path);
  };
  put("summary.txt", model_summary(run));
  put("plan.json", model_json(run).dump(2) + "\n");
  put("report.md", model_md(run));
  put("report.html", model_html(run));
  return paths;
}

}  // namespace oomless::report
