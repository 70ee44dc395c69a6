#include "core/safetensors.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.hpp"

namespace oomless {

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw InvalidArgument(fmt::format("weights {}: {}", path, what));
}

struct Mapping {
  void* p = nullptr;
  size_t n = 0;
  ~Mapping() {
    if (p) munmap(p, n);
  }
};

}  // namespace

std::map<std::string, SafeTensor> read_safetensors(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) bad(path, fmt::format("cannot open ({})", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 8) {
    ::close(fd);
    bad(path, "not a safetensors file (shorter than its 8-byte header length)");
  }
  auto map = std::make_shared<Mapping>();
  map->n = static_cast<size_t>(st.st_size);
  map->p = ::mmap(nullptr, map->n, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map->p == MAP_FAILED) {
    map->p = nullptr;
    bad(path, "mmap failed");
  }
  auto* bytes = static_cast<char*>(map->p);
  uint64_t hlen = 0;
  std::memcpy(&hlen, bytes, 8);
  if (hlen > map->n - 8) bad(path, fmt::format("header length {} exceeds the file", hlen));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(bytes + 8, bytes + 8 + hlen);
  } catch (const std::exception& e) {
    bad(path, fmt::format("header is not JSON ({})", e.what()));
  }
  if (!h.is_object()) bad(path, "header is not a JSON object");
  const size_t base = 8 + hlen;
  std::map<std::string, SafeTensor> out;
  for (const auto& [name, v] : h.items()) {
    if (name == "__metadata__") continue;
    try {
      SafeTensor t;
      t.dtype = v.at("dtype").get<std::string>();
      t.shape = v.at("shape").get<Shape>();
      auto off = v.at("data_offsets").get<std::vector<uint64_t>>();
      if (off.size() != 2 || off[0] > off[1] || base + off[1] > map->n)
        bad(path, fmt::format("tensor '{}': data_offsets out of the file", name));
      std::optional<DType> dt;
      if (t.dtype == "BF16") dt = DType::BF16;
      if (t.dtype == "F32") dt = DType::F32;
      if (dt) {
        size_t want = static_cast<size_t>(numel(t.shape)) * element_size(*dt);
        if (off[1] - off[0] != want)
          bad(path, fmt::format("tensor '{}': {} bytes for shape {} {}", name, off[1] - off[0],
                                shape_str(t.shape), t.dtype));
        auto s = Storage::borrow(bytes + base + off[0], want, map);
        t.tensor = Tensor::wrap(s, t.shape, contiguous_strides(t.shape), *dt);
      }
      out.emplace(name, std::move(t));
    } catch (const nlohmann::json::exception& e) {
      bad(path, fmt::format("tensor '{}': {}", name, e.what()));
    }
  }
  return out;
}

}  // namespace oomless
