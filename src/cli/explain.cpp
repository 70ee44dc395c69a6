// `oomless explain MESSAGE` (or a log on stdin): tt-metal's out-of-memory
// messages read backwards. Exit 0 when at least one message was explained, 2
// when the text holds none.
#include "explain/explain.hpp"

#include <fmt/format.h>

#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace oomless::cli {

namespace {

struct ExplainOptions {
  std::vector<std::string> words;    // the message (shell words joined), or "-"
  std::vector<std::string> devices;  // restrict to these profiles
  CallOptions call;                  // --op and friends (call.op empty: no call)
  std::string format;
  bool json = false;
  size_t max_pages = 64;
};

int run_explain(const ExplainOptions& o) {
  std::string text;
  if (o.words.empty() || (o.words.size() == 1 && o.words[0] == "-")) {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    for (const auto& w : o.words) text += (text.empty() ? "" : " ") + w;
  }
  explain::Options eo;
  for (const auto& d : o.devices) eo.devices.push_back(device::load_profile(d));
  if (!o.call.op.empty()) {
    eo.call = o.call.to_call();
    plan::device_outputs(*eo.call);  // a bad call is bad input (exit 2), before any reading
  }
  if (!o.format.empty()) eo.render_as = device::parse_message_format(o.format);
  eo.max_pages = o.max_pages;
  std::vector<device::OomMessage> found = device::find_oom_messages(text);
  if (found.empty()) fail("explain", "not a tt-metal out-of-memory message");
  std::vector<explain::Explanation> ex;
  for (const auto& m : found) ex.push_back(explain::explain(m, eo));
  if (o.json) {
    if (ex.size() == 1) {
      fmt::print("{}\n", explain::to_json(ex[0]).dump(2));
    } else {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : ex) a.push_back(explain::to_json(e));
      fmt::print("{}\n", a.dump(2));
    }
    return 0;
  }
  for (size_t i = 0; i < ex.size(); ++i)
    fmt::print("{}{}", i ? "\n" : "", explain::to_text(ex[i], i));
  return 0;
}

}  // namespace

void add_explain(CLI::App& app, Registry& reg, Keep& keep) {
  auto& o = keep.make<ExplainOptions>();
  CLI::App* sub = app.add_subcommand(
      "explain",
      "read tt-metal out-of-memory messages backwards (any version's words, with or without "
      "TT_FATAL/TT_THROW and (assert.hpp:N), several in one log): buffer, pages, devices, "
      "l1_small_size, CB region, fragmentation, advice; exit 2 when the text holds none");
  sub->add_option("message", o.words,
                  "the message (or a whole log); none or '-': read standard input");
  sub->add_option("--device", o.devices,
                  "read the message against these profiles only (repeatable; default: every "
                  "built-in profile)");
  sub->add_option("--op", o.call.op, "the op call that failed: plan it (with --shape, --arg ...)");
  sub->add_option("--shape,-s", o.call.shapes, "--op's input shapes as the device sees them");
  sub->add_option("--arg,-a", o.call.args, "--op's arguments name=value (repeatable)");
  sub->add_option("--dtype", o.call.dtype, "--op's dtype: bf16 | f32 | bfp8")
      ->capture_default_str();
  sub->add_option("--layout", o.call.layout, "--op's layout: tile | row_major")
      ->capture_default_str();
  sub->add_option("--memory", o.call.memory, "where --op's inputs were: l1 | dram")
      ->capture_default_str();
  sub->add_option("--out-memory", o.call.out_memory,
                  "where --op's outputs went (default: as the input)");
  sub->add_option("--tt-metal-format", o.format,
                  "also print each message in this version's words (" +
                      std::string(device::kDefaultMessageFormat) +
                      ", sep-2025, nov-2025, 2026, "
                      "sub-device; +xy-ranges / +dash-ranges)");
  sub->add_option("--max-pages", o.max_pages, "page readings kept per message")
      ->capture_default_str();
  sub->add_flag("--json", o.json, "print JSON: one object for one message, an array for several");
  reg.push_back({sub, [&o] { return run_explain(o); }});
}

}  // namespace oomless::cli
