// Inputs the fuzz targets (fuzz/, FUZZING.md) found crashing, each kept as a
// test: the reader must reject them with InvalidArgument naming the file and
// the bad value (the CLI's exit 2), never abort or overflow.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/error.hpp"
#include "device/profile.hpp"

using namespace oomless;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no InvalidArgument)";
}

std::string profile_with(const std::string& extra) {
  return R"({"l1_banks": 64, "l1_size": 1499136, "l1_unreserved_base": 99104,
  "l1_alignment": 16, "dram_banks": 12, "dram_bank_size": 1073741824, "dram_alignment": 32)" +
         extra + "}";
}

}  // namespace

TEST(FuzzRegressions, ProfileThatIsNotAnObject) {
  // fuzz_profile: "0\n \t\0\0\0 \"namego" aborted in json::value() (a number, not an object).
  std::string crash("0\n \t\0\0\0 \"namego", 15);
  EXPECT_NE(message_of([&] { device::parse_profile(crash, "p.json"); }).find("p.json"),
            std::string::npos);
  for (const char* text : {"0", "[]", "\"x\"", "null"})
    EXPECT_NE(message_of([&] { device::parse_profile(text, "p.json"); }).find("not a JSON object"),
              std::string::npos)
        << text;
}

TEST(FuzzRegressions, ProfileFieldsOfTheWrongTypeOrSize) {
  EXPECT_NO_THROW(device::parse_profile(profile_with(""), "p.json"));
  EXPECT_NE(message_of([] {
              device::parse_profile(profile_with(R"(, "name": 7)"), "p.json");
            }).find("'name' must be a string"),
            std::string::npos);
  // Sizes that would overflow banks x bank size, counts that would overflow the grid.
  EXPECT_NE(message_of([] {
              device::parse_profile(profile_with(R"(, "trace_region_size": 9223372036854775807)"),
                                    "p.json");
            }).find("'trace_region_size' must be <="),
            std::string::npos);
  EXPECT_NE(message_of([] {
              device::parse_profile(profile_with(R"(, "grid_x": 4294967296, "grid_y": 4294967296)"),
                                    "p.json");
            }).find("'grid_x' must be <= 65536"),
            std::string::npos);
  EXPECT_NE(message_of([] {
              device::parse_profile(profile_with(R"(, "grid_y": 18446744073709551615)"), "p.json");
            }).find("'grid_y' must be <= 65536"),
            std::string::npos);
}
