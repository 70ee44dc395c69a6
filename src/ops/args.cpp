#include "ops/args.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.hpp"

namespace oomless::ops {

std::string arg_value_str(const ArgValue& v) {
  struct V {
    std::string operator()(std::monostate) const { return "None"; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return fmt::format("{}", d); }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(const std::vector<int64_t>& l) const {
      return fmt::format("[{}]", fmt::join(l, ","));
    }
  };
  return std::visit(V{}, v);
}

static std::string_view type_name(ArgType t) {
  switch (t) {
    case ArgType::Bool:
      return "bool";
    case ArgType::Int:
      return "int";
    case ArgType::Float:
      return "float";
    case ArgType::Str:
      return "string";
    case ArgType::IntList:
      return "list of ints";
    case ArgType::IntOrList:
      return "int or list of ints";
  }
  return "?";
}

// Coerces a value to the schema type (ints widen to floats and lists).
static ArgValue coerce(std::string_view op, const ArgSpec& s, const ArgValue& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    if (s.required) fail(op, fmt::format("argument '{}' is required", s.name));
    return v;
  }
  auto bad = [&]() -> ArgValue {
    fail(op, fmt::format("argument '{}' must be a {}, got {}", s.name, type_name(s.type),
                         arg_value_str(v)));
  };
  switch (s.type) {
    case ArgType::Bool:
      if (auto* b = std::get_if<bool>(&v)) return *b;
      if (auto* i = std::get_if<int64_t>(&v); i && (*i == 0 || *i == 1)) return *i == 1;
      return bad();
    case ArgType::Int:
      if (auto* i = std::get_if<int64_t>(&v)) return *i;
      if (auto* b = std::get_if<bool>(&v)) return static_cast<int64_t>(*b);
      return bad();
    case ArgType::Float:
      if (auto* d = std::get_if<double>(&v)) return *d;
      if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
      return bad();
    case ArgType::Str:
      if (auto* str = std::get_if<std::string>(&v)) return *str;
      return bad();
    case ArgType::IntList:
      if (auto* l = std::get_if<std::vector<int64_t>>(&v)) return *l;
      if (auto* i = std::get_if<int64_t>(&v)) return std::vector<int64_t>{*i};
      return bad();
    case ArgType::IntOrList:
      if (std::holds_alternative<std::vector<int64_t>>(v) || std::holds_alternative<int64_t>(v))
        return v;
      return bad();
  }
  return bad();
}

Args::Args(std::string_view op, const std::vector<ArgSpec>& schema,
           std::map<std::string, ArgValue> values)
    : op_(op) {
  for (const auto& s : schema) {
    if (s.alias.empty()) continue;
    auto it = values.find(std::string(s.alias));
    if (it == values.end()) continue;
    if (values.count(std::string(s.name)))
      fail(op, fmt::format("argument '{}' given twice (also as '{}')", s.name, s.alias));
    values[std::string(s.name)] = it->second;
    values.erase(it);
  }
  for (const auto& [k, v] : values) {
    bool known = false;
    for (const auto& s : schema) known |= s.name == k;
    if (!known) {
      std::vector<std::string_view> names;
      for (const auto& s : schema) names.push_back(s.name);
      fail(op, fmt::format("unknown argument '{}' (accepted: {})", k,
                           names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
  }
  for (const auto& s : schema) {
    auto it = values.find(std::string(s.name));
    values_[std::string(s.name)] = coerce(op, s, it == values.end() ? s.default_value : it->second);
  }
}

const ArgValue& Args::get(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) throw Error(fmt::format("[{}] internal: no argument '{}'", op_, name));
  return it->second;
}

bool Args::is_none(std::string_view name) const {
  return std::holds_alternative<std::monostate>(get(name));
}

template <class T>
static const T& typed(const Args& a, std::string_view name) {
  const ArgValue& v = a.get(name);
  if (auto* p = std::get_if<T>(&v)) return *p;
  fail(a.op(),
       fmt::format("argument '{}' is {} here, which this op cannot use", name, arg_value_str(v)));
}

bool Args::get_bool(std::string_view name) const {
  return typed<bool>(*this, name);
}
int64_t Args::get_int(std::string_view name) const {
  return typed<int64_t>(*this, name);
}
double Args::get_float(std::string_view name) const {
  return typed<double>(*this, name);
}
const std::string& Args::get_str(std::string_view name) const {
  return typed<std::string>(*this, name);
}
std::vector<int64_t> Args::get_ints(std::string_view name) const {
  const ArgValue& v = get(name);
  if (auto* i = std::get_if<int64_t>(&v)) return {*i};
  return typed<std::vector<int64_t>>(*this, name);
}

static bool parse_int(std::string_view t, int64_t& out) {
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  return ec == std::errc() && p == t.data() + t.size() && !t.empty();
}

static ArgValue parse_value(std::string_view op, const ArgSpec& s, std::string_view text) {
  // A string argument may itself be "none" (gelu's approximate).
  if (s.type != ArgType::Str && (text == "none" || text == "None" || text == "null"))
    return std::monostate{};
  auto bad = [&]() -> ArgValue {
    fail(op, fmt::format("argument '{}' must be a {}, got '{}'", s.name, type_name(s.type), text));
  };
  switch (s.type) {
    case ArgType::Bool:
      if (text == "true" || text == "True" || text == "1") return true;
      if (text == "false" || text == "False" || text == "0") return false;
      return bad();
    case ArgType::Int: {
      int64_t i;
      return parse_int(text, i) ? ArgValue(i) : bad();
    }
    case ArgType::Float: {
      std::string t(text);
      if (t == "inf" || t == "+inf") return HUGE_VAL;
      if (t == "-inf") return -HUGE_VAL;
      char* end = nullptr;
      double d = std::strtod(t.c_str(), &end);
      return (!t.empty() && end == t.c_str() + t.size()) ? ArgValue(d) : bad();
    }
    case ArgType::Str:
      return std::string(text);
    case ArgType::IntList:
    case ArgType::IntOrList: {
      std::string t;
      bool bracket = false;
      for (char c : text) {
        if (c == '[' || c == ']' || c == '(' || c == ')')
          bracket = true;
        else if (c != ' ')
          t += c;
      }
      std::vector<int64_t> l;
      size_t pos = 0;
      while (!t.empty() && pos <= t.size()) {
        size_t end = t.find(',', pos);
        if (end == std::string::npos) end = t.size();
        int64_t i;
        if (!parse_int(std::string_view(t).substr(pos, end - pos), i)) return bad();
        l.push_back(i);
        pos = end + 1;
      }
      if (s.type == ArgType::IntOrList && l.size() == 1 && !bracket &&
          text.find(',') == std::string_view::npos)
        return l[0];
      return l;
    }
  }
  return bad();
}

Args parse_args(std::string_view op, const std::vector<ArgSpec>& schema,
                const std::vector<std::string>& kvs) {
  std::map<std::string, ArgValue> values;
  for (const auto& kv : kvs) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      fail(op, fmt::format("argument '{}' is not of the form name=value", kv));
    std::string name = kv.substr(0, eq);
    const ArgSpec* spec = nullptr;
    for (const auto& s : schema)
      if (s.name == name || (!s.alias.empty() && s.alias == name)) spec = &s;
    if (spec) name = spec->name;
    if (!spec) {
      values[name] = std::monostate{};  // reported as unknown by Args()
      continue;
    }
    values[name] = parse_value(op, *spec, std::string_view(kv).substr(eq + 1));
  }
  return Args(op, schema, std::move(values));
}

}  // namespace oomless::ops
