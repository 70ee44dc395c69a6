// Device page I/O against a slow per-element walk of tt-metal's page layout,
// the host pool's reuse, and the seeded inputs against their formula.
#include <gtest/gtest.h>
#include <omp.h>

#include <bit>
#include <cstring>

#include "core/bfp8.hpp"
#include "core/host_pool.hpp"
#include "exec/device_tensor.hpp"
#include "exec/runner.hpp"
#include "ops/op.hpp"

using namespace oomless;

namespace {

device::Profile small_device() {
  device::Profile p = device::load_profile("wormhole_b0");
  p.dram_bank_size = 8 << 20;  // small arenas: the tests touch every page
  return p;
}

Tensor iota(const Shape& s, DType dt) {
  Tensor t = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i % 977) - 300.5f;
  return t.to(dt);
}

// Host pointer of element (o, h, w) of a TILE tensor: page (o, h/32, w/32),
// row-major inside the tile. Null for a ROW_MAJOR tensor's padding.
const char* element_ptr(const exec::DeviceTensor& d, int64_t o, int64_t h, int64_t w, size_t es) {
  int64_t H = d.shape.size() >= 2 ? d.shape[d.shape.size() - 2] : 1, W = d.shape.back();
  if (d.layout == Layout::RowMajor) return d.buffer->page(o * H + h) + w * static_cast<int64_t>(es);
  int64_t ht = (H + 31) / 32, wt = (W + 31) / 32;
  int64_t page = (o * ht + h / 32) * wt + w / 32;
  return d.buffer->page(page) + ((h % 32) * 32 + w % 32) * static_cast<int64_t>(es);
}

void dirty(const exec::DeviceTensor& d) {
  const auto& fp = d.buffer->footprint();
  for (int64_t p = 0; p < fp.num_pages; ++p) std::memset(d.buffer->page(p), 0xAB, fp.page_size);
}

}  // namespace

TEST(DevicePages, TileAndRowMajorMatchThePerElementLayout) {
  device::Device dev(small_device());
  for (DType dt : {DType::BF16, DType::F32})
    for (Layout layout : {Layout::Tile, Layout::RowMajor})
      for (Shape s : {Shape{3, 45, 70}, Shape{2, 1, 33, 5}, Shape{64}, Shape{2, 32, 32}}) {
        Tensor host = iota(s, dt);
        exec::DeviceTensor d = exec::allocate_on(dev, s, dt, layout, device::BufferType::DRAM);
        dirty(d);  // padding must come out zero whatever the arena held
        exec::write_pages(host, d);
        size_t es = element_size(dt);
        int64_t H = s.size() >= 2 ? s[s.size() - 2] : 1, W = s.back(), O = host.numel() / (H * W);
        for (int64_t o = 0; o < O; ++o)
          for (int64_t h = 0; h < (layout == Layout::Tile ? (H + 31) / 32 * 32 : H); ++h)
            for (int64_t w = 0; w < (layout == Layout::Tile ? (W + 31) / 32 * 32 : W); ++w) {
              const char* p = element_ptr(d, o, h, w, es);
              char expect[4] = {0, 0, 0, 0};
              if (h < H && w < W)
                std::memcpy(expect,
                            static_cast<const char*>(host.raw()) +
                                ((o * H + h) * W + w) * static_cast<int64_t>(es),
                            es);
              ASSERT_EQ(std::memcmp(p, expect, es), 0)
                  << dtype_name(dt) << " " << shape_str(s) << " at " << o << "," << h << "," << w;
            }
        Tensor back = exec::read_pages(d, dt);
        ASSERT_EQ(back.shape(), s);
        EXPECT_EQ(std::memcmp(back.raw(), host.raw(), host.nbytes()), 0);
      }
}

TEST(DevicePages, ConvertsAndAcceptsStridedHostTensors) {
  device::Device dev(small_device());
  Tensor f = iota({40, 33}, DType::F32);
  for (int64_t i = 0; i < f.numel(); ++i) f.data<float>()[i] *= 1.0009765625f;  // not bf16-exact
  Tensor ft = f.transpose(0, 1);                                                // [33, 40] view
  exec::DeviceTensor d =
      exec::allocate_on(dev, ft.shape(), DType::BF16, Layout::Tile, device::BufferType::L1);
  exec::write_pages(ft, d);
  Tensor back = exec::read_pages(d, DType::F32);
  Tensor expect = ft.contiguous().to(DType::BF16).to(DType::F32);
  EXPECT_EQ(std::memcmp(back.raw(), expect.raw(), expect.nbytes()), 0);
}

TEST(DevicePages, ReadsIntoSlicesOfALargerTensor) {
  device::Device dev(small_device());
  Tensor host = iota({2, 40, 33}, DType::BF16);
  exec::DeviceTensor d =
      exec::allocate_on(dev, host.shape(), DType::BF16, Layout::Tile, device::BufferType::DRAM);
  exec::write_pages(host, d);
  for (int64_t dim : {0, 1, 2}) {
    Shape big = host.shape();
    big[static_cast<size_t>(dim)] += 5;
    Tensor whole = Tensor::zeros(big, DType::BF16);
    Tensor slice = whole.narrow(dim, 3, host.shape()[static_cast<size_t>(dim)]);
    exec::read_pages_into(d, slice);  // contiguous for dim 0, strided otherwise
    for (int64_t i = 0; i < host.numel(); ++i) ASSERT_EQ(slice.get(i), host.get(i)) << dim;
    EXPECT_EQ(whole.narrow(dim, 0, 3).to(DType::F32).data<float>()[0], 0.0f);
  }
  Tensor f32 = Tensor::empty(host.shape(), DType::F32);  // converts on the way
  exec::read_pages_into(d, f32);
  for (int64_t i = 0; i < host.numel(); ++i) ASSERT_EQ(f32.get(i), host.get(i));
}

TEST(DevicePages, BlockFloatTilesAreTtPackedTiles) {
  device::Device dev(small_device());
  Tensor host = iota({40, 70}, DType::F32);
  exec::DeviceTensor d =
      exec::allocate_on(dev, host.shape(), DType::BFP8_B, Layout::Tile, device::BufferType::DRAM);
  exec::write_pages(host, d);
  Tensor back = exec::read_pages(d, DType::F32);
  // Each tile is packed from the zero-padded 32x32 block, as the slow walk builds it.
  for (int64_t th = 0; th < 2; ++th)
    for (int64_t tw = 0; tw < 3; ++tw) {
      float tile[kTileElems] = {}, unpacked[kTileElems];
      for (int64_t i = 0; i < 32; ++i)
        for (int64_t j = 0; j < 32; ++j)
          if (th * 32 + i < 40 && tw * 32 + j < 70)
            tile[i * 32 + j] = host.data<float>()[(th * 32 + i) * 70 + tw * 32 + j];
      std::vector<uint8_t> packed(2048);
      pack_bfp8_tile(tile, packed.data());
      ASSERT_EQ(std::memcmp(packed.data(), d.buffer->page(th * 3 + tw), 1088), 0);
      unpack_bfp8_tile(packed.data(), unpacked);
      for (int64_t i = 0; i < 32; ++i)
        for (int64_t j = 0; j < 32; ++j)
          if (th * 32 + i < 40 && tw * 32 + j < 70) {
            ASSERT_EQ(back.data<float>()[(th * 32 + i) * 70 + tw * 32 + j], unpacked[i * 32 + j]);
          }
    }
}

TEST(HostPool, FreedBlocksAreReusedAndCoalesce) {
  size_t a_bytes = 0, b_bytes = 0, c_bytes = 0;
  void* a = host_pool::acquire(3 << 20, &a_bytes);
  void* b = host_pool::acquire(5 << 20, &b_bytes);
  ASSERT_GE(a_bytes, size_t{3} << 20);
  ASSERT_GE(b_bytes, size_t{5} << 20);
  std::memset(a, 1, a_bytes);
  std::memset(b, 2, b_bytes);
  EXPECT_EQ(static_cast<unsigned char*>(b)[b_bytes - 1], 2);
  host_pool::release(a, a_bytes);
  void* again = host_pool::acquire(2 << 20, &c_bytes);
  EXPECT_EQ(again, a);  // first fit: the freed, warm block
  host_pool::release(again, c_bytes);
  host_pool::release(b, b_bytes);
  if (static_cast<char*>(b) == static_cast<char*>(a) + a_bytes) {
    // Neighbours coalesce: one block spanning both comes back at a's address.
    void* both = host_pool::acquire(a_bytes + b_bytes, &c_bytes);
    EXPECT_EQ(both, a);
    host_pool::release(both, c_bytes);
  }
  EXPECT_GT(host_pool::stats().hits, 0);
}

TEST(HostPool, LargeTensorsTakePooledMemory) {
  int64_t before = host_pool::stats().hits + host_pool::stats().misses;
  {
    Tensor t = Tensor::zeros({1 << 20}, DType::F32);  // 4 MiB
    EXPECT_EQ(t.data<float>()[(1 << 20) - 1], 0.0f);
  }
  EXPECT_GT(host_pool::stats().hits + host_pool::stats().misses, before);
}

TEST(MakeInputs, UniformValuesFollowTheKeyedFormulaForAnyThreadCount) {
  plan::CallSpec c;
  c.op = &ops::find_op("add");
  c.inputs = {{{3, 100003}, DType::F32}, {{3, 100003}, DType::BF16}};
  c.args = ops::Args(c.op->name, c.op->args, {});
  auto splitmix = [](uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  auto one = exec::make_inputs(c, exec::Init::Rand, 7);
  omp_set_num_threads(2);
  auto two = exec::make_inputs(c, exec::Init::Rand, 7);
  omp_set_num_threads(threads);
  for (size_t k = 0; k < 2; ++k) {
    ASSERT_EQ(one[k].dtype(), c.inputs[k].dtype);
    EXPECT_EQ(std::memcmp(one[k].raw(), two[k].raw(), one[k].nbytes()), 0);
    uint64_t base = splitmix(7 * 1000003ull + k);
    for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{65535}, int64_t{65536}, int64_t{300008}}) {
      uint64_t key = base ^ static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ull;
      auto v = static_cast<float>(static_cast<double>(splitmix(key) >> 11) * 0x1.0p-53);
      EXPECT_EQ(one[k].get(i), k == 0 ? v : static_cast<double>(bf16_to_f32(f32_to_bf16(v))));
      EXPECT_GE(v, 0.0f);
      EXPECT_LT(v, 1.0f);
    }
  }
}
