// Op arguments: a typed schema per op and the values of one call. The CLI parses
// "name=value" strings; Python passes keyword values; both end up as Args.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace oomless::ops {

// monostate = None.
using ArgValue =
    std::variant<std::monostate, bool, int64_t, double, std::string, std::vector<int64_t>>;

enum class ArgType : uint8_t {
  Bool,
  Int,
  Float,
  Str,
  IntList,
  IntOrList,  // an int or a list of ints (e.g. split's split_size, pool kernel_size)
};

struct ArgSpec {
  std::string_view name;
  ArgType type;
  ArgValue default_value;  // monostate: optional (None) unless `required`
  bool required = false;
  std::string_view help = {};
  std::string_view alias = {};  // a second accepted name (e.g. "sizes")
};

std::string arg_value_str(const ArgValue& v);

class Args {
 public:
  Args() = default;
  // Fills defaults and checks types against the schema; errors name `op`.
  Args(std::string_view op, const std::vector<ArgSpec>& schema,
       std::map<std::string, ArgValue> values);

  bool is_none(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  int64_t get_int(std::string_view name) const;
  double get_float(std::string_view name) const;
  const std::string& get_str(std::string_view name) const;
  // IntList, or IntOrList widened to a list.
  std::vector<int64_t> get_ints(std::string_view name) const;
  const ArgValue& get(std::string_view name) const;
  const std::map<std::string, ArgValue>& values() const { return values_; }
  std::string_view op() const { return op_; }

 private:
  std::string op_;
  std::map<std::string, ArgValue> values_;
};

// Parses "name=value" against the schema: ints, floats, bools (true/false/1/0),
// lists "1,2,3" or "[1,2]", and "none". Unknown names and bad values are errors.
Args parse_args(std::string_view op, const std::vector<ArgSpec>& schema,
                const std::vector<std::string>& kvs);

}  // namespace oomless::ops
