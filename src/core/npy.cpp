#include "core/npy.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "core/host_pool.hpp"

namespace oomless {

namespace {

// A value of the header dict: "'<f4'" -> "<f4", "(1, 2)" -> "(1, 2)", "False".
// nullopt when the key is missing or its value is cut off.
std::optional<std::string> field(const std::string& h, const std::string& key) {
  size_t k = std::string::npos;
  for (const char* q : {"'", "\""}) {
    std::string quoted = q;
    quoted.append(key).append(q);
    k = h.find(quoted);
    if (k != std::string::npos) break;
  }
  if (k == std::string::npos) return std::nullopt;
  size_t colon = h.find(':', k + key.size() + 2);
  if (colon == std::string::npos) return std::nullopt;
  size_t start = h.find_first_not_of(" \t", colon + 1);
  if (start == std::string::npos) return std::nullopt;
  char c = h[start];
  if (c == '(') {
    size_t end = h.find(')', start);
    if (end == std::string::npos) return std::nullopt;
    return h.substr(start, end - start + 1);
  }
  if (c == '\'' || c == '"') {
    size_t end = h.find(c, start + 1);
    if (end == std::string::npos) return std::nullopt;
    return h.substr(start + 1, end - start - 1);
  }
  size_t end = h.find_first_of(",}", start);
  std::string v = h.substr(start, end == std::string::npos ? std::string::npos : end - start);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
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

[[noreturn]] void bad(const std::string& origin, const std::string& what) {
  fail("npy", fmt::format("'{}': {}", origin, what));
}

// Decodes n elements of the file's type at `src` into `dst` of dtype `to`.
void decode(const NpyHeader& h, const char* src, int64_t n, DType to, void* dst,
            const std::string& origin) {
  auto put = [&](int64_t i, double v) {
    switch (to) {
      case DType::F32:
        static_cast<float*>(dst)[i] = static_cast<float>(v);
        break;
      case DType::BF16:
        static_cast<uint16_t*>(dst)[i] = f32_to_bf16(static_cast<float>(v));
        break;
      default:
        static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v);
        break;
    }
  };
  const std::string& d = h.descr;
  if (d == "<f4" && to == DType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
  } else if (d == "<i4" && to == DType::I32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
  } else if (d == "<f4") {
    for (int64_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, src + i * 4, 4);
      if (to == DType::BF16)
        static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v);
      else
        put(i, std::isfinite(v) ? v : 0);
    }
  } else if (d == "<f8") {
    for (int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, src + i * 8, 8);
      if (to == DType::I32 && !(std::fabs(v) < 2147483648.0)) v = 0;
      put(i, v);
    }
  } else if (d == "<f2") {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t b;
      std::memcpy(&b, src + i * 2, 2);
      double v = half_to_float(b);
      if (to == DType::I32 && !std::isfinite(v)) v = 0;
      put(i, v);
    }
  } else if (d == "<i4") {
    for (int64_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, src + i * 4, 4);
      put(i, v);
    }
  } else {  // <i8
    for (int64_t i = 0; i < n; ++i) {
      int64_t v;
      std::memcpy(&v, src + i * 8, 8);
      if (v < INT32_MIN || v > INT32_MAX)
        bad(origin, fmt::format("int64 value {} does not fit int32", v));
      put(i, static_cast<double>(v));
    }
  }
}

// The elements of a range along `dim`: `runs` contiguous runs of `run`
// elements, run r starting at element first + r * stride.
struct Runs {
  int64_t count = 1, run = 0, first = 0, stride = 0;
};
Runs runs_of(const Shape& shape, int64_t dim, int64_t start, int64_t length) {
  Runs r;
  if (shape.empty()) {
    r.run = 1;
    return r;
  }
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= shape[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(dim) + 1; i < shape.size(); ++i) inner *= shape[i];
  int64_t extent = shape[static_cast<size_t>(dim)];
  r.count = outer;
  r.run = length * inner;
  r.first = start * inner;
  r.stride = extent * inner;
  if (length == extent || outer == 1) {  // one contiguous span
    r.run *= outer == 1 ? 1 : outer;
    r.count = 1;
  }
  return r;
}

void check_range(const Shape& shape, int64_t dim, int64_t start, int64_t length,
                 const std::string& origin) {
  if (shape.empty() && dim == 0 && start == 0 && length == 1) return;
  if (dim < 0 || dim >= static_cast<int64_t>(shape.size()) || start < 0 || length < 0 ||
      start + length > shape[static_cast<size_t>(dim)])
    bad(origin, fmt::format("range [{}, {}) of dim {} is outside shape {}", start, start + length,
                            dim, shape_str(shape)));
}

size_t page_size() {
  return static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// A mapping of [offset, offset + bytes) of a file, page-aligned inside.
struct Window {
  void* base = MAP_FAILED;
  size_t len = 0;
  char* data = nullptr;
  Window(int fd, size_t offset, size_t bytes, bool write) {
    size_t lead = offset % page_size();
    len = bytes + lead;
    if (len == 0) return;
    host_pool::inject::check(len, "mapped file");
    base = mmap(nullptr, len, write ? PROT_READ | PROT_WRITE : PROT_READ,
                write ? MAP_SHARED : MAP_PRIVATE, fd, static_cast<off_t>(offset - lead));
    if (base == MAP_FAILED)
      throw HostOutOfMemory(fmt::format("cannot map {} B of a file: {}", len, std::strerror(errno)),
                            static_cast<int64_t>(len));
    data = static_cast<char*>(base) + lead;
  }
  ~Window() {
    if (base != MAP_FAILED) munmap(base, len);  // its pages leave this process's RSS
  }
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;
};

std::string npy_header_text(const Shape& shape, const std::string& descr) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, dims);
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  uint16_t hlen = static_cast<uint16_t>(header.size());
  out.append(reinterpret_cast<const char*>(&hlen), 2);
  return out + header;
}

void write_fully(int fd, const char* p, size_t n, off_t at, const std::string& path) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("npy", fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
    p += w;
    n -= static_cast<size_t>(w);
    at += w;
  }
}

std::string temp_name(const std::string& path) {
  std::filesystem::path p(path);
  return (p.parent_path() / fmt::format(".{}.tmp-{}", p.filename().string(), getpid())).string();
}

}  // namespace

size_t NpyHeader::data_bytes() const {
  return static_cast<size_t>(numel(shape)) * item_size;
}

NpyHeader parse_npy_header(const char* data, size_t size, const std::string& origin,
                           size_t file_size) {
  if (file_size == 0) file_size = size;
  if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) bad(origin, "not a .npy file");
  uint8_t major = static_cast<uint8_t>(data[6]);
  size_t hlen = 0, start = 0;
  if (major == 1) {
    uint16_t h16;
    std::memcpy(&h16, data + 8, 2);
    hlen = h16;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) bad(origin, "truncated header");
    uint32_t h32;
    std::memcpy(&h32, data + 8, 4);
    hlen = h32;
    start = 12;
  } else {
    bad(origin, fmt::format("unsupported .npy version {}", major));
  }
  if (hlen > size - start) bad(origin, "truncated header");
  std::string header(data + start, hlen);
  NpyHeader h;
  h.data_offset = start + hlen;
  auto descr = field(header, "descr"), order = field(header, "fortran_order"),
       shape = field(header, "shape");
  if (!descr || !order || !shape) bad(origin, "header lacks 'descr', 'fortran_order' or 'shape'");
  if (*order != "False") bad(origin, "Fortran-order arrays are not supported");
  h.descr = *descr;
  if (h.descr.size() == 3 && (h.descr[0] == '=' || h.descr[0] == '|')) h.descr[0] = '<';
  if (h.descr == "<f4" || h.descr == "<i4") {
    h.item_size = 4;
    h.dtype = h.descr == "<f4" ? DType::F32 : DType::I32;
  } else if (h.descr == "<f8" || h.descr == "<i8") {
    h.item_size = 8;
    h.dtype = h.descr == "<f8" ? DType::F32 : DType::I32;
  } else if (h.descr == "<f2") {
    h.item_size = 2;
    h.dtype = DType::F32;
  } else {
    bad(origin,
        fmt::format("unsupported dtype '{}' (float32, float64, float16, int32, int64)", *descr));
  }
  if (shape->size() < 2) bad(origin, "bad shape");
  std::string dims = shape->substr(1, shape->size() - 2);
  while (!dims.empty() && (dims.back() == ',' || dims.back() == ' ')) dims.pop_back();
  h.shape = parse_shape(dims, "npy");
  size_t have = file_size > h.data_offset ? file_size - h.data_offset : 0;
  if (static_cast<size_t>(numel(h.shape)) > have / h.item_size)
    bad(origin,
        fmt::format("is truncated: shape {} needs {} B of data, the file has {}",
                    shape_str(h.shape), static_cast<size_t>(numel(h.shape)) * h.item_size, have));
  return h;
}

Tensor parse_npy(const char* data, size_t size, const std::string& origin) {
  NpyHeader h = parse_npy_header(data, size, origin);
  Tensor t = Tensor::empty(h.shape, h.dtype);
  decode(h, data + h.data_offset, t.numel(), h.dtype, t.raw(), origin);
  return t;
}

// --- reading ---------------------------------------------------------------------------------

NpyReader::NpyReader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail("npy", fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fail("npy", fmt::format("'{}' is not a regular file", path));
  }
  size_ = static_cast<size_t>(st.st_size);
  try {
    // The header is small: read it (numpy's are under a few KiB), map only data.
    std::string head(std::min<size_t>(size_, 1 << 20), '\0');
    ssize_t got = pread(fd_, head.data(), head.size(), 0);
    if (got < 0) bad(path, std::strerror(errno));
    head.resize(static_cast<size_t>(got));
    h_ = parse_npy_header(head.data(), head.size(), path, size_);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

NpyReader::~NpyReader() {
  if (fd_ >= 0) ::close(fd_);
}

Tensor NpyReader::read(int64_t dim, int64_t start, int64_t length, DType dtype) const {
  check_range(h_.shape, dim, start, length, path_);
  Shape shape = h_.shape;
  if (!shape.empty()) shape[static_cast<size_t>(dim)] = length;
  Tensor out = Tensor::empty(shape, dtype);
  Runs r = runs_of(h_.shape, dim, start, length);
  if (out.numel() == 0) return out;
  const size_t es = element_size(dtype), is = h_.item_size;
  char* dst = static_cast<char*>(out.raw());
  if (r.count == 1) {
    // One span: mapped, decoded, unmapped.
    Window w(fd_, h_.data_offset + static_cast<size_t>(r.first) * is,
             static_cast<size_t>(r.run) * is, false);
    decode(h_, w.data, r.run, dtype, dst, path_);
    return out;
  }
  // Runs spread over the file (a cut along an inner dim): read each run.
  std::vector<char> buf;
  for (int64_t k = 0; k < r.count; ++k) {
    size_t bytes = static_cast<size_t>(r.run) * is;
    buf.resize(bytes);
    off_t at =
        static_cast<off_t>(h_.data_offset + static_cast<size_t>(r.first + k * r.stride) * is);
    size_t done = 0;
    while (done < bytes) {
      ssize_t got = pread(fd_, buf.data() + done, bytes - done, at + static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) bad(path_, "is truncated");
      done += static_cast<size_t>(got);
    }
    decode(h_, buf.data(), r.run, dtype, dst + static_cast<size_t>(k * r.run) * es, path_);
  }
  return out;
}

Tensor read_npy(const std::string& path) {
  NpyReader r(path);
  const Shape& s = r.shape();
  if (s.empty()) return r.read(0, 0, 1, r.header().dtype);
  return r.read(0, 0, s[0], r.header().dtype);
}

// --- writing ---------------------------------------------------------------------------------

NpyWriter::NpyWriter(const std::string& path, const Shape& shape, DType dtype)
    : path_(path), tmp_(temp_name(path)), shape_(shape) {
  dtype_ = dtype == DType::I32 ? DType::I32 : dtype == DType::U32 ? DType::U32 : DType::F32;
  std::string descr = dtype_ == DType::F32 ? "<f4" : dtype_ == DType::I32 ? "<i4" : "<u4";
  std::string head = npy_header_text(shape, descr);
  data_offset_ = head.size();
  remove_stale_temporaries(path);
  fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("npy", fmt::format("cannot write '{}': {}", tmp_, std::strerror(errno)));
  try {
    write_fully(fd_, head.data(), head.size(), 0, tmp_);
    size_t bytes = static_cast<size_t>(numel(shape)) * 4;
    if (ftruncate(fd_, static_cast<off_t>(data_offset_ + bytes)) != 0)
      fail("npy", fmt::format("cannot size '{}' to {} B: {}", tmp_, data_offset_ + bytes,
                              std::strerror(errno)));
  } catch (...) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
    throw;
  }
}

NpyWriter::~NpyWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

static void encode(const Tensor& src, int64_t first, int64_t n, DType to, char* dst) {
  // src is contiguous; copy elements [first, first + n) converted to `to`.
  const char* p =
      static_cast<const char*>(src.raw()) + first * static_cast<int64_t>(element_size(src.dtype()));
  if (src.dtype() == to) {
    std::memcpy(dst, p, static_cast<size_t>(n) * element_size(to));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    double v;
    switch (src.dtype()) {
      case DType::BF16: {
        uint16_t b;
        std::memcpy(&b, p + i * 2, 2);
        v = bf16_to_f32(b);
        break;
      }
      case DType::F32: {
        float f;
        std::memcpy(&f, p + i * 4, 4);
        v = f;
        break;
      }
      case DType::I32: {
        int32_t x;
        std::memcpy(&x, p + i * 4, 4);
        v = x;
        break;
      }
      case DType::U32: {
        uint32_t x;
        std::memcpy(&x, p + i * 4, 4);
        v = x;
        break;
      }
      default:
        throw Error("npy: bfloat8_b has no host form");
    }
    if (to == DType::F32) {
      float f = static_cast<float>(v);
      std::memcpy(dst + i * 4, &f, 4);
    } else if (to == DType::I32) {
      int32_t x = static_cast<int32_t>(v);
      std::memcpy(dst + i * 4, &x, 4);
    } else {
      uint32_t x = static_cast<uint32_t>(v);
      std::memcpy(dst + i * 4, &x, 4);
    }
  }
}

void NpyWriter::write(int64_t dim, int64_t start, const Tensor& values) {
  int64_t length = shape_.empty() ? 1 : values.size(dim);
  check_range(shape_, shape_.empty() ? 0 : dim, start, length, tmp_);
  Tensor src = values.contiguous();
  Runs r = runs_of(shape_, shape_.empty() ? 0 : dim, start, length);
  if (src.numel() == 0) return;
  if (r.count == 1) {
    // One span: mapped shared, written, unmapped (dirty pages go to the file).
    Window w(fd_, data_offset_ + static_cast<size_t>(r.first) * 4, static_cast<size_t>(r.run) * 4,
             true);
    encode(src, 0, r.run, dtype_, w.data);
    return;
  }
  std::vector<char> buf;
  for (int64_t k = 0; k < r.count; ++k) {
    buf.resize(static_cast<size_t>(r.run) * 4);
    encode(src, k * r.run, r.run, dtype_, buf.data());
    write_fully(fd_, buf.data(), buf.size(),
                static_cast<off_t>(data_offset_ + static_cast<size_t>(r.first + k * r.stride) * 4),
                tmp_);
  }
}

void NpyWriter::commit() {
  if (committed_) return;
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail("npy", fmt::format("cannot write '{}': {}", tmp_, std::strerror(errno)));
  }
  fd_ = -1;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail("npy", fmt::format("cannot rename '{}' to '{}': {}", tmp_, path_, std::strerror(errno)));
  committed_ = true;
}

void write_npy(const std::string& path, const Tensor& t) {
  if (t.dtype() == DType::BFP8_B) throw Error("npy: bfloat8_b has no host form");
  NpyWriter w(path, t.shape(), t.dtype());
  w.write(0, 0, t);
  w.commit();
}

void remove_stale_temporaries(const std::string& path) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::string prefix = fmt::format(".{}.tmp-", p.filename().string());
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0) continue;
    long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    // Another live run's temporary stays; a dead one's goes.
    if (pid > 0 && pid != getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      ::unlink((dir + "/" + name).c_str());
  }
  closedir(d);
}

}  // namespace oomless
