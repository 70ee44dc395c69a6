// core/: dtypes and bf16 rounding, bfloat8_b tiles, layouts and pages, shapes,
// tensor views.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "core/bfp8.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/layout.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"

namespace oomless {
namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Runs fn, expecting InvalidArgument whose message contains every fragment.
template <class Fn>
void expect_invalid(Fn fn, std::vector<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgument& e) {
    std::string msg = e.what();
    for (const auto& f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

// ---------------------------------------------------------------- dtypes, bf16

TEST(Core, DtypeNamesAndSizes) {
  EXPECT_EQ(parse_dtype("bf16"), DType::BF16);
  EXPECT_EQ(parse_dtype("float32"), DType::F32);
  EXPECT_EQ(parse_dtype("bfloat8_b"), DType::BFP8_B);
  EXPECT_EQ(dtype_name(DType::BF16), "bfloat16");
  EXPECT_EQ(element_size(DType::BF16), 2u);
  EXPECT_EQ(element_size(DType::F32), 4u);
  EXPECT_THROW(element_size(DType::BFP8_B), InvalidArgument);
  expect_invalid([] { parse_dtype("f16", "relu"); }, {"[relu]", "f16"});
}

TEST(Bf16, RoundToNearestEvenTies) {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even mantissa (1).
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808000u)), 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 0x3F81 and 0x3F82: ties up to the even one.
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F818000u)), 0x3F82);
  // Just above / below a tie.
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F807FFFu)), 0x3F80);
  // Negative values mirror.
  EXPECT_EQ(f32_to_bf16(from_bits(0xBF808000u)), 0xBF80);
  EXPECT_EQ(f32_to_bf16(from_bits(0xBF818000u)), 0xBF82);
  // Carry into the exponent: 2 - 2^-9 (0x3FFF8000) ties up to 2.0 (even).
  EXPECT_EQ(f32_to_bf16(from_bits(0x3FFF8000u)), 0x4000);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3FFE8000u)), 0x3FFE);
  EXPECT_EQ(round_bf16(1.0f / 3.0f), from_bits(0x3EAB0000u));
}

TEST(Bf16, NaNInfAndOverflow) {
  for (uint32_t nan : {0x7FC00000u, 0x7FC00001u, 0x7F800001u, 0x7F80FFFFu, 0x7FFFFFFFu}) {
    uint16_t b = f32_to_bf16(from_bits(nan));
    EXPECT_TRUE(std::isnan(bf16_to_f32(b))) << std::hex << nan;
    EXPECT_FALSE(std::signbit(bf16_to_f32(b)));
    uint16_t nb = f32_to_bf16(from_bits(nan | 0x80000000u));
    EXPECT_TRUE(std::isnan(bf16_to_f32(nb))) << std::hex << nan;
    EXPECT_TRUE(std::signbit(bf16_to_f32(nb)));
  }
  // A signalling NaN whose payload sits only in the low bits must not become inf.
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  // Max finite f32 rounds to inf; max finite bf16 stays; its tie with inf rounds to
  // the even pattern, which is inf.
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::max()), 0xFF80);
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7F0000u)), 0x7F7F);
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7F7FFFu)), 0x7F7F);
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7F8000u)), 0x7F80);
}

TEST(Bf16, DenormalsAndZeros) {
  EXPECT_EQ(f32_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00000001u)), 0x0000);  // smallest denormal: down
  EXPECT_EQ(f32_to_bf16(from_bits(0x00008000u)), 0x0000);  // tie: even (0)
  EXPECT_EQ(f32_to_bf16(from_bits(0x00018000u)), 0x0002);  // tie: even (2)
  EXPECT_EQ(f32_to_bf16(from_bits(0x00010000u)), 0x0001);  // exact bf16 denormal
  EXPECT_EQ(f32_to_bf16(from_bits(0x80010000u)), 0x8001);  // sign kept
  EXPECT_EQ(f32_to_bf16(from_bits(0x007FFFFFu)), 0x0080);  // largest denormal -> min normal
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));
}

TEST(Bf16, EveryPatternRoundTrips) {
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    float f = bf16_to_f32(static_cast<uint16_t>(b));
    EXPECT_EQ(to_bits(f), b << 16);
    uint16_t back = f32_to_bf16(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(bf16_to_f32(back))) << b;
      ASSERT_EQ(back & 0x8000, b & 0x8000) << b;
    } else {
      ASSERT_EQ(back, b) << b;
    }
  }
}

TEST(Bf16, MatchesDoubleRounding) {
  // Random f32 values: the result is the nearest bf16 (ties to even) by direct search.
  std::mt19937 gen(7);
  for (int i = 0; i < 100000; ++i) {
    uint32_t u = gen() & 0x7FFFFFFFu;
    if ((u & 0x7F800000u) == 0x7F800000u) continue;
    float f = from_bits(u);
    uint16_t lo = static_cast<uint16_t>(u >> 16), hi = lo + 1;
    double dl = f - static_cast<double>(bf16_to_f32(lo));
    // Past the largest finite bf16 the next candidate is 2^128 (rounds to inf).
    double hv = hi == 0x7F80 ? std::ldexp(1.0, 128) : static_cast<double>(bf16_to_f32(hi));
    double dh = hv - f;
    uint16_t want = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
    ASSERT_EQ(f32_to_bf16(f), want) << std::hex << u;
  }
}

// ---------------------------------------------------------------- bfloat8_b

// |x - y| allowed for a value of block with shared exponent e: one unit of m.
double bfp8_unit(int e) {
  return std::ldexp(1.0, e - 133);
}

int max_exp(const float* v, int n) {
  int e = 0;
  for (int i = 0; i < n; ++i) e = std::max<int>(e, (to_bits(v[i]) >> 23) & 0xFF);
  return e;
}

// Values of block b (16 in face order) gathered from a row-major tile.
void block_values(const float* tile, int b, float* out) {
  int face = b / 16, r = (face / 2) * 16 + b % 16, c0 = (face % 2) * 16;
  for (int j = 0; j < 16; ++j) out[j] = tile[r * 32 + c0 + j];
}

TEST(Bfp8, SizesAndConstants) {
  EXPECT_EQ(kBfp8TileBytes, 1088);
  EXPECT_EQ(tile_page_bytes(DType::BFP8_B), 1088);
  EXPECT_EQ(bfp8_region_bytes(32, 32), 1088);
  EXPECT_EQ(bfp8_region_bytes(33, 65), 2 * 3 * 1088);
  EXPECT_EQ(bfp8_face_index(0, 0), 0);
  EXPECT_EQ(bfp8_face_index(0, 16), 256);
  EXPECT_EQ(bfp8_face_index(16, 0), 512);
  EXPECT_EQ(bfp8_face_index(16, 16), 768);
  EXPECT_EQ(bfp8_face_index(1, 0), 16);
  EXPECT_EQ(bfp8_face_index(31, 31), 1023);
}

TEST(Bfp8, Zeros) {
  float tile[1024] = {};
  tile[5] = -0.0f;
  uint8_t packed[1088];
  std::memset(packed, 0xAB, sizeof packed);
  pack_bfp8_tile(tile, packed);
  for (int i = 0; i < 1088; ++i) ASSERT_EQ(packed[i], 0) << i;
  float back[1024];
  unpack_bfp8_tile(packed, back);
  for (float v : back) {
    EXPECT_EQ(v, 0.0f);
    EXPECT_FALSE(std::signbit(v));
  }
}

TEST(Bfp8, RandomRoundTripWithinOneUnit) {
  std::mt19937 gen(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int t = 0; t < 50; ++t) {
    float tile[1024], back[1024];
    float scale = std::ldexp(1.0f, t - 25);
    for (float& v : tile) v = dist(gen) * scale;
    uint8_t packed[1088];
    pack_bfp8_tile(tile, packed);
    unpack_bfp8_tile(packed, back);
    for (int b = 0; b < 64; ++b) {
      float vals[16], got[16];
      block_values(tile, b, vals);
      block_values(back, b, got);
      int e = max_exp(vals, 16);
      ASSERT_EQ(packed[b], e) << "shared exponent of block " << b;
      for (int j = 0; j < 16; ++j) {
        ASSERT_LE(std::fabs(got[j] - vals[j]), bfp8_unit(e)) << "block " << b << " value " << j;
        // Round to nearest: within half a unit unless saturated at 127.
        int m = packed[64 + b * 16 + j] & 0x7F;
        if (m < 127) {
          ASSERT_LE(std::fabs(got[j] - vals[j]), bfp8_unit(e) / 2);
        }
        ASSERT_EQ(std::signbit(got[j]) && got[j] != 0, std::signbit(vals[j]) && m != 0);
      }
    }
  }
}

TEST(Bfp8, ExactValuesAndEncoding) {
  // 7-bit integers with a block maximum in [64, 128) are exact (unit = 1).
  float tile[1024] = {}, back[1024];
  for (int j = 0; j < 16; ++j) tile[j] = static_cast<float>(j * 8 - 60);  // -60 .. 60
  tile[15] = 100.0f;                                                      // e = 133
  uint8_t packed[1088];
  pack_bfp8_tile(tile, packed);
  EXPECT_EQ(packed[0], 133);
  EXPECT_EQ(packed[64 + 15], 100);       // m = 100, sign 0
  EXPECT_EQ(packed[64 + 0], 0x80 | 60);  // -60: sign bit + 60
  unpack_bfp8_tile(packed, back);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(back[j], tile[j]) << j;
}

TEST(Bfp8, RoundingTiesAndSaturation) {
  float tile[1024] = {}, back[1024];
  tile[0] = 64.0f;    // e = 133, unit 1
  tile[1] = 2.5f;     // tie -> 2
  tile[2] = 3.5f;     // tie -> 4
  tile[3] = -2.5f;    // tie -> -2
  tile[4] = 2.5001f;  // above the tie -> 3
  tile[5] = 0.5f;     // tie -> 0 (and the sign of a zero result is dropped)
  tile[6] = -0.5f;
  tile[32] = 1.999f;  // row 1 = block 1: 127.94 units rounds to 128 -> saturates at 127
  uint8_t packed[1088];
  pack_bfp8_tile(tile, packed);
  unpack_bfp8_tile(packed, back);
  EXPECT_EQ(back[1], 2.0f);
  EXPECT_EQ(back[2], 4.0f);
  EXPECT_EQ(back[3], -2.0f);
  EXPECT_EQ(back[4], 3.0f);
  EXPECT_EQ(back[5], 0.0f);
  EXPECT_EQ(packed[64 + 6], 0);
  EXPECT_FALSE(std::signbit(back[6]));
  EXPECT_EQ(packed[1], 127);
  EXPECT_EQ(packed[64 + bfp8_face_index(1, 0)], 127);
  EXPECT_EQ(back[32], 127.0f / 64.0f);  // tile row 1 col 0
  EXPECT_LE(std::fabs(back[32] - 1.999f), bfp8_unit(127));
}

TEST(Bfp8, OneLargeValueFlushesItsBlockOnly) {
  float tile[1024], back[1024];
  for (float& v : tile) v = 0.001f;
  tile[3] = 1000.0f;  // block 0 (tile row 0, cols 0..15)
  uint8_t packed[1088];
  pack_bfp8_tile(tile, packed);
  unpack_bfp8_tile(packed, back);
  EXPECT_EQ(back[3], 1000.0f);  // 1000 = 125 * 8: exact at e = 136 (unit 8)
  for (int j = 0; j < 16; ++j)
    if (j != 3) {
      EXPECT_EQ(back[j], 0.0f) << j;
    }
  // Columns 16..31 of row 0 are another block (face 1) and keep their precision.
  for (int j = 16; j < 32; ++j) EXPECT_NEAR(back[j], 0.001f, 0.001 / 64);
  for (int i = 32; i < 1024; ++i) EXPECT_NEAR(back[i], 0.001f, 0.001 / 64);
}

TEST(Bfp8, FaceOrderEveryPosition) {
  for (int r = 0; r < 32; ++r)
    for (int c = 0; c < 32; ++c) {
      float tile[1024] = {}, back[1024];
      tile[r * 32 + c] = 1.0f;
      uint8_t packed[1088];
      pack_bfp8_tile(tile, packed);
      int idx = bfp8_face_index(r, c);
      for (int b = 0; b < 64; ++b) ASSERT_EQ(packed[b], b == idx / 16 ? 127 : 0) << r << "," << c;
      for (int i = 0; i < 1024; ++i) ASSERT_EQ(packed[64 + i], i == idx ? 64 : 0) << r << "," << c;
      unpack_bfp8_tile(packed, back);
      for (int i = 0; i < 1024; ++i) ASSERT_EQ(back[i], i == r * 32 + c ? 1.0f : 0.0f);
    }
  // Spot checks of the layout: row 0 col 16 lives in face 1, row 16 col 0 in face 2.
  EXPECT_EQ(bfp8_face_index(0, 17), 257);
  EXPECT_EQ(bfp8_face_index(17, 1), 512 + 16 + 1);
}

TEST(Bfp8, NonFiniteAndDenormals) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float tile[1024] = {}, back[1024];
  tile[0] = inf;
  tile[1] = -inf;
  tile[2] = nan;
  tile[3] = -nan;
  tile[4] = from_bits(0x7F800001u);             // NaN with a low payload: stays NaN
  tile[5] = std::ldexp(1.0f, 123);              // finite, big enough to survive e = 255
  tile[6] = std::numeric_limits<float>::max();  // capped below inf
  tile[7] = 1.0f;                               // flushed by the special block
  tile[32] = 1.0f;                              // row 1: another block, untouched
  // Block 2 (row 2): f32 denormals flush and do not set the exponent; block 3
  // (row 3): the smallest normal is exact next to a flushed denormal.
  tile[64] = from_bits(0x00000001u);
  tile[65] = from_bits(0x00400000u);
  tile[96] = std::ldexp(1.0f, -126);  // e = 1, unit 2^-132
  tile[97] = std::ldexp(1.0f, -132);  // an f32 denormal
  uint8_t packed[1088];
  pack_bfp8_tile(tile, packed);
  EXPECT_EQ(packed[0], 255);
  EXPECT_EQ(packed[2], 0);
  unpack_bfp8_tile(packed, back);
  EXPECT_EQ(back[0], inf);
  EXPECT_EQ(back[1], -inf);
  EXPECT_TRUE(std::isnan(back[2]) && !std::signbit(back[2]));
  EXPECT_TRUE(std::isnan(back[3]) && std::signbit(back[3]));
  EXPECT_TRUE(std::isnan(back[4]));
  EXPECT_EQ(back[5], std::ldexp(1.0f, 123));
  EXPECT_TRUE(std::isfinite(back[6]));
  EXPECT_EQ(back[6], 63.0f * std::ldexp(1.0f, 122));
  EXPECT_EQ(back[7], 0.0f);
  EXPECT_EQ(back[32], 1.0f);
  EXPECT_EQ(back[64], 0.0f);
  EXPECT_EQ(back[65], 0.0f);
  EXPECT_EQ(back[96], std::ldexp(1.0f, -126));
  EXPECT_EQ(back[97], 0.0f);
  EXPECT_EQ(packed[3], 1);
  // Hand-made bytes below the leading one decode exactly, to f32 denormals if need be.
  packed[64 + 3 * 16 + 1] = 0x80 | 1;  // -1 unit at e = 1
  unpack_bfp8_tile(packed, back);
  EXPECT_EQ(back[97], -std::ldexp(1.0f, -132));
}

TEST(Bfp8, TensorAndRegionHelpers) {
  std::mt19937 gen(9);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Shape shape{2, 40, 50};
  Tensor t = Tensor::empty(shape, DType::BF16);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, dist(gen));
  std::vector<uint8_t> packed = pack_bfp8(t);
  EXPECT_EQ(static_cast<int64_t>(packed.size()),
            page_spec(shape, DType::BFP8_B, Layout::Tile).total_bytes());
  EXPECT_EQ(packed.size(), 2u * 2 * 2 * 1088);
  // Tile (batch 1, tile row 1, tile col 0) holds rows 32..39 and zero padding.
  const uint8_t* tile = packed.data() + (4 + 2) * 1088;
  float vals[1024];
  unpack_bfp8_tile(tile, vals);
  for (int r = 8; r < 32; ++r)
    for (int c = 0; c < 32; ++c) EXPECT_EQ(vals[r * 32 + c], 0.0f);
  Tensor back = unpack_bfp8(packed.data(), shape, DType::F32);
  ASSERT_EQ(back.shape(), shape);
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_NEAR(back.get(i), t.get(i), 8.0 / 64);
  // A tile of the tensor equals packing that 32x32 block by hand.
  float block[1024] = {};
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 32; ++c)
      block[r * 32 + c] = static_cast<float>(t.get(2000 + 32 * 50 + r * 50 + c));
  uint8_t manual[1088];
  pack_bfp8_tile(block, manual);
  EXPECT_EQ(std::memcmp(manual, tile, 1088), 0);
  // Strided input packs like its contiguous copy; rank 1 and 0 fold to one row.
  Tensor tr = t.transpose(1, 2);
  EXPECT_EQ(pack_bfp8(tr), pack_bfp8(tr.contiguous()));
  Tensor v = Tensor::zeros({5}, DType::F32);
  v.set(4, 3.0);
  std::vector<uint8_t> pv = pack_bfp8(v);
  ASSERT_EQ(pv.size(), 1088u);
  EXPECT_EQ(unpack_bfp8(pv.data(), {5}).get(4), 3.0);
  EXPECT_EQ(pack_bfp8(Tensor::zeros({}, DType::F32)).size(), 1088u);
  EXPECT_EQ(pack_bfp8(Tensor::empty({3, 0, 7}, DType::F32)).size(), 0u);
  EXPECT_THROW(pack_bfp8(Tensor::zeros({2}, DType::I32)), InvalidArgument);
}

// ---------------------------------------------------------------- layouts, pages

TEST(Layout, PaddedShape) {
  EXPECT_EQ(padded_shape({1, 2176, 3840, 3}, Layout::Tile), (Shape{1, 2176, 3840, 32}));
  EXPECT_EQ(padded_shape({1, 256, 3, 25281}, Layout::Tile), (Shape{1, 256, 32, 25312}));
  EXPECT_EQ(padded_shape({5}, Layout::Tile), (Shape{32, 32}));
  EXPECT_EQ(padded_shape({}, Layout::Tile), (Shape{32, 32}));
  EXPECT_EQ(padded_shape({64, 33}, Layout::Tile), (Shape{64, 64}));
  EXPECT_EQ(padded_shape({2, 0, 3}, Layout::Tile), (Shape{2, 0, 32}));
  EXPECT_EQ(padded_shape({1, 2176, 3840, 3}, Layout::RowMajor), (Shape{1, 2176, 3840, 3}));
}

TEST(Layout, TilePages) {
  // The seed's first add case after its NHWC permute.
  PageSpec p = page_spec({1, 2176, 3840, 3}, DType::BF16, Layout::Tile);
  EXPECT_EQ(p.num_pages, 261120);
  EXPECT_EQ(p.page_size, 2048);
  EXPECT_EQ(p.total_bytes(), 534773760);
  // tt-metal#22513: add on bf16 (1,256,3,25281) -> 202,496 tiles, 414,711,808 B.
  PageSpec q = page_spec({1, 256, 3, 25281}, DType::BF16, Layout::Tile);
  EXPECT_EQ(q.num_pages, 202496);
  EXPECT_EQ(q.total_bytes(), 414711808);
  EXPECT_EQ(page_spec({1, 256, 3, 25281}, DType::F32, Layout::Tile).page_size, 4096);
  EXPECT_EQ(page_spec({1, 256, 3, 25281}, DType::BFP8_B, Layout::Tile).page_size, 1088);
  EXPECT_EQ(page_spec({1, 256, 3, 25281}, DType::BFP8_B, Layout::Tile).total_bytes(),
            202496 * 1088);
  EXPECT_EQ(page_spec({7}, DType::BF16, Layout::Tile).num_pages, 1);
  EXPECT_EQ(page_spec({}, DType::BF16, Layout::Tile).num_pages, 1);
  EXPECT_EQ(page_spec({33}, DType::BF16, Layout::Tile).num_pages, 2);
  EXPECT_EQ(page_spec({2, 0, 5}, DType::BF16, Layout::Tile).num_pages, 0);
  EXPECT_EQ(page_spec({1, 96, 2176, 1920}, DType::BF16, Layout::Tile).total_bytes(),
            1LL * 96 * 2176 * 1920 * 2);  // already tile aligned: 765 MiB
}

TEST(Layout, RowMajorPages) {
  PageSpec p = page_spec({2, 3, 5}, DType::F32, Layout::RowMajor);
  EXPECT_EQ(p.num_pages, 6);
  EXPECT_EQ(p.page_size, 20);
  PageSpec q = page_spec({1, 2176, 3840, 3}, DType::BF16, Layout::RowMajor);
  EXPECT_EQ(q.num_pages, 2176 * 3840);
  EXPECT_EQ(q.page_size, 6);
  EXPECT_EQ(page_spec({7}, DType::BF16, Layout::RowMajor).num_pages, 1);
  EXPECT_EQ(page_spec({7}, DType::BF16, Layout::RowMajor).page_size, 14);
  EXPECT_EQ(page_spec({}, DType::F32, Layout::RowMajor).num_pages, 1);
  EXPECT_EQ(page_spec({}, DType::F32, Layout::RowMajor).page_size, 4);
  EXPECT_THROW(page_spec({32, 32}, DType::BFP8_B, Layout::RowMajor), InvalidArgument);
}

TEST(Layout, Names) {
  EXPECT_EQ(parse_layout("tile"), Layout::Tile);
  EXPECT_EQ(parse_layout("row_major"), Layout::RowMajor);
  EXPECT_EQ(layout_name(Layout::Tile), "TILE");
  expect_invalid([] { parse_layout("tiled", "query"); }, {"[query]", "tiled"});
}

// ---------------------------------------------------------------- shapes

TEST(Shape, Parse) {
  EXPECT_EQ(parse_shape("1,2176,3840,3"), (Shape{1, 2176, 3840, 3}));
  EXPECT_EQ(parse_shape("[1, 2, 3]"), (Shape{1, 2, 3}));
  EXPECT_EQ(parse_shape("(4, 5)"), (Shape{4, 5}));
  EXPECT_EQ(parse_shape("2x3x4"), (Shape{2, 3, 4}));
  EXPECT_EQ(parse_shape("0,5"), (Shape{0, 5}));
  EXPECT_EQ(parse_shape(""), Shape{});
  EXPECT_EQ(parse_shape("[]"), Shape{});
  for (const char* bad : {"1,,2", "1,-2", "a", "1,", "2x", "1.5", "3,b"})
    expect_invalid([&] { parse_shape(bad, "add"); }, {"[add]", bad});
}

TEST(Shape, NormalizeDim) {
  EXPECT_EQ(normalize_dim(-1, 3, "softmax"), 2);
  EXPECT_EQ(normalize_dim(-3, 3, "softmax"), 0);
  EXPECT_EQ(normalize_dim(2, 3, "softmax"), 2);
  EXPECT_EQ(normalize_dim(0, 0, "sum"), 0);
  EXPECT_EQ(normalize_dim(-1, 0, "sum"), 0);
  expect_invalid([] { normalize_dim(3, 3, "softmax"); }, {"[softmax]", "dim 3", "rank 3"});
  expect_invalid([] { normalize_dim(-4, 3, "softmax"); }, {"[softmax]", "-4"});
  expect_invalid([] { normalize_dim(1, 0, "mean"); }, {"[mean]", "1"});
}

TEST(Shape, BroadcastAndStrides) {
  EXPECT_EQ(broadcast_shapes({3, 1, 5}, {4, 5}, "add"), (Shape{3, 4, 5}));
  EXPECT_EQ(broadcast_shapes({}, {2}, "add"), (Shape{2}));
  EXPECT_EQ(broadcast_shapes({0}, {1}, "add"), (Shape{0}));
  EXPECT_EQ(broadcast_shapes({1, 96, 1, 1}, {1, 96, 2176, 1920}, "mul"),
            (Shape{1, 96, 2176, 1920}));
  expect_invalid([] { broadcast_shapes({2, 3}, {3, 2}, "add"); }, {"[add]", "[2,3]", "[3,2]"});
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Strides{12, 4, 1}));
  EXPECT_EQ(contiguous_strides({2, 0, 4}), (Strides{4, 4, 1}));
  EXPECT_EQ(numel({2, 3, 4}), 24);
  EXPECT_EQ(numel({}), 1);
  EXPECT_EQ(shape_str({1, 2}), "[1,2]");
}

// ---------------------------------------------------------------- tensors

Tensor iota(const Shape& s, DType dt = DType::F32) {
  Tensor t = Tensor::empty(s, dt);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, static_cast<double>(i));
  return t;
}

TEST(Tensor, ViewStrides) {
  Tensor t = iota({2, 3, 4});
  Tensor v = t.view({6, 4});
  EXPECT_EQ(v.strides(), (Strides{4, 1}));
  EXPECT_EQ(v.storage(), t.storage());
  // Permuted [3,2,4] with strides [4,12,1]: the last dim may split, dims 0/1 cannot merge.
  Tensor p = t.permute({1, 0, 2});
  EXPECT_EQ(p.strides(), (Strides{4, 12, 1}));
  Tensor ps = p.view({3, 2, 2, 2});
  EXPECT_EQ(ps.strides(), (Strides{4, 12, 2, 1}));
  EXPECT_EQ(ps.storage(), t.storage());
  for (int64_t i = 0; i < ps.numel(); ++i) EXPECT_EQ(ps.get(i), p.get(i));
  expect_invalid([&] { p.view({6, 4}); }, {"[view]", "[6,4]", "[3,2,4]", "[4,12,1]"});
  // Transposed 2-D: only the identity view (and unit-dim insertions) work.
  Tensor tt = iota({3, 4}).transpose(0, 1);
  EXPECT_NO_THROW(tt.view({4, 3}));
  EXPECT_EQ(tt.view({4, 1, 3}).strides(), (Strides{1, 12, 4}));
  expect_invalid([&] { tt.view({12}); }, {"[view]", "[12]"});
  // Element count mismatch names the op.
  expect_invalid([&] { t.view({5, 5}, "unsafeview"); }, {"[unsafeview]", "[5,5]", "24"});
  // Scalars view as any all-ones shape and back.
  Tensor sc = iota({});
  EXPECT_EQ(sc.view({1, 1}).strides(), (Strides{1, 1}));
  EXPECT_EQ(sc.view({1, 1}).view({}).shape(), Shape{});
  EXPECT_EQ(sc.view({1}).get(0), 0.0);
  // Views of empty tensors always work.
  EXPECT_EQ(Tensor::empty({0, 4}, DType::F32).view({4, 0, 3}).shape(), (Shape{4, 0, 3}));
  // Size-1 dims with odd strides do not break contiguity.
  Tensor odd = Tensor::wrap(t.storage(), {1, 24}, {999, 1}, DType::F32);
  EXPECT_TRUE(odd.is_contiguous());
  EXPECT_EQ(odd.view({2, 12}).strides(), (Strides{12, 1}));
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = iota({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Strides{1, 12, 4}));
  EXPECT_FALSE(p.is_contiguous());
  Tensor tr = t.transpose(0, -1);
  EXPECT_EQ(tr.shape(), (Shape{4, 3, 2}));
  Tensor u = t.unsqueeze(1);
  EXPECT_EQ(u.shape(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(u.strides(), (Strides{12, 12, 4, 1}));
  EXPECT_EQ(t.unsqueeze(-1).strides(), (Strides{12, 4, 1, 1}));
  Tensor col = iota({3, 1});
  Tensor e = col.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Strides{0, 1, 0}));
  EXPECT_EQ(col.expand({-1, 5}).shape(), (Shape{3, 5}));
  Tensor n = t.narrow(2, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(n.offset(), 1);
  for (const Tensor* v : {&p, &tr, &u, &n}) EXPECT_EQ(v->storage(), t.storage());
  EXPECT_EQ(e.storage(), col.storage());
  // Writes through a view are seen by the base.
  p.set(1, 100.0);  // p[0,0,1] = t[0,1,0]
  EXPECT_EQ(t.get(4), 100.0);
  n.set(0, -1.0);  // n[0,0,0] = t[0,0,1]
  EXPECT_EQ(t.get(1), -1.0);
  EXPECT_EQ(tr.get(1), t.get(12));              // tr[0,0,1] = t[1,0,0]
  EXPECT_EQ(e.get(4 * 3 + 4 + 1), col.get(1));  // e[1,1,1] = col[1,0]
  expect_invalid([&] { col.expand({3, 4, 2}); }, {"[expand]", "4"});
  // Sizes below -1 are rejected wherever they are, even on a size-1 dim that
  // would otherwise broadcast to them.
  expect_invalid([&] { col.expand({3, -2}); }, {"[expand]", "invalid size -2 at dim 1", "[3,-2]"});
  expect_invalid([&] { col.expand({-1, -5}); }, {"[expand]", "invalid size -5 at dim 1"});
  expect_invalid([&] { col.expand({-3, 3, 4}); }, {"[expand]", "invalid size -3 at dim 0"});
  expect_invalid([&] { col.expand({-1, 3, 4}); }, {"[expand]", "leading, new dimension (0)"});
  expect_invalid([&] { t.expand({2, -2, 4}, "view"); }, {"[view]", "invalid size -2"});
  EXPECT_EQ(col.expand({-1, -1}).shape(), (Shape{3, 1}));
  EXPECT_EQ(col.expand({2, -1, 0}).shape(), (Shape{2, 3, 0}));
  expect_invalid([&] { t.permute({0, 0, 1}); }, {"[permute]"});
  expect_invalid([&] { t.transpose(0, 3); }, {"[transpose]", "3"});
}

TEST(Tensor, CopiesAreExact) {
  Tensor t = Tensor::empty({3, 4}, DType::BF16);
  uint16_t* d = t.data<uint16_t>();
  for (int i = 0; i < 12; ++i) d[i] = static_cast<uint16_t>(0x3F80 + i);
  d[5] = 0xFFC1;  // a negative NaN with payload
  Tensor c = t.contiguous();
  EXPECT_EQ(c.storage(), t.storage());
  Tensor cl = t.clone();
  EXPECT_NE(cl.storage(), t.storage());
  EXPECT_EQ(std::memcmp(cl.raw(), t.raw(), 24), 0);
  Tensor tr = t.transpose(0, 1).contiguous();
  EXPECT_NE(tr.storage(), t.storage());
  EXPECT_TRUE(tr.is_contiguous());
  const uint16_t* td = tr.data<uint16_t>();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(td[i * 3 + j], d[j * 4 + i]);
  // A narrowed view clones only its elements.
  Tensor nc = t.narrow(1, 1, 2).clone();
  EXPECT_EQ(nc.shape(), (Shape{3, 2}));
  EXPECT_EQ(nc.data<uint16_t>()[2], d[5]);
  // Views whose trailing dims are contiguous copy runs: same elements as get().
  Tensor big = iota({3, 5, 4, 6});
  for (const Tensor& v : {big.narrow(1, 1, 3), big.narrow(2, 1, 2), big.narrow(3, 2, 3),
                          big.narrow(0, 1, 1).narrow(2, 0, 1), big.permute({0, 2, 1, 3})}) {
    Tensor vc = v.clone();
    ASSERT_TRUE(vc.is_contiguous());
    ASSERT_EQ(vc.shape(), v.shape());
    for (int64_t i = 0; i < v.numel(); ++i) ASSERT_EQ(vc.get(i), v.get(i)) << shape_str(v.shape());
  }
  // Expanded (stride 0) views copy out to full size.
  Tensor ex = iota({1, 3}).expand({2, 3}).contiguous();
  EXPECT_EQ(ex.get(4), 1.0);
}

TEST(Tensor, ToDtype) {
  Tensor f = Tensor::empty({5}, DType::F32);
  float vals[5] = {1.0f + std::ldexp(1.0f, -8), -2.7f, 1e30f, std::nanf(""), 3.0f};
  std::memcpy(f.raw(), vals, sizeof vals);
  Tensor b = f.to(DType::BF16);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b.data<uint16_t>()[i], f32_to_bf16(vals[i]));
  Tensor back = b.to(DType::F32);
  for (int i = 0; i < 5; ++i)
    if (i != 3) {
      EXPECT_EQ(back.data<float>()[i], round_bf16(vals[i]));
    }
  EXPECT_TRUE(std::isnan(back.data<float>()[3]));
  Tensor ints = iota({4}).to(DType::I32);
  EXPECT_EQ(ints.data<int32_t>()[3], 3);
  Tensor g = Tensor::empty({2}, DType::F32);
  g.set(0, 2.7);
  g.set(1, -2.7);
  Tensor gi = g.to(DType::I32);  // truncation toward zero, like torch
  EXPECT_EQ(gi.data<int32_t>()[0], 2);
  EXPECT_EQ(gi.data<int32_t>()[1], -2);
  // Strided source converts in logical order.
  Tensor tb = iota({2, 3}).transpose(0, 1).to(DType::BF16);
  EXPECT_EQ(tb.shape(), (Shape{3, 2}));
  EXPECT_EQ(tb.get(1), 3.0);
  // Same dtype: contiguous, sharing when already contiguous.
  Tensor same = f.to(DType::F32);
  EXPECT_EQ(same.storage(), f.storage());
}

TEST(Tensor, Basics) {
  Tensor z = Tensor::zeros({2, 3}, DType::BF16);
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.nbytes(), 12u);
  EXPECT_EQ(z.size(-1), 3);
  EXPECT_TRUE(z.is_contiguous());
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(z.get(i), 0.0);
  expect_invalid([&] { z.size(2); }, {"2"});
  Tensor s = Tensor::zeros({}, DType::F32);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.unsqueeze(0).shape(), (Shape{1}));
  EXPECT_EQ(Tensor::empty({0, 3}, DType::F32).numel(), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(z.raw()) % 64, 0u);
}

}  // namespace
}  // namespace oomless
