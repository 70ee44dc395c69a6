#include "device/profile.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <utility>

#include "core/error.hpp"

namespace oomless::device {

// Generated from devices/*.json by CMake.
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_profile_texts();

std::vector<std::string> builtin_profile_names() {
  std::vector<std::string> names;
  for (const auto& [name, text] : builtin_profile_texts()) names.emplace_back(name);
  return names;
}

Profile parse_profile(const std::string& json_text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const std::exception& e) {
    fail("device", fmt::format("profile {} is not valid JSON: {}", origin, e.what()));
  }
  if (!j.is_object()) fail("device", fmt::format("profile {} is not a JSON object", origin));
  Profile p;
  // Sizes up to 2^48 B and counts up to 2^16: every product the allocator
  // forms (banks x bank size, grid x by y) stays far from int64 overflow.
  auto need = [&](const char* key) -> int64_t {
    if (!j.contains(key) || !j[key].is_number_integer())
      fail("device", fmt::format("profile {} needs an integer field '{}'", origin, key));
    const bool count = std::string_view(key).find("banks") != std::string_view::npos ||
                       std::string_view(key).rfind("grid_", 0) == 0;
    const int64_t most = count ? int64_t{1} << 16 : int64_t{1} << 48;
    if (j[key].is_number_unsigned() && j[key].get<uint64_t>() > static_cast<uint64_t>(most))
      fail("device", fmt::format("profile {}: '{}' must be <= {}, got {}", origin, key, most,
                                 j[key].get<uint64_t>()));
    int64_t v = j[key].get<int64_t>();
    if (v < 0) fail("device", fmt::format("profile {}: '{}' must be >= 0, got {}", origin, key, v));
    if (v > most)
      fail("device", fmt::format("profile {}: '{}' must be <= {}, got {}", origin, key, most, v));
    return v;
  };
  auto opt = [&](const char* key, int64_t dflt) { return j.contains(key) ? need(key) : dflt; };
  auto text = [&](const char* key, const std::string& dflt) {
    if (!j.contains(key)) return dflt;
    if (!j[key].is_string())
      fail("device", fmt::format("profile {}: '{}' must be a string", origin, key));
    return j[key].get<std::string>();
  };
  p.name = text("name", origin);
  p.description = text("description", "");
  p.arch = text("arch", "custom");
  p.l1_banks = need("l1_banks");
  p.grid_x = opt("grid_x", p.l1_banks);
  p.grid_y = opt("grid_y", 1);
  p.l1_size = need("l1_size");
  p.l1_unreserved_base = need("l1_unreserved_base");
  p.l1_base_lo = p.l1_base_hi = p.l1_unreserved_base;
  if (j.contains("l1_unreserved_base_range")) {
    const auto& r = j["l1_unreserved_base_range"];
    if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number_integer() ||
        r[0].get<int64_t>() > r[1].get<int64_t>() || r[0].get<int64_t>() < 0)
      fail("device", fmt::format("profile {}: 'l1_unreserved_base_range' must be [lo, hi] with "
                                 "0 <= lo <= hi",
                                 origin));
    p.l1_base_lo = r[0].get<int64_t>();
    p.l1_base_hi = r[1].get<int64_t>();
  }
  p.l1_small_size = opt("l1_small_size", 0);
  p.l1_alignment = need("l1_alignment");
  p.dram_banks = need("dram_banks");
  p.dram_bank_size = need("dram_bank_size");
  p.dram_unreserved_base = opt("dram_unreserved_base", 0);
  p.dram_alignment = need("dram_alignment");
  p.trace_region_size = opt("trace_region_size", 0);
  if (j.contains("message_format")) {
    if (!j["message_format"].is_string())
      fail("device", fmt::format("profile {}: 'message_format' must be a string", origin));
    p.message_format = parse_message_format(j["message_format"].get<std::string>());
  }
  if (j.contains("sources")) {
    if (!j["sources"].is_object())
      fail("device",
           fmt::format("profile {}: 'sources' must be an object of field: source", origin));
    for (const auto& [k, v] : j["sources"].items()) {
      if (!v.is_string())
        fail("device", fmt::format("profile {}: source of '{}' must be a string", origin, k));
      p.sources[k] = v.get<std::string>();
    }
  }
  if (p.l1_banks == 0 || p.dram_banks == 0)
    fail("device", fmt::format("profile {}: bank counts must be positive", origin));
  if (p.l1_alignment == 0 || p.dram_alignment == 0)
    fail("device", fmt::format("profile {}: alignments must be positive", origin));
  if (p.l1_bank_size() <= 0)
    fail("device", fmt::format("profile {}: l1_unreserved_base {} + l1_small_size {} leave no room "
                               "in l1_size {}",
                               origin, p.l1_unreserved_base, p.l1_small_size, p.l1_size));
  if (p.dram_allocatable() <= 0)
    fail("device", fmt::format("profile {}: DRAM bank has no allocatable bytes", origin));
  if (p.grid_x * p.grid_y != p.l1_banks)
    fail("device", fmt::format("profile {}: grid {}x{} does not match l1_banks {}", origin,
                               p.grid_x, p.grid_y, p.l1_banks));
  return p;
}

Profile with_message_format(Profile p, std::string_view spec) {
  if (!spec.empty()) p.message_format = parse_message_format(spec);
  return p;
}

Profile load_profile(const std::string& name_or_path) {
  for (const auto& [name, text] : builtin_profile_texts())
    if (name == name_or_path) return parse_profile(std::string(text), std::string(name));
  if (std::filesystem::is_regular_file(name_or_path)) {
    std::ifstream in(name_or_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_profile(ss.str(), name_or_path);
  }
  fail("device", fmt::format("unknown device profile '{}' (built in: {}; or a path to a JSON file)",
                             name_or_path, fmt::join(builtin_profile_names(), ", ")));
}

}  // namespace oomless::device
