// .npy (NumPy format 1.0/2.0/3.0) reading and writing for the CLI's --input and
// --output. Files are mapped, not read: a whole-file read converts from the
// mapping (float32/int32 files are used in place), and a streamed run maps one
// chunk's span at a time. numpy has no bfloat16: bf16 tensors are written as
// float32. Written files appear whole or not at all (temporary + rename).
#pragma once
#include <memory>
#include <string>

#include "core/tensor.hpp"

namespace oomless {

struct NpyHeader {
  std::string descr;       // "<f4", "<f8", "<f2", "<i4", "<i8"
  Shape shape;             // C order
  size_t data_offset = 0;  // bytes before the array
  size_t item_size = 0;
  DType dtype = DType::F32;  // what it reads as (f64/f16 -> f32, i64 -> i32)
  size_t data_bytes() const;
};

// Parses the header among the first `size` bytes of a .npy file of
// `file_size` bytes (0: `size`); InvalidArgument naming `origin` for anything
// malformed or unsupported, or when the data it announces is longer than the
// file (so nothing is allocated for it).
NpyHeader parse_npy_header(const char* data, size_t size, const std::string& origin,
                           size_t file_size = 0);

// The array of an in-memory .npy file (what read_npy does on the mapping).
Tensor parse_npy(const char* data, size_t size, const std::string& origin);

// Reads float32/float64/float16/int32/int64 little-endian C-order arrays
// (float64 and float16 become float32, int64 becomes int32 when in range).
Tensor read_npy(const std::string& path);
// Writes through a temporary file beside `path`, renamed when complete.
void write_npy(const std::string& path, const Tensor& t);

// A .npy file mapped read-only, read a range along one dimension at a time.
class NpyReader {
 public:
  explicit NpyReader(const std::string& path);
  ~NpyReader();
  NpyReader(const NpyReader&) = delete;
  NpyReader& operator=(const NpyReader&) = delete;
  const NpyHeader& header() const { return h_; }
  const Shape& shape() const { return h_.shape; }
  // Elements [start, start + length) along `dim` as a new contiguous tensor of
  // `dtype` (f32, bf16 or i32); the pages read are given back afterwards.
  Tensor read(int64_t dim, int64_t start, int64_t length, DType dtype) const;

 private:
  std::string path_;
  int fd_ = -1;
  size_t size_ = 0;
  NpyHeader h_;
};

// A .npy file written range by range through a mapping of each range's span:
// created as a hidden temporary beside `path`; commit() renames it into place,
// and a writer destroyed without commit() removes it.
class NpyWriter {
 public:
  NpyWriter(const std::string& path, const Shape& shape, DType dtype);
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  DType file_dtype() const { return dtype_; }
  // Writes `values` (any host dtype; converted) at [start, start + size) along `dim`.
  void write(int64_t dim, int64_t start, const Tensor& values);
  void commit();
  const std::string& temp_path() const { return tmp_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  Shape shape_;
  DType dtype_;
  size_t data_offset_ = 0;
  bool committed_ = false;
};

// Removes temporaries of earlier runs that were killed before they could
// (".NAME.tmp-PID" beside `path` whose process is gone).
void remove_stale_temporaries(const std::string& path);

}  // namespace oomless
