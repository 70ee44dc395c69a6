// Bank allocator and device model against hand-computed tt-metal behaviour.
#include <gtest/gtest.h>

#include "device/device.hpp"

using namespace oomless;
using namespace oomless::device;

namespace {

Profile tiny(int64_t l1_banks = 4, int64_t l1_size = 4096, int64_t base = 1024) {
  Profile p;
  p.name = "tiny";
  p.grid_x = l1_banks;
  p.grid_y = 1;
  p.l1_banks = l1_banks;
  p.l1_size = l1_size;
  p.l1_unreserved_base = base;
  p.l1_alignment = 16;
  p.dram_banks = 2;
  p.dram_bank_size = 8192;
  p.dram_unreserved_base = 32;
  p.dram_alignment = 32;
  return p;
}

}  // namespace

TEST(BankManager, TopDownPlacesAtTheTopAndCoalesces) {
  BankManager bm(4, 1000, 2000, 16, /*top_down=*/true);
  auto a = bm.allocate(100);  // rounds to 112
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (2000 - 112) / 16 * 16);
  auto b = bm.allocate(200);  // 208, directly below a
  ASSERT_TRUE(b);
  EXPECT_EQ(*b + 208, *a);
  EXPECT_EQ(bm.stats().allocated, 320);
  bm.deallocate(*a);
  bm.deallocate(*b);
  BankStats s = bm.stats();
  EXPECT_EQ(s.allocated, 0);
  EXPECT_EQ(s.largest_free_block, 1000);  // coalesced back to one block
  EXPECT_EQ(s.peak_allocated, 320);
}

TEST(BankManager, BottomUpFirstFitAndFragmentation) {
  BankManager bm(2, 0, 1024, 32, /*top_down=*/false);
  auto a = bm.allocate(256), b = bm.allocate(256), c = bm.allocate(256);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, 0);
  EXPECT_EQ(*b, 256);
  EXPECT_EQ(*c, 512);
  bm.deallocate(*b);
  // 512 B free in total (256 + 256) but no single block of 384 B: fragmentation.
  EXPECT_EQ(bm.stats().free, 512);
  EXPECT_EQ(bm.stats().largest_free_block, 256);
  EXPECT_FALSE(bm.allocate(384));
  auto d = bm.allocate(200);  // first fit: the hole at 256
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, 256);
  EXPECT_THROW(bm.deallocate(12345), Error);
}

TEST(Device, InterleavedFootprintIsLockStepCeilPages) {
  Device dev(tiny(), false);
  // 10 pages of 100 B over 4 banks: ceil(10/4) = 3 pages of round_up(100,16) = 112.
  Footprint f = dev.footprint(BufferType::L1, MemoryLayout::Interleaved, 10, 100);
  EXPECT_EQ(f.pages_per_bank, 3);
  EXPECT_EQ(f.aligned_page, 112);
  EXPECT_EQ(f.bytes_per_bank, 336);
  EXPECT_EQ(f.total_bytes(), 1000);
  Footprint d = dev.footprint(BufferType::DRAM, MemoryLayout::Interleaved, 10, 100);
  EXPECT_EQ(d.banks, 2);
  EXPECT_EQ(d.bytes_per_bank, 5 * 128);
  Footprint s = dev.footprint(BufferType::L1, MemoryLayout::HeightSharded, 10, 100, 4);
  EXPECT_EQ(s.banks, 3);
  EXPECT_EQ(s.bytes_per_bank, 4 * 112);
}

TEST(Device, OutOfMemoryMessageIsTtMetals) {
  Device dev(load_profile("wormhole_b0"), false);
  // bf16 [1,256,3,25281] in TILE: 202496 tiles of 2048 B (tt-metal#22513).
  try {
    dev.allocate(BufferType::L1, 202496, 2048);
    FAIL() << "expected OutOfMemory";
  } catch (const OutOfMemory& e) {
    EXPECT_STREQ(
        e.what(),
        "Out of Memory: Not enough space to allocate 414711808 B L1 buffer across 64 banks, "
        "where each bank needs to store 6479872 B");
    EXPECT_EQ(e.bank_size, 1400032);
    EXPECT_EQ(e.free, 1400032);
    EXPECT_EQ(e.largest_free_block, 1400032);
    EXPECT_EQ(e.detail(),
              std::string(e.what()) +
                  ", but bank size is 1400032 B (allocated: 0 B, free: 1400032 B, largest free "
                  "block: 1400032 B)");
  }
}

TEST(Device, LiveBuffersLowerTheRoomForTheNext) {
  Device dev(tiny(), false);                           // L1 bank: [1024, 4096) = 3072 B
  auto a = dev.allocate(BufferType::L1, 4 * 100, 16);  // 100 pages per bank = 1600 B
  EXPECT_EQ(a->address(), 4096 - 1600);
  EXPECT_THROW(dev.allocate(BufferType::L1, 4 * 100, 16), OutOfMemory);
  a.reset();  // freed by the handle
  EXPECT_EQ(dev.stats(BufferType::L1).allocated, 0);
  auto b = dev.allocate(BufferType::L1, 4 * 100, 16);
  EXPECT_EQ(b->address(), 4096 - 1600);
  EXPECT_EQ(dev.stats(BufferType::L1).peak_allocated, 1600);
}

TEST(Device, CircularBuffersClashWithLowestL1Buffer) {
  Device dev(tiny(), false);
  auto a = dev.allocate(BufferType::L1, 4 * 100, 16);  // at 2496
  // CBs start at the unreserved base 1024; each start aligned to 32 (DRAM).
  CbRegion r = dev.allocate_cbs({1000, 100});
  EXPECT_EQ(r.start, 1024);
  EXPECT_EQ(r.end, 1024 + 1024 + 100);  // 1000 -> next start 2048 (aligned), + 100
  EXPECT_EQ(dev.peak_l1_per_core(), 1600 + 1124);
  dev.release_cbs();
  try {
    dev.allocate_cbs({1500});
    FAIL() << "expected a clash";
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.kind, OutOfMemory::Kind::CbClash);
    EXPECT_EQ(std::string(e.what()),
              "Statically allocated circular buffers in program 1 clash with L1 buffers on core "
              "range [(x=0,y=0) - (x=3,y=0)]. L1 buffer allocated at 2496 and static circular "
              "buffer region ends at 2524");
  }
  a.reset();
  try {
    dev.allocate_cbs({4000});
    FAIL() << "expected beyond-L1";
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.kind, OutOfMemory::Kind::CbBeyondL1);
    EXPECT_EQ(std::string(e.what()),
              "Statically allocated circular buffers on core range [(x=0,y=0) - (x=3,y=0)] grow to "
              "5024 B which is beyond max L1 size of 4096 B");
  }
}

TEST(Device, DramBottomUpAndBackedPagesAreDisjoint) {
  Device dev(tiny(), true);
  auto a = dev.allocate(BufferType::DRAM, 3, 64);  // 2 pages per bank of 64
  auto b = dev.allocate(BufferType::DRAM, 2, 64);
  EXPECT_EQ(a->address(), 32);
  EXPECT_EQ(b->address(), 32 + 128);
  // Page i in bank i % 2 at address + (i / 2) * 64: pages never overlap.
  EXPECT_EQ(a->page(1) - a->page(0), dev.arena_bank_stride(BufferType::DRAM));
  EXPECT_EQ(a->page(2) - a->page(0), 64);
  EXPECT_EQ(b->page(0) - a->page(0), 128);
  for (int i = 0; i < 3; ++i) a->page(i)[0] = static_cast<char>(i + 1);
  for (int i = 0; i < 2; ++i) b->page(i)[0] = 9;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a->page(i)[0], i + 1);
}

TEST(Device, ZeroSizeBufferAllocatesNothing) {
  Device dev(tiny(), false);
  auto a = dev.allocate(BufferType::L1, 0, 2048);
  EXPECT_EQ(a->address(), -1);
  EXPECT_EQ(dev.stats(BufferType::L1).allocated, 0);
}

TEST(Profiles, BuiltinsLoadAndCustomJsonIsValidated) {
  for (const auto& name : builtin_profile_names()) {
    Profile p = load_profile(name);
    EXPECT_GT(p.l1_bank_size(), 0) << name;
    EXPECT_EQ(p.grid_x * p.grid_y, p.l1_banks) << name;
  }
  Profile wh = load_profile("wormhole_b0");
  EXPECT_EQ(wh.l1_banks, 64);
  EXPECT_EQ(wh.l1_bank_size(), 1400032);
  EXPECT_EQ(wh.dram_banks, 12);
  EXPECT_THROW(load_profile("no_such_device"), InvalidArgument);
  EXPECT_THROW(parse_profile("{\"l1_banks\": 4}", "x"), InvalidArgument);
  EXPECT_THROW(parse_profile("not json", "x"), InvalidArgument);
  try {
    load_profile("nope");
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("wormhole_b0"), std::string::npos);
  }
}
