// report.md and report.html of a model run. The page is self-contained (inline
// CSS and SVG, no network): a memory timeline of L1 and DRAM per bank over the
// nodes, strict beside auto, with the capacities and the first strict OOM
// marked; the bytes each policy moves; the largest tensors; chains; every node.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "report/model_report.hpp"
#include "report/result.hpp"

namespace oomless::report {

using graph::Graph;
using graph::NodeResult;
using graph::ReplayResult;

namespace {

std::string esc(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string places(const std::vector<graph::Place>& p) {
  std::string s;
  for (auto x : p) {
    if (!s.empty()) s += ',';
    s += graph::place_name(x);
  }
  return s;
}

const char* kStyle = R"(
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.meta{color:#59636e}.scroll{overflow-x:auto;border:1px solid #d1d9e0;padding:4px;border-radius:6px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d1d9e0;padding:3px 8px;text-align:right}
th{background:#f6f8fa}td.l,th.l{text-align:left}.oom{color:#cf222e}.ok{color:#1a7f37}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:18px;height:3px;margin-right:4px;vertical-align:3px}
svg text{font:10px sans-serif;fill:#1f2328}svg .axis{stroke:#59636e;stroke-width:1}
svg .grid{stroke:#eaeef2;stroke-width:1}svg .limit{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:5 3}
svg .strict{fill:none;stroke:#bf8700;stroke-width:1.2}svg .auto{fill:none;stroke:#0969da;stroke-width:1.2}
svg .first{stroke:#cf222e;stroke-width:1}svg text.oom{fill:#cf222e}
div.nodes{max-height:600px;overflow-y:auto;border:1px solid #d1d9e0}
)";

struct Panel {
  std::string title;
  int64_t capacity;
  std::vector<int64_t> strict, plan;
};

// One panel of the timeline: per-bank bytes over the nodes.
std::string panel_svg(const Panel& p, int top, int height, int left, int width, size_t n,
                      const graph::Failure* first, const std::vector<int>& failing,
                      const Graph& g) {
  double mx = static_cast<double>(p.capacity);
  for (auto v : p.strict) mx = std::max(mx, static_cast<double>(v));
  for (auto v : p.plan) mx = std::max(mx, static_cast<double>(v));
  mx *= 1.08;
  auto X = [&](double i) { return left + (n > 1 ? width * i / static_cast<double>(n - 1) : 0.0); };
  auto Y = [&](double v) { return top + height - height * v / mx; };
  std::string s;
  for (int k = 0; k <= 4; ++k) {
    double v = mx * k / 4;
    s += fmt::format(
        "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/><text x=\"{}\" "
        "y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        left, left + width, Y(v), Y(v), left - 4, Y(v) + 3,
        esc(human_bytes(static_cast<int64_t>(v))));
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", left, top - 6, esc(p.title));
  s += fmt::format(
      "<line class=\"axis\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/><line class=\"axis\" "
      "x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>\n",
      left, left + width, top + height, top + height, left, left, top, top + height);
  double yc = Y(static_cast<double>(p.capacity));
  s += fmt::format(
      "<line class=\"limit\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"><title>capacity {} B "
      "per bank</title></line><text x=\"{}\" y=\"{:.1f}\">capacity {}</text>\n",
      left, left + width, yc, yc, grouped(p.capacity), left + width + 4, yc + 3,
      esc(human_bytes(p.capacity)));
  for (const auto& [cls, series] : {std::pair{"strict", &p.strict}, std::pair{"auto", &p.plan}}) {
    if (series->empty()) continue;
    std::string pts;
    for (size_t i = 0; i < series->size(); ++i)
      pts += fmt::format("{:.1f},{:.1f} ", X(static_cast<double>(i)),
                         Y(static_cast<double>((*series)[i])));
    s += fmt::format("<polyline class=\"{}\" points=\"{}\"><title>{}</title></polyline>\n", cls,
                     pts, cls);
  }
  if (first) {
    // An input or weight that does not fit fails before node 0.
    double x = X(std::max(first->node, 0));
    s += fmt::format(
        "<line class=\"first\" x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{}\" y2=\"{}\"><title>first "
        "strict OOM: {} ({})</title></line><text x=\"{:.1f}\" y=\"{}\" class=\"oom\">first OOM: "
        "{}</text>\n",
        x, x, top, top + height, esc(first->where), esc(first->op), x + 3, top + height - 4,
        esc(first->where));
  }
  for (int f : failing)
    s += fmt::format(
        "<circle cx=\"{:.1f}\" cy=\"{}\" r=\"2.5\" fill=\"#cf222e\"><title>strict OOM at {} "
        "({})</title></circle>\n",
        X(f), top + 4, esc(g.nodes[f].name), esc(g.nodes[f].op));
  return s;
}

std::string timeline_svg(const ModelRun& run) {
  const Graph& g = *run.graph;
  const ReplayResult& s = run.strict;
  const ReplayResult* a = run.plan ? &run.plan->best : nullptr;
  size_t n = g.nodes.size();
  Panel l1{"L1 per bank (buffers + circular buffers)", run.profile.l1_bank_size(), {}, {}};
  Panel dram{"DRAM per bank", run.profile.dram_allocatable(), {}, {}};
  for (size_t i = 0; i < n; ++i) {
    l1.strict.push_back(s.nodes[i].l1_per_bank + s.nodes[i].cb_per_core);
    dram.strict.push_back(s.nodes[i].dram_per_bank);
    if (a) {
      l1.plan.push_back(a->nodes[i].l1_per_bank + a->nodes[i].cb_per_core);
      dram.plan.push_back(a->nodes[i].dram_per_bank);
    }
  }
  // A strict replay that stopped at its first OOM has no samples after it.
  if (!run.options.all && !run.plan && !s.failures.empty() && s.failures[0].node >= 0) {
    l1.strict.resize(static_cast<size_t>(s.failures[0].node) + 1);
    dram.strict.resize(static_cast<size_t>(s.failures[0].node) + 1);
  }
  const int left = 80, width = 1000, height = 200, gap = 50;
  int w = left + width + 110, h = 2 * height + 2 * gap + 30;
  std::vector<int> failing;
  for (const auto& f : s.failures)
    if (f.node >= 0) failing.push_back(f.node);
  const graph::Failure* first = s.failures.empty() ? nullptr : &s.failures[0];
  std::string out = fmt::format(
      "<svg id=\"chart-timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" "
      "height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"memory per bank over the "
      "nodes\">\n",
      w, h, w, h);
  out += panel_svg(l1, gap - 20, height, left, width, n, first, failing, g);
  out += panel_svg(dram, gap - 20 + height + gap, height, left, width, n, first, {}, g);
  out += fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">nodes in program order (0 .. {})</text>\n",
      left + width / 2, h - 6, n ? n - 1 : 0);
  return out + "</svg>\n";
}

std::string traffic_svg(const graph::ModelPlan& p) {
  const int left = 90, width = 800, bar = 22, top = 10;
  std::vector<const ReplayResult*> rs = {&p.all_dram, &p.greedy_l1, &p.best};
  double mx = 1;
  for (auto* r : rs) mx = std::max(mx, static_cast<double>(r->traffic.total()));
  int h = top + static_cast<int>(rs.size()) * (bar + 10) + 30, w = left + width + 160;
  std::string s = fmt::format(
      "<svg id=\"chart-traffic\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"bytes moved per policy\">\n",
      w, h, w, h);
  const char* colours[] = {"#0969da", "#54aeff", "#bf8700", "#d4a72c", "#8250df"};
  const char* names[] = {"DRAM read", "DRAM write", "host to device", "device to host", "host ops"};
  for (size_t i = 0; i < rs.size(); ++i) {
    const auto& t = rs[i]->traffic;
    int64_t parts[] = {t.dram_read, t.dram_write, t.host_to_device, t.device_to_host, t.host};
    int y = top + static_cast<int>(i) * (bar + 10);
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 6,
                     y + bar / 2 + 4, esc(rs[i]->policy));
    double x = left;
    for (int k = 0; k < 5; ++k) {
      double bw = width * static_cast<double>(parts[k]) / mx;
      s += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"><title>{}: {} "
          "{} B</title></rect>\n",
          x, y, std::max(bw, 0.0), bar, colours[k], esc(rs[i]->policy), names[k],
          grouped(parts[k]));
      x += bw;
    }
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{}</text>\n", x + 6, y + bar / 2 + 4,
                     esc(human_bytes(t.total())));
  }
  int y = h - 12;
  for (int k = 0; k < 5; ++k)
    s += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" "
        "y=\"{}\">{}</text>\n",
        left + k * 140, y - 9, colours[k], left + k * 140 + 14, y, names[k]);
  return s + "</svg>\n";
}

// Where auto kept a storage: a place, or "chunks" for a chain's intermediates.
std::string auto_place(const ModelRun& run, int t) {
  if (!run.plan) return "-";
  for (const auto& c : run.plan->chains)
    for (int m : c.nodes)
      for (int o : run.graph->nodes[m].outputs)
        if (run.graph->tensors[o].storage == t &&
            run.plan->best.tensor_place[t] == graph::Place::None)
          return fmt::format("chunks (chain, {} of {})", c.chunk, c.extent);
  return std::string(graph::place_name(run.plan->best.tensor_place[t]));
}

}  // namespace

std::string model_html(const ModelRun& run) {
  const Graph& g = *run.graph;
  const device::Profile& p = run.profile;
  const ReplayResult& s = run.strict;
  std::string title =
      fmt::format("oomless model {}: {} on {}", run.plan ? "plan" : "query", g.model, p.name);
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n"
      "<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
      esc(title), kStyle, esc(title));
  int lowered = 0;
  for (const auto& n : g.nodes) lowered += n.kind != graph::NodeKind::Host;
  out += fmt::format(
      "<p class=\"meta\">Graph {}: {} nodes, {} on the device, {} host ops. {} L1 banks x {} B, "
      "{} DRAM banks x {} B{}.</p>\n",
      esc(g.origin), g.nodes.size(), lowered, g.nodes.size() - lowered, p.l1_banks,
      grouped(p.l1_bank_size()), p.dram_banks, grouped(p.dram_allocatable()),
      run.options.budgets.l1 || run.options.budgets.dram ? " (budgets applied)" : "");

  out +=
      "<h2>Verdict</h2>\n<table id=\"verdict\"><tr><th class=\"l\">replay</th><th>fits</th>"
      "<th>peak L1 per bank</th><th>peak DRAM per bank</th><th class=\"l\">first "
      "out-of-memory</th></tr>\n";
  out += fmt::format(
      "<tr><td class=\"l\">strict ({} activations)</td><td class=\"{}\">{}</td><td>{}</td>"
      "<td>{}</td><td class=\"l\">{}</td></tr>\n",
      device::buffer_type_name(run.options.memory), s.fits ? "ok" : "oom",
      s.fits ? "yes" : fmt::format("no ({} nodes)", s.failures.size()), grouped(s.peak_l1_per_bank),
      grouped(s.peak_dram_per_bank),
      s.failures.empty()
          ? "-"
          : esc(fmt::format("{} ({}), tensor {}: {}", s.failures[0].where, s.failures[0].op,
                            s.failures[0].tensor, s.failures[0].message)));
  if (run.plan) {
    const ReplayResult& a = run.plan->best;
    out += fmt::format(
        "<tr><td class=\"l\">auto plan</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td>"
        "<td class=\"l\">{}</td></tr>\n",
        a.fits ? "ok" : "oom", a.fits ? "yes" : "no", grouped(a.peak_l1_per_bank),
        grouped(a.peak_dram_per_bank), a.fits ? esc(run.plan->variant) : esc(a.error));
  }
  out += "</table>\n";

  out +=
      "<h2>Memory over the nodes</h2>\n<p>Per-bank bytes at each node's peak (its outputs "
      "and circular buffers placed, before anything is freed); dashed: the bank's capacity";
  if (!s.failures.empty())
    out += "; red: nodes whose strict replay ran out of memory (vertical: the first)";
  out += ".</p>\n<p class=\"legend\"><span><i style=\"background:#bf8700\"></i>strict</span>";
  if (run.plan) out += "<span><i style=\"background:#0969da\"></i>auto</span>";
  out += "</p>\n<div class=\"scroll\">" + timeline_svg(run) + "</div>\n";

  if (run.plan) {
    const auto& pl = *run.plan;
    out +=
        "<h2>Bytes moved</h2>\n<p>DRAM reads and writes by programs (a tensor in L1 moves "
        "nothing; a tile page counts whole) and host transfers, for TT-NN's default placement "
        "(all DRAM), greedy L1 (each output in L1 when it fits at that moment) and the auto "
        "plan, each with the same fallbacks.</p>\n";
    out += "<div class=\"scroll\">" + traffic_svg(pl) + "</div>\n";
    out +=
        "<table id=\"traffic\"><tr><th class=\"l\">policy</th><th>total</th><th>DRAM "
        "read</th><th>DRAM write</th><th>host to device</th><th>device to host</th>"
        "<th>host ops</th><th>fits</th></tr>\n";
    for (const ReplayResult* r : {&pl.all_dram, &pl.greedy_l1, &pl.best})
      out += fmt::format(
          "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td>{}</td><td>{}</td></tr>\n",
          esc(r->policy), grouped(r->traffic.total()), grouped(r->traffic.dram_read),
          grouped(r->traffic.dram_write), grouped(r->traffic.host_to_device),
          grouped(r->traffic.device_to_host), grouped(r->traffic.host), r->fits ? "yes" : "no");
    out += "</table>\n";
    if (!pl.chains.empty()) {
      out += fmt::format(
          "<h2>Chains ({})</h2>\n<table id=\"chains\"><tr><th>#</th><th "
          "class=\"l\">runs at</th><th>nodes</th><th class=\"l\">axis</th>"
          "<th>chunks</th><th>chunk</th><th>largest whole</th><th>largest "
          "chunk</th><th class=\"l\">pinned in L1</th></tr>\n",
          pl.chains.size());
      for (size_t i = 0; i < pl.chains.size(); ++i) {
        const auto& c = pl.chains[i];
        std::string names;
        for (int m : c.nodes) names += (names.empty() ? "" : " ") + g.nodes[m].name;
        std::string pins;
        for (const auto& x : c.pinned) pins += (pins.empty() ? "" : ", ") + x;
        std::string pinned = c.pinned.empty() ? "-"
                                              : fmt::format("<span title=\"{}\">{} tensors</span>",
                                                            esc(pins), c.pinned.size());
        out += fmt::format(
            "<tr><td>{}</td><td class=\"l\" title=\"{}\">{}</td><td>{}</td><td class=\"l\">{}"
            "</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>\n",
            i, esc(names), esc(g.nodes[c.run_at].name), c.nodes.size(), esc(c.axis), c.num_chunks,
            c.chunk, human_bytes(c.largest_whole_bytes), human_bytes(c.largest_chunk_bytes),
            pinned);
      }
      out += "</table>\n";
    }
  }

  out +=
      "<h2>Largest tensors</h2>\n<table id=\"largest\"><tr><th class=\"l\">tensor</th><th "
      "class=\"l\">shape</th><th class=\"l\">stored as</th><th>bytes</th><th>made</th>"
      "<th>last read</th><th class=\"l\">strict</th><th class=\"l\">auto</th></tr>\n";
  for (int t : largest_tensors(g, 15)) {
    const auto& x = g.tensors[t];
    out += fmt::format(
        "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>\n",
        esc(x.name), shape_str(x.shape), shape_str(x.device_shape),
        grouped(graph::storage_bytes(x)), x.producer, x.last_use,
        s.tensor_place.empty() ? "-" : graph::place_name(s.tensor_place[t]),
        esc(auto_place(run, t)));
  }
  out += "</table>\n";
  if (!g.host_ops.empty()) {
    out +=
        "<h2>Host ops</h2>\n<p>Ops oomless has no device kernel for, kept in the graph and "
        "run on the host with their transfers:</p>\n<ul>\n";
    for (const auto& [op, count] : g.host_ops)
      out += fmt::format("<li>{} &times; {}</li>\n", esc(op), count);
    out += "</ul>\n";
  }

  out +=
      "<h2>Nodes</h2>\n<div class=\"nodes\"><table id=\"nodes\"><tr><th>#</th><th "
      "class=\"l\">node</th><th class=\"l\">op</th><th class=\"l\">runs as</th><th "
      "class=\"l\">strategy</th><th class=\"l\">outputs in</th><th>L1/bank</th>"
      "<th>CB/core</th><th>DRAM/bank</th><th class=\"l\">strict</th><th class=\"l\">note</th>"
      "</tr>\n";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    const NodeResult& sr = s.nodes[i];
    const NodeResult& r = run.plan ? run.plan->best.nodes[i] : sr;
    std::string strict = sr.strategy;
    for (const auto& f : s.failures)
      if (f.node == static_cast<int>(i)) strict = "OOM: " + f.tensor;
    out += fmt::format(
        "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>"
        "<td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td class=\"l{}\">{}</td><td class=\"l\">{}</td></tr>\n",
        i, esc(n.name), esc(n.op), n.op_desc ? esc(n.op_desc->name) : "host", esc(r.strategy),
        places(r.out_place), grouped(r.l1_per_bank), grouped(r.cb_per_core),
        grouped(r.dram_per_bank), strict.rfind("OOM", 0) == 0 ? " oom" : "", esc(strict),
        esc(n.kind == graph::NodeKind::Host ? n.host_reason : r.note));
  }
  out += "</table></div>\n";
  // Marks each chart with its rendered size, so a headless browser can prove
  // the charts were laid out and painted (tests/python/test_model_html.py).
  out +=
      "<script>window.addEventListener('load',function(){"
      "document.querySelectorAll('svg').forEach(function(s){var b=s.getBBox();"
      "s.setAttribute('data-rendered',Math.round(b.width)+'x'+Math.round(b.height));"
      "s.setAttribute('data-marks',s.querySelectorAll('rect,circle,polyline').length);});});"
      "</script>\n</body>\n</html>\n";
  return out;
}

std::string model_md(const ModelRun& run) {
  const Graph& g = *run.graph;
  const device::Profile& p = run.profile;
  const ReplayResult& s = run.strict;
  std::string out =
      fmt::format("# oomless model {}: {} on {}\n\n", run.plan ? "plan" : "query", g.model, p.name);
  out += fmt::format("Graph `{}`: {} nodes. {} L1 banks x {} B, {} DRAM banks x {} B.\n\n",
                     g.origin, g.nodes.size(), p.l1_banks, grouped(p.l1_bank_size()), p.dram_banks,
                     grouped(p.dram_allocatable()));
  out +=
      "| replay | fits | peak L1 per bank | peak DRAM per bank | first out-of-memory |\n"
      "|---|---|---:|---:|---|\n";
  out += fmt::format(
      "| strict ({}) | {} | {} | {} | {} |\n", device::buffer_type_name(run.options.memory),
      s.fits ? "yes" : fmt::format("no ({} nodes)", s.failures.size()), grouped(s.peak_l1_per_bank),
      grouped(s.peak_dram_per_bank),
      s.failures.empty()
          ? "-"
          : fmt::format("`{}` ({}), tensor `{}`: {}", s.failures[0].where, s.failures[0].op,
                        s.failures[0].tensor, s.failures[0].message));
  if (run.plan) {
    const auto& a = run.plan->best;
    out += fmt::format("| auto | {} | {} | {} | {} |\n", a.fits ? "yes" : "no",
                       grouped(a.peak_l1_per_bank), grouped(a.peak_dram_per_bank),
                       a.fits ? run.plan->variant : a.error);
    out +=
        "\n## Bytes moved\n\nDRAM reads and writes by programs (L1 moves nothing; tile "
        "pages count whole) and host transfers.\n\n| policy | total | DRAM read | DRAM write "
        "| host to device | device to host | host ops | fits |\n"
        "|---|---:|---:|---:|---:|---:|---:|---|\n";
    for (const ReplayResult* r : {&run.plan->all_dram, &run.plan->greedy_l1, &run.plan->best})
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", r->policy,
                         grouped(r->traffic.total()), grouped(r->traffic.dram_read),
                         grouped(r->traffic.dram_write), grouped(r->traffic.host_to_device),
                         grouped(r->traffic.device_to_host), grouped(r->traffic.host),
                         r->fits ? "yes" : "no");
    if (!run.plan->chains.empty()) {
      out +=
          "\n## Chains\n\n| # | runs at | nodes | axis | chunks | chunk | largest whole | "
          "largest chunk |\n|---:|---|---:|---|---:|---:|---:|---:|\n";
      for (size_t i = 0; i < run.plan->chains.size(); ++i) {
        const auto& c = run.plan->chains[i];
        out += fmt::format("| {} | `{}` | {} | {} | {} | {} | {} | {} |\n", i,
                           g.nodes[c.run_at].name, c.nodes.size(), c.axis, c.num_chunks, c.chunk,
                           human_bytes(c.largest_whole_bytes), human_bytes(c.largest_chunk_bytes));
      }
    }
  }
  out +=
      "\n## Largest tensors\n\n| tensor | shape | stored as | bytes | strict | auto |\n"
      "|---|---|---|---:|---|---|\n";
  for (int t : largest_tensors(g, 15)) {
    const auto& x = g.tensors[t];
    out += fmt::format("| `{}` | {} | {} | {} | {} | {} |\n", x.name, shape_str(x.shape),
                       shape_str(x.device_shape), grouped(graph::storage_bytes(x)),
                       s.tensor_place.empty() ? "-" : graph::place_name(s.tensor_place[t]),
                       auto_place(run, t));
  }
  if (!g.host_ops.empty()) {
    out += "\n## Host ops\n\n";
    for (const auto& [op, count] : g.host_ops) out += fmt::format("- `{}` x {}\n", op, count);
  }
  out +=
      "\n## Nodes\n\n| # | node | op | strategy | outputs in | L1/bank | CB/core | DRAM/bank | "
      "strict |\n|---:|---|---|---|---|---:|---:|---:|---|\n";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    const NodeResult& sr = s.nodes[i];
    const NodeResult& r = run.plan ? run.plan->best.nodes[i] : sr;
    std::string strict = sr.strategy;
    for (const auto& f : s.failures)
      if (f.node == static_cast<int>(i)) strict = "OOM: " + f.tensor;
    out += fmt::format("| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |\n", i, n.name, n.op,
                       r.strategy, places(r.out_place), grouped(r.l1_per_bank),
                       grouped(r.cb_per_core), grouped(r.dram_per_bank), strict);
  }
  return out;
}

}  // namespace oomless::report
