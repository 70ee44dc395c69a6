#include "core/error.hpp"

#include <fmt/format.h>

namespace oomless {

void fail(std::string_view op, const std::string& message) {
  throw InvalidArgument(fmt::format("[{}] {}", op, message));
}

}  // namespace oomless
