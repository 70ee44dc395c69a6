// tt-metal's OOM messages in every version's words: written by the device from
// the allocator's state, read back from logs (real messages from public issues).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "core/error.hpp"
#include "device/device.hpp"

using namespace oomless;
using namespace oomless::device;

namespace {

OomMessage one(const std::string& text) {
  auto v = find_oom_messages(text);
  EXPECT_EQ(v.size(), 1u) << text;
  return v.empty() ? OomMessage{} : v[0];
}

Profile wormhole(std::string_view format = "") {
  return with_message_format(load_profile("wormhole_b0"), format);
}

}  // namespace

TEST(MessageFormat, NamesRoundTripAndBadNamesSayWhatIsKnown) {
  for (const auto& [name, about] : message_format_names()) {
    EXPECT_EQ(parse_message_format(name).name(), name);
    EXPECT_FALSE(about.empty());
  }
  EXPECT_EQ(parse_message_format("nov-2025+dash-ranges"),
            (MessageFormat{AllocatorWords::Stats, CoreRangeWords::Dash}));
  EXPECT_EQ(parse_message_format("2026+xy-ranges").name(), "nov-2025");
  EXPECT_EQ(parse_message_format("sub-device+xy-ranges").name(), "sub-device+xy-ranges");
  try {
    parse_message_format("2024");
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("mid-2025, sep-2025, nov-2025, 2026, sub-device"),
              std::string::npos);
  }
  EXPECT_THROW(parse_message_format("nov-2025+square-ranges"), InvalidArgument);
  EXPECT_EQ(load_profile("wormhole_b0").message_format.name(), "mid-2025");
}

TEST(MessageFormat, DeviceSpeaksEveryVersionWithTheAllocatorsOwnNumbers) {
  // Two tensors of 408 tiles per bank on a 1400032 B bank: the second fails
  // with 835584 B allocated, 564448 B free in one block.
  const std::string head =
      "Out of Memory: Not enough space to allocate 53477376 B L1 buffer across 64 banks, where "
      "each bank needs to store 835584 B";
  const std::map<std::string, std::string> expected = {
      {"mid-2025", head},
      {"sep-2025", head + ", but bank size is only 1400032 B"},
      {"nov-2025", head + ", but bank size is 1400032 B (allocated: 835584 B, free: 564448 B, "
                          "largest free block: 564448 B)"},
      {"2026", head + ", but bank size is 1400032 B (allocated: 835584 B, free: 564448 B, "
                      "largest free block: 564448 B)"},
      {"sub-device",
       "Out of Memory: Not enough space after considering dependencies to allocate 53477376 B L1 "
       "across 64 banks (835584 B per bank), bank size is 1400032 B (allocated: 835584 B, free: "
       "564448 B, largest free block: 564448 B)"},
  };
  for (const auto& [format, text] : expected) {
    Device dev(wormhole(format), false);
    auto a = dev.allocate(BufferType::L1, 26112, 2048);
    try {
      dev.allocate(BufferType::L1, 26112, 2048);
      FAIL() << "expected OutOfMemory";
    } catch (const OutOfMemory& e) {
      EXPECT_EQ(e.what(), text) << format;
      // The newest words whatever the format, for reports.
      EXPECT_EQ(e.detail(), expected.at("nov-2025"));
      auto m = one(e.what());
      EXPECT_EQ(render(m, parse_message_format(format)), text);
    }
  }
}

TEST(MessageFormat, StatisticsAreTheAllocatorsRealStateWhenFragmented) {
  Device dev(wormhole("nov-2025"), false);
  auto a = dev.allocate(BufferType::L1, 64 * 200, 2048);  // 409600 B per bank, top
  auto b = dev.allocate(BufferType::L1, 64 * 200, 2048);  // below it
  auto c = dev.allocate(BufferType::L1, 64 * 200, 2048);
  b.reset();  // a 409600 B hole between a and c
  try {
    dev.allocate(BufferType::L1, 64 * 300, 2048);  // 614400 B per bank
    FAIL() << "expected OutOfMemory";
  } catch (const OutOfMemory& e) {
    const int64_t free = 1400032 - 2 * 409600;
    EXPECT_EQ(std::string(e.what()),
              fmt::format("Out of Memory: Not enough space to allocate 39321600 B L1 buffer "
                          "across 64 banks, where each bank needs to store 614400 B, but bank "
                          "size is 1400032 B (allocated: 819200 B, free: {} B, largest free "
                          "block: 409600 B)",
                          free));
  }
}

TEST(MessageFormat, CoreRangesOldAndNew) {
  Profile p = load_profile("wormhole_b0");
  p.l1_size = p.l1_unreserved_base + 4096;  // a tiny L1: any real CB overflows
  for (auto [format, range] :
       {std::pair{"mid-2025", "[(x=0,y=0) - (x=7,y=7)]"}, std::pair{"2026", "[0-0 - 7-7]"}}) {
    Device dev(with_message_format(p, format), false);
    try {
      dev.allocate_cbs({8192});
      FAIL();
    } catch (const OutOfMemory& e) {
      EXPECT_EQ(std::string(e.what()),
                fmt::format("Statically allocated circular buffers on core range {} grow to {} "
                            "B which is beyond max L1 size of {} B",
                            range, p.l1_unreserved_base + 8192, p.l1_size));
      auto m = one(e.what());
      EXPECT_EQ(m.kind, OomMessage::Kind::CbBeyondL1);
      EXPECT_EQ(m.range, (std::vector<CoreRect>{{0, 0, 7, 7}}));
      EXPECT_EQ(render(m, parse_message_format(format)), e.what());
    }
  }
}

// ---- Real messages from public issues --------------------------------------------------------

TEST(ReadMessages, Mid2025Issue22513) {
  auto m = one(
      "Out of Memory: Not enough space to allocate 414711808 B L1 buffer across 64 banks, where "
      "each bank needs to store 6479872 B");
  EXPECT_EQ(m.kind, OomMessage::Kind::Allocator);
  EXPECT_EQ(m.words, AllocatorWords::Mid2025);
  EXPECT_EQ(m.buffer_type, "L1");
  EXPECT_EQ(m.total_bytes, 414711808);
  EXPECT_EQ(m.banks, 64);
  EXPECT_EQ(m.bytes_per_bank, 6479872);
  EXPECT_FALSE(m.bank_size);
}

TEST(ReadMessages, SeedLogWithThrowInfoAndBacktraceCountsRepeats) {
  // ssinghal/test_results_yolov12x_2176x3840/test_hardtanh_results.txt, first case.
  const std::string log =
      "ssinghal/tests/test_hardtanh.py::test_hardtanh[input_shape0] 2025-08-18 19:12:51.596 | "
      "critical |          Always | Out of Memory: Not enough space to allocate 534773760 B L1 "
      "buffer across 64 banks, where each bank needs to store 8355840 B (assert.hpp:107)\n"
      "SKIPPED (OOM: [1, 3, 2176, 3840] - TT_THROW @ /home/ubuntu/work/yolov12-high-res-tests/"
      "tt-metal/tt_metal/impl/allocator/bank_manager.cpp:141: tt::exception\ninfo:\nOut of "
      "Memory: Not enough space to allocate 534773760 B L1 buffer across 64 banks, where each "
      "bank needs to store 8355840 B\nbacktrace:\n --- tt::tt_metal::BankManager::"
      "allocate_buffer(unsigned long, unsigned long, bool, CoreRangeSet const&, "
      "std::optional<unsigned int>)\n";
  auto m = one(log);
  EXPECT_EQ(m.occurrences, 2);
  EXPECT_EQ(m.line, 1);
  EXPECT_EQ(m.prefix, "critical");
  EXPECT_EQ(m.text,
            "Out of Memory: Not enough space to allocate 534773760 B L1 buffer across 64 banks, "
            "where each bank needs to store 8355840 B");
}

TEST(ReadMessages, Sep2025BankSizeOnlyIssue35431AndL1SmallTtXla1722) {
  auto m = one(
      "`Out of Memory: Not enough space to allocate 86450176 B L1 buffer across 64 banks, where "
      "each bank needs to store 1350784 B, but bank size is only 1330944 B\n`");
  EXPECT_EQ(m.words, AllocatorWords::BankSizeOnly);
  EXPECT_EQ(m.bank_size, 1330944);
  EXPECT_FALSE(m.allocated);
  auto s = one(
      "**vgg19_unet/pytorch** : `Out of Memory: Not enough space to allocate 2162688 B L1_SMALL "
      "buffer across 64 banks, where each bank needs to store 33792 B, but bank size is only "
      "32768 B`");
  EXPECT_EQ(s.buffer_type, "L1_SMALL");
  EXPECT_EQ(s.bank_size, 32768);
}

TEST(ReadMessages, Nov2025StatisticsTtMlir8044AndTtXla4040) {
  auto m =
      one("Always | TT_FATAL: Out of Memory: Not enough space to allocate 26542080 B L1 buffer "
          "across 48 banks, where each bank needs to store 552960 B, but bank size is 1329888 B "
          "(allocated: 417792 B, free: 912096 B, largest free block: 522240 B) (assert.hpp:104)");
  EXPECT_EQ(m.words, AllocatorWords::Stats);
  EXPECT_EQ(m.prefix, "TT_FATAL");
  EXPECT_EQ(m.banks, 48);
  EXPECT_EQ(m.bank_size, 1329888);
  EXPECT_EQ(m.allocated, 417792);
  EXPECT_EQ(m.free, 912096);
  EXPECT_EQ(m.largest_free_block, 522240);
  auto d = one(
      "TT_FATAL: Out of Memory: Not enough space to allocate 44493176832 B DRAM buffer across 8 "
      "banks, where each bank needs to store 5561647104 B, but bank size is 4273390016 B "
      "(allocated: 2263928320 B, free: 2009461696 B, largest free block: 2002774720 B)");
  EXPECT_EQ(d.buffer_type, "DRAM");
  EXPECT_EQ(d.total_bytes, 44493176832);
  EXPECT_EQ(d.largest_free_block, 2002774720);
}

TEST(ReadMessages, SubDeviceWordsOldAndWithPlaceableWindows) {
  // tt-metal's own allocator test expectation (bank_manager dependencies).
  auto m =
      one("Out of Memory: Not enough space after considering dependencies to allocate 1024 B DRAM "
          "across 1 banks (1024 B per bank)");
  EXPECT_EQ(m.words, AllocatorWords::SubDevice);
  EXPECT_EQ(m.buffer_type, "DRAM");
  EXPECT_EQ(m.bytes_per_bank, 1024);
  EXPECT_FALSE(m.bank_size);
  // ttnn-visualizer's fixture of the newest text.
  auto n =
      one("Out of Memory: Not enough space after considering dependencies to allocate 4096 B DRAM "
          "across 2 banks (2048 B per bank), bank size is 8192 B (allocated: 3072 B, free: 5120 B, "
          "largest free block: 3072 B). After subtracting 1 dependency range(s) and 0 additional "
          "occupied range(s), 2048 B remained placeable across 2 window(s), largest 1024 B");
  EXPECT_EQ(n.bank_size, 8192);
  EXPECT_EQ(n.largest_free_block, 3072);
  EXPECT_EQ(n.placeable, 2048);
  EXPECT_EQ(n.largest_placeable, 1024);
}

TEST(ReadMessages, CircularBuffersOldAndNewRangesWrappedLines) {
  auto a =
      one("E info: E Statically allocated circular buffers on core range [(x=0,y=0) - (x=7,y=7)] "
          "grow to 1741152 B which is beyond max L1 size of 1499136 B`");  // tt-metal#17947
  EXPECT_EQ(a.kind, OomMessage::Kind::CbBeyondL1);
  EXPECT_EQ(a.range_words, CoreRangeWords::XY);
  EXPECT_EQ(a.cores(), 64);
  EXPECT_EQ(a.cb_end, 1741152);
  EXPECT_EQ(a.l1_size, 1499136);
  auto b =
      one("TT_THROW: Statically allocated circular buffers on core range [0-0 - 10-7]\ngrow to "
          "1753856 B which is beyond max L1 size of 1572864 B\n(assert.hpp:104)");  // #46608
  EXPECT_EQ(b.range_words, CoreRangeWords::Dash);
  EXPECT_EQ(b.range, (std::vector<CoreRect>{{0, 0, 10, 7}}));
  EXPECT_EQ(b.cb_end, 1753856);
  EXPECT_EQ(b.text,
            "Statically allocated circular buffers on core range [0-0 - 10-7] grow to 1753856 B "
            "which is beyond max L1 size of 1572864 B");
  auto c = one(
      "Statically allocated circular buffers in program 453 clash with L1 buffers on core range "
      "[(x=0,y=0) - (x=4,y=0)]. L1 buffer allocated at 622592 and static circular buffer region "
      "ends at 654368");  // tt-xla#522
  EXPECT_EQ(c.kind, OomMessage::Kind::CbClash);
  EXPECT_EQ(c.program_id, 453);
  EXPECT_EQ(c.cores(), 5);
  EXPECT_EQ(c.l1_buffer_address, 622592);
  EXPECT_EQ(c.cb_end, 654368);
  auto d = one(
      "TT_THROW: Statically allocated circular buffers in program 2282 clash with L1 buffers\non "
      "core range [0-0 - 10-9]. L1 buffer allocated at 1563072 and static circular buffer\n"
      "region ends at 1563264");  // tt-metal#54876
  EXPECT_EQ(d.cores(), 110);
  EXPECT_EQ(d.cb_end - d.l1_buffer_address, 192);
}

TEST(ReadMessages, SeveralInOneLogAndThousandsSeparators) {
  auto v = find_oom_messages(
      "vllm_ministral_8b\n`Out of Memory: Not enough space to allocate 1073741824 B DRAM buffer "
      "across 12 banks, where each bank needs to store 89479168 B, but bank size is 1070773184 B "
      "(allocated: 1003628544 B, free: 67144640 B, largest free block: 67140352 B)`\n\n"
      "vllm_qwen3_8b\n`Out of Memory: Not enough space to allocate 1244659712 B DRAM buffer "
      "across 12 banks, where each bank needs to store 103723008 B, but bank size is 1070773184 "
      "B (allocated: 1054848640 B, free: 15924544 B, largest free block: 15475264 B)`\n"
      "and: Statically allocated circular buffers on core range [0-0 - 7-9] grow to 17,187,328 B "
      "which is beyond max L1 size of 1,572,864 B\n");  // tt-xla#5535; a report quoting a CB
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].line, 2);
  EXPECT_EQ(v[1].line, 5);
  EXPECT_EQ(v[1].total_bytes, 1244659712);
  EXPECT_EQ(v[2].cb_end, 17187328);
  EXPECT_EQ(v[2].l1_size, 1572864);
}

TEST(ReadMessages, TextThatIsNotAnOomMessageGivesNothing) {
  for (std::string t : std::vector<std::string>{
           "", "hello", "Out of Memory", "Out of Memory: Not enough space to allocate",
           "Out of Memory: Not enough space to allocate 5468979200 B DRAM buffer across 12 banks, "
           "where each bank needs to stor",
           "Statically allocated circular buffers on core range grow to 12 B",
           "Statically allocated circular buffers in program x clash",
           "Out of Memory: Not enough space to allocate 99999999999999999999999 B L1 buffer across "
           "1 "
           "banks, where each bank needs to store 1 B",
           std::string(5000, '[') + "Statically allocated circular buffers on core range "})
    EXPECT_TRUE(find_oom_messages(t).empty()) << t;
}

TEST(ReadMessages, MangledMessagesNeverCrashAndNeverReadNegativeNumbers) {
  const std::vector<std::string> seeds = {
      "TT_FATAL: Out of Memory: Not enough space to allocate 26542080 B L1 buffer across 48 "
      "banks, where each bank needs to store 552960 B, but bank size is 1329888 B (allocated: "
      "417792 B, free: 912096 B, largest free block: 522240 B) (assert.hpp:104)",
      "Out of Memory: Not enough space after considering dependencies to allocate 4096 B DRAM "
      "across 2 banks (2048 B per bank), bank size is 8192 B (allocated: 3072 B, free: 5120 B, "
      "largest free block: 3072 B). After subtracting 1 dependency range(s) and 0 additional "
      "occupied range(s), 2048 B remained placeable across 2 window(s), largest 1024 B",
      "Statically allocated circular buffers in program 453 clash with L1 buffers on core range "
      "[(x=0,y=0) - (x=4,y=0)]. L1 buffer allocated at 622592 and static circular buffer region "
      "ends at 654368",
      "Statically allocated circular buffers on core range {[0-0 - 7-6], [0-7 - 3-7]} grow to "
      "1753856 B which is beyond max L1 size of 1572864 B"};
  std::mt19937_64 rng(3);
  const std::string alphabet = "0123456789 ,.()[]-x=y\nBE:";
  int read = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string t = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !t.empty(); ++k) {
      size_t at = rng() % t.size();
      switch (rng() % 4) {
        case 0:
          t.erase(at, 1 + rng() % 8);
          break;
        case 1:
          t.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          t[at] = alphabet[rng() % alphabet.size()];
          break;
        default:
          t.resize(at);
      }
    }
    for (const auto& m : find_oom_messages(t)) {
      ++read;
      EXPECT_GE(m.total_bytes, 0);
      EXPECT_GE(m.banks, 0);
      EXPECT_GE(m.bytes_per_bank, 0);
      EXPECT_GE(m.cb_end, 0);
      for (const auto& r : m.range) EXPECT_GE(r.cores(), 0) << t;
    }
  }
  EXPECT_GT(read, 1000);  // most edits leave a readable message
}
