#include "core/npy.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "core/error.hpp"

namespace oomless {

namespace {

std::string field(const std::string& header, const std::string& key) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return {};
  size_t colon = header.find(':', k);
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (header[start] == '(') return header.substr(start, header.find(')', start) - start + 1);
  size_t end = header.find_first_of(",}", start);
  std::string v = header.substr(start, end - start);
  if (!v.empty() && v.front() == '\'') v = v.substr(1, v.size() - 2);
  return v;
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(man), -24);
  else if (exp == 31)
    v = man ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = std::ldexp(static_cast<float>(man | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("npy", fmt::format("cannot open '{}'", path));
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    fail("npy", fmt::format("'{}' is not a .npy file", path));
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint16_t h16;
    in.read(reinterpret_cast<char*>(&h16), 2);
    hlen = h16;
  } else {
    in.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, ' ');
  in.read(header.data(), hlen);
  std::string descr = field(header, "descr"), order = field(header, "fortran_order"),
              shape_txt = field(header, "shape");
  if (order != "False")
    fail("npy", fmt::format("'{}': Fortran-order arrays are not supported", path));
  std::string dims = shape_txt.size() >= 2 ? shape_txt.substr(1, shape_txt.size() - 2) : "";
  while (!dims.empty() && (dims.back() == ',' || dims.back() == ' ')) dims.pop_back();
  Shape shape = parse_shape(dims, "npy");
  int64_t n = numel(shape);
  auto read_all = [&](size_t es) {
    std::vector<char> buf(static_cast<size_t>(n) * es);
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (!in) fail("npy", fmt::format("'{}' is truncated", path));
    return buf;
  };
  if (descr == "<f4") {
    Tensor t = Tensor::empty(shape, DType::F32);
    auto buf = read_all(4);
    std::memcpy(t.raw(), buf.data(), buf.size());
    return t;
  }
  if (descr == "<i4") {
    Tensor t = Tensor::empty(shape, DType::I32);
    auto buf = read_all(4);
    std::memcpy(t.raw(), buf.data(), buf.size());
    return t;
  }
  if (descr == "<f8" || descr == "<f2" || descr == "<i8") {
    Tensor t = Tensor::empty(shape, descr == "<i8" ? DType::I32 : DType::F32);
    auto buf = read_all(descr == "<f2" ? 2 : 8);
    for (int64_t i = 0; i < n; ++i) {
      double v;
      if (descr == "<f8")
        std::memcpy(&v, buf.data() + i * 8, 8);
      else if (descr == "<f2") {
        uint16_t h;
        std::memcpy(&h, buf.data() + i * 2, 2);
        v = half_to_float(h);
      } else {
        int64_t x;
        std::memcpy(&x, buf.data() + i * 8, 8);
        if (x < INT32_MIN || x > INT32_MAX)
          fail("npy", fmt::format("'{}': int64 value {} does not fit int32", path, x));
        v = static_cast<double>(x);
      }
      t.set(i, v);
    }
    return t;
  }
  fail("npy", fmt::format("'{}': unsupported dtype '{}' (float32, float64, float16, int32, int64)",
                          path, descr));
}

void write_npy(const std::string& path, const Tensor& t) {
  Tensor c = t.dtype() == DType::BF16 ? t.to(DType::F32) : t.contiguous();
  std::string descr = c.dtype() == DType::F32 ? "<f4" : c.dtype() == DType::I32 ? "<i4" : "<u4";
  std::string shape;
  for (int64_t d : c.shape()) shape += std::to_string(d) + ",";
  if (c.rank() > 1) shape.pop_back();
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, shape);
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) fail("npy", fmt::format("cannot write '{}'", path));
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t hlen = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&hlen), 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(c.raw()), static_cast<std::streamsize>(c.nbytes()));
}

}  // namespace oomless
