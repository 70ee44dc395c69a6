// `oomless explain` on real messages from public tt-metal/tt-xla/tt-mlir issues of
// every format, and the round trip: oomless's own message, explained, names the
// page size and page count that failed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <random>

#include "explain/explain.hpp"

using namespace oomless;
using device::OomMessage;

namespace {

explain::Explanation ex(const std::string& text, explain::Options o = {}) {
  auto v = device::find_oom_messages(text);
  EXPECT_EQ(v.size(), 1u) << text;
  return explain::explain(v.at(0), o);
}

bool has_page(const explain::Explanation& e, int64_t page_size, int64_t pages,
              std::string_view layout = "", std::string_view dtype = "") {
  for (const auto& c : e.pages)
    if (c.page_size == page_size && c.pages == pages && (layout.empty() || c.layout == layout) &&
        (dtype.empty() || c.dtype == dtype))
      return true;
  return false;
}

std::vector<std::string> matching(const explain::Explanation& e, bool possible = false) {
  std::vector<std::string> v;
  for (const auto& d : e.devices)
    if (possible ? d.possible : d.matches) v.push_back(d.name);
  return v;
}

const explain::DeviceMatch& dev(const explain::Explanation& e, std::string_view name) {
  for (const auto& d : e.devices)
    if (d.name == name) return d;
  throw std::runtime_error("no device " + std::string(name));
}

}  // namespace

TEST(Explain, Mid2025Issue22513IsBf16TilesOnA64BankWormhole) {
  auto e =
      ex("Out of Memory: Not enough space to allocate 414711808 B L1 buffer across 64 banks, where "
         "each bank needs to store 6479872 B");
  // add on bf16 (1,256,3,25281): 202496 tiles, 3164 per bank.
  ASSERT_FALSE(e.pages.empty());
  EXPECT_EQ(e.pages[0].page_size, 2048);
  EXPECT_EQ(e.pages[0].pages, 202496);
  EXPECT_EQ(e.pages[0].dtype, "bfloat16");
  EXPECT_EQ(e.pages[0].pages_per_bank, 3164);
  EXPECT_EQ(matching(e),
            (std::vector<std::string>{"wormhole_b0", "wormhole_b0_l1small", "wormhole_b0_tt_xla"}));
  EXPECT_EQ(e.fragmentation, false);  // 6479872 B > a whole 1400032 B bank
  ASSERT_FALSE(e.advice.empty());
  EXPECT_NE(e.advice[0].find("more than a whole empty L1 bank (1400032 B)"), std::string::npos);
  EXPECT_NE(e.advice[1].find("in DRAM"), std::string::npos) << e.advice[1];
}

TEST(Explain, Mid2025On56BanksIsAnN300ChipTtMetal24944) {
  auto e =
      ex("Out of Memory: Not enough space to allocate 7375872 B L1 buffer across 56 banks, where "
         "each bank needs to store 131712 B");
  EXPECT_EQ(matching(e), (std::vector<std::string>{"wormhole_b0_56", "wormhole_n300"}));
  // max_pool2d's row-major output: sticks of 64 bf16 channels, 1029 per bank.
  EXPECT_TRUE(has_page(e, 128, 57624, "ROW_MAJOR", "bfloat16"));
  EXPECT_FALSE(e.fragmentation);  // no statistics, and it fits an empty bank
}

TEST(Explain, Sep2025BankSizeRevealsL1SmallTtMetal35431) {
  auto e =
      ex("Out of Memory: Not enough space to allocate 86450176 B L1 buffer across 64 banks, where "
         "each bank needs to store 1350784 B, but bank size is only 1330944 B");
  // 1499136 - 1330944 = 168192 = 65536 of L1_SMALL + a 102656 B base.
  EXPECT_EQ(e.l1_small_size, 65536);
  EXPECT_EQ(dev(e, "wormhole_b0").unreserved_base, 102656);
  EXPECT_TRUE(dev(e, "wormhole_b0").round);
  EXPECT_EQ(e.fragmentation, false);
  EXPECT_GT(e.pages_total, 0);
}

// tt-xla#2733 (MapTR's max_pool2d; the sanity run's line ends in a space) and
// the tt-metal ticket it filed, #35261, on another l1_small_size.
TEST(Explain, Sep2025MaxPoolSticksTtXla2733AndTtMetal35261) {
  auto e =
      ex("Out of Memory: Not enough space to allocate 86450176 B L1 buffer across 64 banks, where "
         "each bank needs to store 1350784 B, but bank size is only 1330944 B ");
  EXPECT_EQ(e.message.words, device::AllocatorWords::BankSizeOnly);
  EXPECT_EQ((std::array{e.message.total_bytes, e.message.banks, e.message.bytes_per_bank}),
            (std::array<int64_t, 3>{86450176, 64, 1350784}));
  EXPECT_EQ(e.message.bank_size, 1330944);
  // Row-major sticks of 64 bf16 channels: 675392 of them, 10553 per bank.
  EXPECT_TRUE(has_page(e, 128, 675392, "ROW_MAJOR", "bfloat16"));
  EXPECT_EQ(e.l1_small_size, 65536);
  EXPECT_EQ(e.fragmentation, false);  // more than the whole bank
  auto t =
      ex("Out of Memory: Not enough space to allocate 86450176 B L1 buffer across 64 banks, where "
         "each bank needs to store 1350784 B, but bank size is only 1363712 B");
  // 1499136 - 1363712 = 135424 = 32768 of L1_SMALL + the same 102656 B base.
  EXPECT_EQ(t.l1_small_size, 32768);
  EXPECT_EQ(dev(t, "wormhole_b0").unreserved_base, 102656);
  // 1350784 B fit an empty 1363712 B bank: live buffers held the rest, and
  // without statistics it cannot say whether that is fragmentation.
  EXPECT_FALSE(t.fragmentation.has_value());
  EXPECT_NE(t.advice.at(0).find("other live buffers hold more than 12928 B"), std::string::npos);
}

TEST(Explain, Nov2025EmptyBankTtXla3050AndDramFragmentationTtForge855) {
  auto e =
      ex("Out of Memory: Not enough space to allocate 285081600 B L1 buffer across 64 banks, where "
         "each bank needs to store 4454400 B, but bank size is 1330048 B (allocated: 0 B, free: "
         "1330048 B, largest free block: 1330048 B)");
  EXPECT_EQ(e.message.words, device::AllocatorWords::Stats);
  EXPECT_EQ(e.message.allocated, 0);
  EXPECT_EQ(e.fragmentation, false);
  EXPECT_EQ(e.l1_small_size, 65536);  // 169088 = 65536 + a 103552 B base
  EXPECT_TRUE(has_page(e, 2048, 139200, "TILE", "bfloat16"));
  auto d = ex(
      "| critical |          Always | TT_FATAL: Out of Memory: Not enough space to allocate "
      "1050673152 B DRAM buffer across 12 banks, where each bank needs to store 87556096 B, but "
      "bank size is 1073741792 B (allocated: 943941568 B, free: 129800224 B, largest free block: "
      "34201600 B)");
  EXPECT_EQ(d.message.buffer_type, "DRAM");
  EXPECT_EQ(d.fragmentation, true);  // 129800224 >= 87556096 > 34201600
  EXPECT_EQ(dev(d, "wormhole_b0").trace_region_size, 0);
  EXPECT_TRUE(dev(d, "wormhole_b0").matches);
}

TEST(Explain, L1SmallOfConvolutionsTtMlir5768AndTtMetal21246) {
  // conv_transpose2d's config tensor: one page per core; 19808 B fit a 65536 B
  // L1_SMALL bank, so other config tensors already held it.
  auto e =
      ex("Out of Memory: Not enough space to allocate 1267712 B L1_SMALL buffer across 64 banks, "
         "where each bank needs to store 19808 B, but bank size is only 65536 B ");
  EXPECT_EQ(e.message.buffer_type, "L1_SMALL");
  EXPECT_EQ(e.l1_small_size, 65536);
  EXPECT_TRUE(has_page(e, 19808, 64));
  bool says = false;
  for (const auto& a : e.advice) says |= a.find("l1_small_size") != std::string::npos;
  EXPECT_TRUE(says);
  auto m =
      ex("Out of Memory: Not enough space to allocate 12544 B L1_SMALL buffer across 16 banks, "
         "where each bank needs to store 784 B");
  EXPECT_TRUE(has_page(m, 784, 16));
  // A device opened without L1_SMALL says its bank is 0 B (tt-xla, Oct 2025 words).
  auto z =
      ex("Out of Memory: Not enough space to allocate 12544 B L1_SMALL buffer across 16 banks, "
         "where each bank needs to store 784 B, but bank size is only 0 B");
  EXPECT_EQ(z.l1_small_size, 0);
  EXPECT_EQ(z.fragmentation, false);
  EXPECT_TRUE(matching(m).empty());  // 16 cores: a shard grid, not a device
  EXPECT_TRUE(dev(m, "wormhole_b0").possible);
}

TEST(Explain, BlackholeShardGridTtMlir5343) {
  auto e =
      ex("RuntimeError: TT_FATAL @ /__w/tt-xla/tt-xla/third_party/tt-mlir/src/tt-mlir/third_party/"
         "tt-metal/src/tt-metal/tt_metal/impl/allocator/bank_manager.cpp:433: address.has_value()\n"
         "info:\nOut of Memory: Not enough space to allocate 12943360 B L1 buffer across 20 banks, "
         "where each bank needs to store 647168 B, but bank size is only 1437056 B");
  EXPECT_EQ(e.message.banks, 20);
  EXPECT_TRUE(dev(e, "blackhole_p150").possible);
  EXPECT_FALSE(dev(e, "wormhole_b0").possible);  // 1437056 B is more than a Wormhole bank
  EXPECT_TRUE(has_page(e, 2048, 6320, "TILE", "bfloat16"));
  EXPECT_EQ(e.l1_small_size, 24576);  // 1572864 - 1437056 = 24576 + a 111232 B base
}

TEST(Explain, ClashesOfConvolutionAndDashRangesTtXla4202And5206) {
  auto a =
      ex("Statically allocated circular buffers in program 254 clash with L1 buffers on core range "
         "[(x=0,y=0) - (x=7,y=5)]. L1 buffer allocated at 660992 and static circular buffer region "
         "ends at 1087328");
  EXPECT_EQ(a.message.kind, OomMessage::Kind::CbClash);
  EXPECT_EQ(a.clash_bytes, 1087328 - 660992);
  EXPECT_TRUE(dev(a, "wormhole_b0").matches);
  EXPECT_FALSE(dev(a, "wormhole_b0").whole_grid);  // 8x6 of an 8x8 grid: a conv's shard grid
  auto b = ex(
      "TT_THROW: Statically allocated circular buffers in program 350188 clash with L1 buffers\n"
      "on core range [0-0 - 7-7]. L1 buffer allocated at 104448 and static circular buffer region "
      "ends at 107936");
  EXPECT_EQ(b.clash_bytes, 3488);
  EXPECT_TRUE(dev(b, "wormhole_b0").whole_grid);
}

TEST(Explain, L1SmallBankIsTheL1SmallSizeTtXla1722) {
  auto e =
      ex("Out of Memory: Not enough space to allocate 2162688 B L1_SMALL buffer across 64 banks, "
         "where each bank needs to store 33792 B, but bank size is only 32768 B");
  EXPECT_EQ(e.l1_small_size, 32768);
  bool says = false;
  for (const auto& a : e.advice) says |= a.find("l1_small_size") != std::string::npos;
  EXPECT_TRUE(says);
}

TEST(Explain, Nov2025FragmentationOnA48CoreGridTtMlir8044) {
  auto e =
      ex("TT_FATAL: Out of Memory: Not enough space to allocate 26542080 B L1 buffer across 48 "
         "banks, where each bank needs to store 552960 B, but bank size is 1329888 B (allocated: "
         "417792 B, free: 912096 B, largest free block: 522240 B) (assert.hpp:104)");
  EXPECT_EQ(e.fragmentation, true);  // 912096 >= 552960 > 522240
  EXPECT_TRUE(has_page(e, 2048, 12960, "TILE", "bfloat16"));
  EXPECT_TRUE(matching(e).empty());
  EXPECT_EQ(dev(e, "wormhole_b0").possible, true);
  // 1499136 - 1329888 = 169248: 64 KiB of L1_SMALL over a 103712 B base.
  EXPECT_EQ(e.l1_small_size, 65536);
  EXPECT_NE(e.advice[0].find("largest free block is 522240 B"), std::string::npos);
}

TEST(Explain, Nov2025NotFragmentedTtXla4128) {
  auto e =
      ex("TT_FATAL: Out of Memory: Not enough space to allocate 55705600 B L1 buffer across 64 "
         "banks, where each bank needs to store 870400 B, but bank size is 1329888 B (allocated: "
         "870400 B, free: 459488 B, largest free block: 459488 B)");
  EXPECT_EQ(e.fragmentation, false);
  EXPECT_TRUE(has_page(e, 2048, 27200, "TILE", "bfloat16"));
  EXPECT_EQ(e.devices.at(0).name, "wormhole_b0_tt_xla");  // its own bank size first
  EXPECT_NE(e.advice[0].find("Other live buffers hold 870400 B per bank"), std::string::npos);
}

TEST(Explain, DramOnBlackholeImpliesTheTraceRegionTtXla4040) {
  auto e =
      ex("TT_FATAL: Out of Memory: Not enough space to allocate 44493176832 B DRAM buffer across 8 "
         "banks, where each bank needs to store 5561647104 B, but bank size is 4273390016 B "
         "(allocated: 2263928320 B, free: 2009461696 B, largest free block: 2002774720 B)");
  EXPECT_EQ(matching(e), (std::vector<std::string>{"blackhole_p150", "blackhole_p150_130"}));
  EXPECT_EQ(dev(e, "blackhole_p150").trace_region_size, 4800000);
  EXPECT_FALSE(dev(e, "grayskull_e150").matches);  // 8 banks, but of 1 GiB
  EXPECT_EQ(e.fragmentation, false);
  // 64 B DRAM alignment: bf16 tiles, 2715648 per bank.
  EXPECT_TRUE(has_page(e, 2048, 21725184, "TILE", "bfloat16"));
}

TEST(Explain, DramFragmentationTtXla4130) {
  auto e = ex(
      "Out of Memory: Not enough space to allocate 58720256 B DRAM buffer across 12 banks, where "
      "each bank needs to store 4894720 B, but bank size is 1071821792 B (allocated: 888424448 B, "
      "free: 183397344 B, largest free block: 3382944 B)");
  EXPECT_EQ(e.fragmentation, true);
  EXPECT_EQ(dev(e, "wormhole_b0").trace_region_size, 1920000);
}

TEST(Explain, SubDeviceWordsWithPlaceableWindows) {
  auto e =
      ex("Out of Memory: Not enough space after considering dependencies to allocate 4096 B DRAM "
         "across 2 banks (2048 B per bank), bank size is 8192 B (allocated: 3072 B, free: 5120 B, "
         "largest free block: 3072 B). After subtracting 1 dependency range(s) and 0 additional "
         "occupied range(s), 2048 B remained placeable across 2 window(s), largest 1024 B");
  EXPECT_EQ(e.fragmentation, true);  // placeable 2048 >= 2048 > largest window 1024
  auto old =
      ex("Out of Memory: Not enough space after considering dependencies to allocate 1024 B DRAM "
         "across 1 banks (1024 B per bank)");
  EXPECT_TRUE(matching(old).empty());
  EXPECT_TRUE(has_page(old, 1024, 1));
}

TEST(Explain, CircularBuffersBeyondL1OldAndNewRanges) {
  auto a =
      ex("Statically allocated circular buffers on core range [(x=0,y=0) - (x=7,y=7)] grow to "
         "1741152 B which is beyond max L1 size of 1499136 B");  // tt-metal#17947
  EXPECT_EQ(a.cb_overflow_bytes, 1741152 - 1499136);
  EXPECT_EQ(dev(a, "wormhole_b0").cb_region_bytes, 1741152 - 99104);
  EXPECT_TRUE(dev(a, "wormhole_b0").matches);
  EXPECT_FALSE(dev(a, "wormhole_b0_56").matches);  // y=7 is outside an 8x7 grid
  auto b =
      ex("Statically allocated circular buffers on core range [(x=0,y=0) - (x=12,y=9)] grow to "
         "2101768 B which is beyond max L1 size of 1572864 B");  // tt-xla#1066: 130 cores
  EXPECT_EQ(matching(b), (std::vector<std::string>{"blackhole_p150_130"}));
  auto c =
      ex("TT_THROW: Statically allocated circular buffers on core range [0-0 - 10-7]\ngrow to "
         "1753856 B which is beyond max L1 size of 1572864 B\n(assert.hpp:104)");  // #46608
  EXPECT_EQ(c.cb_overflow_bytes, 180992);
  EXPECT_EQ(matching(c), (std::vector<std::string>{"blackhole_p150", "blackhole_p150_130"}));
}

TEST(Explain, CircularBufferClashGivesTheOverlap) {
  auto a =
      ex("Statically allocated circular buffers in program 453 clash with L1 buffers on core range "
         "[(x=0,y=0) - (x=4,y=0)]. L1 buffer allocated at 622592 and static circular buffer region "
         "ends at 654368");  // tt-xla#522
  EXPECT_EQ(a.clash_bytes, 31776);
  auto b = ex(
      "Statically allocated circular buffers in program 2282 clash with L1 buffers on core range "
      "[0-0 - 10-9]. L1 buffer allocated at 1563072 and static circular buffer region ends at "
      "1563264");  // tt-metal#54876
  EXPECT_EQ(b.clash_bytes, 192);
  EXPECT_EQ(dev(b, "blackhole_p150").why, "its whole 11x10 grid");
}

TEST(Explain, RendersInAnotherVersionsWordsWhenTheNumbersAllow) {
  explain::Options o;
  o.render_as = device::parse_message_format("sep-2025");
  auto e = ex(
      "Out of Memory: Not enough space to allocate 26542080 B L1 buffer across 48 banks, where "
      "each bank needs to store 552960 B, but bank size is 1329888 B (allocated: 417792 B, free: "
      "912096 B, largest free block: 522240 B)",
      o);
  EXPECT_EQ(e.rendered,
            "Out of Memory: Not enough space to allocate 26542080 B L1 buffer across 48 banks, "
            "where each bank needs to store 552960 B, but bank size is only 1329888 B");
  o.render_as = device::parse_message_format("nov-2025");
  auto old =
      ex("Out of Memory: Not enough space to allocate 414711808 B L1 buffer across 64 banks, where "
         "each bank needs to store 6479872 B",
         o);
  EXPECT_TRUE(old.render_failed);  // mid-2025 words carry no statistics
}

TEST(Explain, WithTheCallItPlansAndReproducesTheMessage) {
  explain::Options o;
  plan::CallSpec c;
  c.op = &ops::find_op("hardtanh");
  c.inputs = {{{1, 136, 120, 1152}, DType::BF16}};
  c.args = ops::parse_args("hardtanh", c.op->args, {});
  o.call = c;
  o.render_as = device::parse_message_format("nov-2025");
  auto e =
      ex("Out of Memory: Not enough space to allocate 40108032 B L1 buffer across 64 banks, where "
         "each bank needs to store 626688 B",
         o);
  ASSERT_TRUE(e.plan);
  EXPECT_EQ((*e.plan)["device"], "wormhole_b0");
  EXPECT_EQ((*e.plan)["reproduces_message"], true);
  EXPECT_EQ((*e.plan)["plan"]["strategy"], "re-placed");
  // The call gives the statistics the mid-2025 words left out: x and a_max live.
  EXPECT_EQ(e.rendered,
            "Out of Memory: Not enough space to allocate 40108032 B L1 buffer across 64 banks, "
            "where each bank needs to store 626688 B, but bank size is 1400032 B (allocated: "
            "1253376 B, free: 146656 B, largest free block: 146656 B)");
}

// The round trip: random calls on random devices in random words. Whenever the
// pre-check fails in the allocator, its message read back names the failing
// buffer's page size and page count among the candidates, and the device.
TEST(Explain, RoundTripOwnMessagesNameTheirPages) {
  std::mt19937_64 rng(17);
  auto pick = [&](auto const& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> devices = device::builtin_profile_names();
  const std::vector<std::string> formats = {"mid-2025", "sep-2025", "nov-2025", "2026",
                                            "sub-device"};
  const std::vector<std::string> ops = {"relu", "add",     "hardtanh", "clampmin",
                                        "mul",  "softmax", "cat"};
  int allocator_failures = 0, cb_failures = 0;
  for (int iter = 0; iter < 400; ++iter) {
    device::Profile p =
        device::with_message_format(device::load_profile(pick(devices)), pick(formats));
    plan::CallSpec c;
    c.op = &ops::find_op(pick(ops));
    c.layout = rng() % 3 == 0 ? Layout::RowMajor : Layout::Tile;
    c.dtype = c.layout == Layout::Tile && rng() % 4 == 0 ? DType::BFP8_B
              : rng() % 2                                ? DType::F32
                                                         : DType::BF16;
    c.in_memory = rng() % 5 == 0 ? device::BufferType::DRAM : device::BufferType::L1;
    // Sizes around the L1 capacity (and beyond DRAM's now and then).
    const int64_t h = 1 + static_cast<int64_t>(rng() % 3000);
    const int64_t w = 1 + static_cast<int64_t>(rng() % 2000);
    const int64_t ch = 1 + static_cast<int64_t>(rng() % 700);
    Shape s = {1, h, w, ch};
    if (c.in_memory == device::BufferType::DRAM) s[0] = 1 + static_cast<int64_t>(rng() % 64);
    std::vector<std::string> args;
    if (c.op->name == "clampmin") args = {"min=0.5"};
    if (c.op->name == "softmax") {
      args = {"dim=-1"};  // whole rows in CBs: long rows overflow L1
      s = {1, 1, 32, 1 + static_cast<int64_t>(rng() % 400000)};
    }
    if (c.op->name == "cat") args = {"dim=1"};
    c.args = ops::parse_args(c.op->name, c.op->args, args);
    const int n = c.op->min_inputs;
    for (int i = 0; i < n; ++i) c.inputs.push_back({s, c.dtype});
    plan::QueryResult r = plan::precheck(c, p);
    if (r.fits) continue;
    auto found = device::find_oom_messages(r.error);
    ASSERT_EQ(found.size(), 1u) << r.error;
    const OomMessage& m = found[0];
    // Read back in the words it was written in.
    ASSERT_EQ(device::render(m, p.message_format).value_or(""), r.error);
    explain::Options o;
    o.devices = {p};
    o.max_pages = 1u << 20;
    auto e = explain::explain(m, o);
    EXPECT_TRUE(e.devices.at(0).matches) << r.error << " on " << p.name;
    if (m.kind != OomMessage::Kind::Allocator) {
      ++cb_failures;
      EXPECT_EQ(m.range, (std::vector<device::CoreRect>{{0, 0, p.grid_x - 1, p.grid_y - 1}}));
      continue;
    }
    ++allocator_failures;
    const plan::AllocationRecord* failed = nullptr;
    for (const auto& a : r.allocations)
      if (!a.fits && !a.is_view) failed = &a;
    ASSERT_TRUE(failed) << r.error;
    EXPECT_TRUE(has_page(e, failed->page_size, failed->pages))
        << r.error << " on " << p.name << ": " << failed->pages << " pages of " << failed->page_size
        << " B (" << failed->what << ")";
    // The bank size read back gives the device's own l1_small_size.
    if (m.bank_size && m.buffer_type != "DRAM") {
      EXPECT_EQ(e.l1_small_size.value_or(-1), p.l1_small_size) << r.error << " on " << p.name;
    }
  }
  EXPECT_GT(allocator_failures, 100);
  EXPECT_GT(cb_failures, 3);
}

// The round trip for convolution, whose failures are of every kind: L1_SMALL
// config tensors (a device opened without l1_small_size fails on the first),
// sharded halo and conv outputs on a shard grid, and CBs on part of the grid.
TEST(Explain, RoundTripConvolutionMessages) {
  std::mt19937_64 rng(35223);
  auto pick = [&](auto const& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> devices = device::builtin_profile_names();
  const std::vector<std::string> formats = {"mid-2025", "sep-2025", "nov-2025", "2026",
                                            "sub-device"};
  int l1_small = 0, sharded = 0, cbs = 0;
  for (int iter = 0; iter < 160; ++iter) {
    device::Profile p =
        device::with_message_format(device::load_profile(pick(devices)), pick(formats));
    plan::CallSpec c;
    c.op = &ops::find_op("convolution");
    c.layout = Layout::Tile;
    c.dtype = DType::BF16;
    c.in_memory = rng() % 6 == 0 ? device::BufferType::DRAM : device::BufferType::L1;
    const int64_t ch = pick(std::vector<int64_t>{3, 16, 32, 64, 96, 128, 256, 512});
    const int64_t k = pick(std::vector<int64_t>{16, 32, 64, 128, 256, 512, 1024});
    const int64_t kh = pick(std::vector<int64_t>{1, 3, 3, 5, 7});
    const int64_t h = 8 + static_cast<int64_t>(rng() % 700),
                  w = 8 + static_cast<int64_t>(rng() % 700);
    c.inputs = {{{1, ch, h, w}, c.dtype}, {{k, ch, kh, kh}, c.dtype}};
    c.args = ops::parse_args(c.op->name, c.op->args,
                             {fmt::format("padding={}", kh / 2),
                              fmt::format("stride={}", 1 + static_cast<int>(rng() % 2))});
    plan::QueryResult r = plan::precheck(c, p);
    if (r.fits || r.error.empty()) continue;
    auto found = device::find_oom_messages(r.error);
    ASSERT_EQ(found.size(), 1u) << r.error;
    const OomMessage& m = found[0];
    ASSERT_EQ(device::render(m, p.message_format).value_or(""), r.error);
    explain::Options o;
    o.devices = {p};
    o.max_pages = 1u << 20;
    auto e = explain::explain(m, o);
    const explain::DeviceMatch& d = e.devices.at(0);
    EXPECT_TRUE(d.matches || d.possible) << r.error << " on " << p.name;
    if (m.kind != OomMessage::Kind::Allocator) {
      ++cbs;
      EXPECT_TRUE(d.matches) << r.error << " on " << p.name;  // a range inside its grid
      if (m.kind == OomMessage::Kind::CbBeyondL1) {
        EXPECT_GT(e.cb_overflow_bytes.value_or(0), 0);
      } else {
        EXPECT_GT(e.clash_bytes.value_or(0), 0);
      }
      continue;
    }
    const plan::AllocationRecord* failed = nullptr;
    for (const auto& a : r.allocations)
      if (!a.fits && !a.is_view && !a.is_free && !a.on_host) failed = &a;
    ASSERT_TRUE(failed) << r.error;
    if (m.bank_size && m.buffer_type != "DRAM") {  // it gives the device's own l1_small_size
      EXPECT_EQ(e.l1_small_size.value_or(-1), p.l1_small_size) << r.error << " on " << p.name;
    }
    if (failed->buffer_type == device::BufferType::L1_SMALL) {
      ++l1_small;
    } else if (failed->layout != device::MemoryLayout::Interleaved) {
      ++sharded;
    }
    EXPECT_TRUE(has_page(e, failed->page_size, failed->pages))
        << r.error << " on " << p.name << ": " << failed->pages << " pages of " << failed->page_size
        << " B (" << failed->what << ")";
  }
  EXPECT_GT(l1_small, 5);
  EXPECT_GT(sharded, 5);
  EXPECT_GT(cbs, 0);
}
