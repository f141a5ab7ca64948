#include "plugins/compliance/audit/policy/policy.hpp"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

namespace strata::audit {

using json = nlohmann::json;

namespace policy_detail {

enum class Op { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn, AllIn, Exists, IsSha256 };

struct OpInfo {
  std::string_view text;
  Op op;
  bool takes_value;
};

constexpr OpInfo kOps[] = {
    {"==", Op::Eq, true},      {"!=", Op::Ne, true},        {"<", Op::Lt, true},
    {"<=", Op::Le, true},      {">", Op::Gt, true},         {">=", Op::Ge, true},
    {"in", Op::In, true},      {"not_in", Op::NotIn, true}, {"all_in", Op::AllIn, true},
    {"exists", Op::Exists, false}, {"is_sha256", Op::IsSha256, false},
};

bool is_ordered(Op op) { return op == Op::Lt || op == Op::Le || op == Op::Gt || op == Op::Ge; }
bool is_list(Op op) { return op == Op::In || op == Op::NotIn || op == Op::AllIn; }

struct Step {
  enum class Kind { Key, Index, Wildcard } kind = Kind::Key;
  std::string key;
  std::size_t index = 0;
};

struct Condition {
  bool is_approvals = false;
  std::size_t at_least = 0;  // approvals
  std::string path_text;
  std::vector<Step> path;
  bool wildcard = false;
  Op op = Op::Eq;
  std::string op_text;
  json value;
};

struct Rule {
  std::string id;
  bool forbid = false;
  std::vector<std::string> gates;
  std::vector<Condition> when;
  std::string reason;

  bool names(std::string_view gate) const {
    return std::find(gates.begin(), gates.end(), gate) != gates.end();
  }
};

// ---------------------------------------------------------------------------------------
// Small helpers

// JSON text of `v` for messages: never throws, replaces invalid UTF-8.
std::string show_full(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string quote(std::string_view s) { return show_full(json(std::string(s))); }

// Cut a message fragment to at most `max` bytes on a UTF-8 character boundary.
std::string shorten(std::string s, std::size_t max = 80) {
  if (s.size() <= max) return s;
  std::size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

std::string show(const json& v) { return shorten(show_full(v)); }

std::string show_list(const json& list) {
  const std::string text = show_full(list);
  if (text.size() <= 80) return text;
  return "the " + std::to_string(list.size()) + " listed values";
}

std::string pointer_escape(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

template <typename Range>
std::string join_views(const Range& parts, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& p : parts) {
    if (!first) out += sep;
    out += p;
    first = false;
  }
  return out;
}

// Optimal-string-alignment distance (adjacent swaps cost 1).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean "x"?)" for the closest candidate within max(1, |word|/3) edits; among
// equally close candidates, one with the same letters ("=<" vs "<=") wins, then the first.
template <typename Range>
std::string did_you_mean(std::string_view word, const Range& candidates) {
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string sorted_word(word);
  std::sort(sorted_word.begin(), sorted_word.end());
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  bool best_anagram = false;
  for (const auto& c : candidates) {
    const std::string candidate(c);
    const std::size_t dist = edit_distance(word, candidate);
    if (dist > limit) continue;
    std::string sorted_candidate = candidate;
    std::sort(sorted_candidate.begin(), sorted_candidate.end());
    const bool anagram = sorted_candidate == sorted_word;
    if (dist < best_distance || (dist == best_distance && anagram && !best_anagram)) {
      best = candidate;
      best_distance = dist;
      best_anagram = anagram;
    }
  }
  return best ? " (did you mean " + quote(*best) + "?)" : std::string();
}

bool is_sha256_hex(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_scalar(const json& v) { return v.is_string() || v.is_number() || v.is_boolean(); }

// Exact comparison of two JSON numbers (integers, unsigned and doubles). long double holds
// every int64, uint64 and double exactly on x86-64 (64-bit mantissa) and aarch64 (113).
int compare_numbers(const json& a, const json& b) {
  auto as_ld = [](const json& v) -> long double {
    if (v.is_number_unsigned()) return static_cast<long double>(v.get<std::uint64_t>());
    if (v.is_number_integer()) return static_cast<long double>(v.get<std::int64_t>());
    return static_cast<long double>(v.get<double>());
  };
  const long double x = as_ld(a), y = as_ld(b);
  return x < y ? -1 : (x > y ? 1 : 0);
}

// Equality for ==, !=, in, not_in: numbers compare by value (1 == 1.0), everything else
// must have the same JSON type and be equal.
bool same_value(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  return a == b;
}

bool same_type_family(const json& a, const json& b) {
  return (a.is_number() && b.is_number()) || a.type() == b.type();
}

// ---------------------------------------------------------------------------------------
// Parsing

class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void error(const std::string& pointer, const std::string& message) const {
    throw PolicyError(source_ + ": " + (pointer.empty() ? std::string() : pointer + ": ") + message);
  }

  void check_keys(const json& obj, const std::string& pointer, std::initializer_list<std::string_view> allowed,
                  std::string_view what) const {
    for (const auto& [key, _] : obj.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      error(pointer + "/" + pointer_escape(key), "unknown key " + quote(key) + did_you_mean(key, allowed) + "; " +
                                                     std::string(what) + " has the keys " +
                                                     join_views(allowed, ", "));
    }
  }

  const json& require(const json& obj, const std::string& pointer, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) error(pointer, std::string("missing required key ") + quote(key));
    return *it;
  }

  void require_type(const json& v, bool ok, const std::string& pointer, const char* expected) const {
    if (!ok) error(pointer, std::string("expected ") + expected + ", got " + v.type_name() + " " + show(v));
  }

  std::string identifier(const json& v, const std::string& pointer) const {
    require_type(v, v.is_string(), pointer, "a string");
    const auto& s = v.get_ref<const std::string&>();
    auto word = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    const bool ok = !s.empty() && s.size() <= 128 && word(s[0]) &&
                    std::all_of(s.begin(), s.end(), [&](char c) { return word(c) || c == '.' || c == '_' || c == '-'; });
    if (!ok)
      error(pointer, "invalid id " + quote(s) +
                         ": an id is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit");
    return s;
  }

  std::vector<Step> path(const json& v, const std::string& pointer) const {
    require_type(v, v.is_string(), pointer, "a string");
    const auto& text = v.get_ref<const std::string&>();
    auto bad = [&](std::size_t at, const std::string& why) {
      error(pointer, "invalid path " + quote(text) + ": " + why + " at character " + std::to_string(at + 1) +
                         " (a path is dotted keys with [N] indices or [*], e.g. event.sources[*].sha256)");
    };
    auto key_char = [](char c) {
      return c != '.' && c != '[' && c != ']' && static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
    };
    std::vector<Step> steps;
    std::size_t i = 0;
    auto read_key = [&] {
      const std::size_t start = i;
      while (i < text.size() && key_char(text[i])) ++i;
      if (i == start) bad(start, "expected a key");
      steps.push_back({Step::Kind::Key, text.substr(start, i - start), 0});
    };
    if (text.empty()) error(pointer, "the path is empty");
    read_key();
    while (i < text.size()) {
      if (text[i] == '.') {
        ++i;
        read_key();
      } else if (text[i] == '[') {
        ++i;
        if (i < text.size() && text[i] == '*') {
          ++i;
          steps.push_back({Step::Kind::Wildcard, {}, 0});
        } else {
          const std::size_t start = i;
          while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
          if (i == start) bad(start, "expected an index or *");
          if (i - start > 9) bad(start, "index too large");
          if (text[start] == '0' && i - start > 1) bad(start, "index with a leading zero");
          steps.push_back({Step::Kind::Index, {}, static_cast<std::size_t>(std::stoul(text.substr(start, i - start)))});
        }
        if (i >= text.size() || text[i] != ']') bad(i, "expected ']'");
        ++i;
      } else {
        bad(i, std::string("unexpected ") + quote(std::string(1, text[i])));
      }
    }
    const std::string& root = steps.front().key;
    if (std::find(kPolicyInputRoots.begin(), kPolicyInputRoots.end(), root) == kPolicyInputRoots.end())
      error(pointer, "a path starts with one of " + join_views(kPolicyInputRoots, ", ") + ", not " + quote(root) +
                         did_you_mean(root, kPolicyInputRoots));
    return steps;
  }

  Condition condition(const json& c, const std::string& pointer) const {
    require_type(c, c.is_object(), pointer, "a condition object");
    Condition out;
    if (c.contains("approvals")) {
      check_keys(c, pointer, {"approvals"}, "an approvals condition");
      const std::string ap = pointer + "/approvals";
      const json& a = c.at("approvals");
      require_type(a, a.is_object(), ap, "an object {\"at_least\": k}");
      check_keys(a, ap, {"at_least"}, "\"approvals\"");
      const json& k = require(a, ap, "at_least");
      const bool ok = k.is_number_unsigned() && k.get<std::uint64_t>() >= 1 && k.get<std::uint64_t>() <= 1000;
      if (!ok) error(ap + "/at_least", "expected an integer from 1 to 1000, got " + show(k));
      out.is_approvals = true;
      out.at_least = k.get<std::size_t>();
      return out;
    }
    check_keys(c, pointer, {"path", "op", "value"}, "a condition");
    const json& path = require(c, pointer, "path");
    const json& op = require(c, pointer, "op");
    out.path = this->path(path, pointer + "/path");
    out.path_text = path.get<std::string>();
    out.wildcard = std::any_of(out.path.begin(), out.path.end(), [](const Step& s) { return s.kind == Step::Kind::Wildcard; });
    require_type(op, op.is_string(), pointer + "/op", "a string");
    out.op_text = op.get<std::string>();
    const OpInfo* info = nullptr;
    for (const auto& o : kOps)
      if (o.text == out.op_text) info = &o;
    if (!info) {
      std::vector<std::string_view> names;
      for (const auto& o : kOps) names.push_back(o.text);
      error(pointer + "/op", "unknown operator " + quote(out.op_text) + did_you_mean(out.op_text, names) +
                                 "; the operators are " + join_views(names, ", "));
    }
    out.op = info->op;
    const bool has_value = c.contains("value");
    if (info->takes_value && !has_value) error(pointer, "operator " + quote(out.op_text) + " needs a \"value\"");
    if (!info->takes_value && has_value)
      error(pointer + "/value", "operator " + quote(out.op_text) + " takes no \"value\"");
    if (has_value) out.value = c.at("value");
    const std::string vp = pointer + "/value";
    if (is_ordered(out.op)) {
      if (!out.value.is_number() || !std::isfinite(out.value.get<double>()))
        error(vp, "operator " + quote(out.op_text) + " compares numbers, got " + out.value.type_name() + " " +
                      show(out.value));
    }
    if (is_list(out.op)) {
      if (!out.value.is_array())
        error(vp, "operator " + quote(out.op_text) + " needs an array value, got " + out.value.type_name() + " " +
                      show(out.value));
      for (std::size_t i = 0; i < out.value.size(); ++i) {
        const json& e = out.value[i];
        if (!is_scalar(e) || (e.is_number_float() && !std::isfinite(e.get<double>())))
          error(vp + "/" + std::to_string(i), "expected a string, number or boolean, got " + std::string(e.type_name()));
      }
    }
    if (out.op == Op::AllIn && !out.wildcard)
      error(pointer + "/path", "operator \"all_in\" needs a path with [*] (every element must be in the list), got " +
                                   quote(out.path_text) + "; for one value use \"in\"");
    return out;
  }

  Rule rule(const json& r, const std::string& pointer) const {
    require_type(r, r.is_object(), pointer, "a rule object");
    check_keys(r, pointer, {"id", "effect", "gates", "when", "reason"}, "a rule");
    Rule out;
    out.id = identifier(require(r, pointer, "id"), pointer + "/id");
    const json& effect = require(r, pointer, "effect");
    require_type(effect, effect.is_string(), pointer + "/effect", "a string");
    const auto& e = effect.get_ref<const std::string&>();
    constexpr std::array<std::string_view, 2> kEffects = {"permit", "forbid"};
    if (e != "permit" && e != "forbid")
      error(pointer + "/effect",
            "unknown effect " + quote(e) + did_you_mean(e, kEffects) + "; the effects are permit, forbid");
    out.forbid = e == "forbid";
    const json& gates = require(r, pointer, "gates");
    require_type(gates, gates.is_array() && !gates.empty(), pointer + "/gates", "a non-empty array of gate names");
    for (std::size_t i = 0; i < gates.size(); ++i) {
      const std::string gp = pointer + "/gates/" + std::to_string(i);
      require_type(gates[i], gates[i].is_string(), gp, "a gate name");
      const auto& g = gates[i].get_ref<const std::string&>();
      if (!is_policy_gate(g))
        error(gp, "unknown gate " + quote(g) + did_you_mean(g, kPolicyGates) + "; the gates are " +
                      join_views(kPolicyGates, ", "));
      if (out.names(g)) error(gp, "gate " + quote(g) + " is listed twice");
      out.gates.push_back(g);
    }
    if (auto it = r.find("when"); it != r.end()) {
      require_type(*it, it->is_array(), pointer + "/when", "an array of conditions");
      for (std::size_t i = 0; i < it->size(); ++i)
        out.when.push_back(condition((*it)[i], pointer + "/when/" + std::to_string(i)));
    }
    if (auto it = r.find("reason"); it != r.end()) {
      require_type(*it, it->is_string() && !it->get_ref<const std::string&>().empty(), pointer + "/reason",
                   "a non-empty string");
      out.reason = it->get<std::string>();
    }
    return out;
  }

 private:
  std::string source_;
};

// Finds the first duplicate object key in JSON text (nlohmann keeps the last silently).
class DuplicateKeyFinder : public nlohmann::json_sax<json> {
 public:
  std::optional<std::pair<std::string, std::string>> found;  // pointer, key

  bool null() override { return value_done(); }
  bool boolean(bool) override { return value_done(); }
  bool number_integer(number_integer_t) override { return value_done(); }
  bool number_unsigned(number_unsigned_t) override { return value_done(); }
  bool number_float(number_float_t, const string_t&) override { return value_done(); }
  bool string(string_t&) override { return value_done(); }
  bool binary(binary_t&) override { return value_done(); }
  bool start_object(std::size_t) override {
    stack_.push_back({false, 0, {}, {}});
    return true;
  }
  bool key(string_t& k) override {
    Frame& f = stack_.back();
    f.key = k;
    if (!f.keys.insert(k).second) {
      found = std::make_pair(pointer(), k);
      return false;
    }
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return value_done();
  }
  bool start_array(std::size_t) override {
    stack_.push_back({true, 0, {}, {}});
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return value_done();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  struct Frame {
    bool array;
    std::size_t index;
    std::set<std::string> keys;
    std::string key;
  };
  std::vector<Frame> stack_;

  bool value_done() {
    if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    return true;
  }
  std::string pointer() const {
    std::string out;
    for (const Frame& f : stack_) out += "/" + (f.array ? std::to_string(f.index) : pointer_escape(f.key));
    return out;
  }
};

// ---------------------------------------------------------------------------------------
// Evaluation

struct Leaf {
  std::string where;  // the concrete path, e.g. event.sources[1].sha256
  const json* value;  // nullptr when missing
};

struct Resolution {
  std::optional<std::string> failure;  // a [*] over something missing, not an array, or empty
  std::vector<Leaf> leaves;
};

void resolve(const json* node, const std::vector<Step>& path, std::size_t i, const std::string& where,
             Resolution& out) {
  if (out.failure) return;
  if (i == path.size()) {
    out.leaves.push_back({where, node});
    return;
  }
  const Step& step = path[i];
  switch (step.kind) {
    case Step::Kind::Key: {
      const json* child = nullptr;
      if (node && node->is_object()) {
        auto it = node->find(step.key);
        if (it != node->end()) child = &*it;
      }
      resolve(child, path, i + 1, i == 0 ? step.key : where + "." + step.key, out);
      return;
    }
    case Step::Kind::Index: {
      const json* child = node && node->is_array() && step.index < node->size() ? &(*node)[step.index] : nullptr;
      resolve(child, path, i + 1, where + "[" + std::to_string(step.index) + "]", out);
      return;
    }
    case Step::Kind::Wildcard: {
      if (!node) out.failure = where + " is missing";
      else if (!node->is_array()) out.failure = where + " is not an array (it is " + show(*node) + ")";
      else if (node->empty()) out.failure = where + " is empty";
      else
        for (std::size_t k = 0; k < node->size() && !out.failure; ++k)
          resolve(&(*node)[k], path, i + 1, where + "[" + std::to_string(k) + "]", out);
      return;
    }
  }
}

// Why one resolved value fails the condition, or nullopt when it holds.
std::optional<std::string> check_leaf(const Condition& c, const Leaf& leaf) {
  if (!leaf.value) return leaf.where + " is missing";
  const json& v = *leaf.value;
  const std::string is = leaf.where + " = " + show(v);
  switch (c.op) {
    case Op::Exists:
      if (v.is_null()) return leaf.where + " is null";
      return std::nullopt;
    case Op::IsSha256:
      if (is_sha256_hex(v)) return std::nullopt;
      return is + ", needs a SHA-256 digest (64 lowercase hex digits)";
    case Op::Eq:
      if (same_value(v, c.value)) return std::nullopt;
      return is + ", needs == " + show(c.value);
    case Op::Ne:
      if (!same_type_family(v, c.value)) return is + ", needs != " + show(c.value) + " (a " + c.value.type_name() + ")";
      if (!same_value(v, c.value)) return std::nullopt;
      return is + ", needs != " + show(c.value);
    case Op::Lt:
    case Op::Le:
    case Op::Gt:
    case Op::Ge: {
      if (!v.is_number()) return is + ", needs " + c.op_text + " " + show(c.value) + " (not a number)";
      const int cmp = compare_numbers(v, c.value);
      const bool holds = c.op == Op::Lt ? cmp < 0 : c.op == Op::Le ? cmp <= 0 : c.op == Op::Gt ? cmp > 0 : cmp >= 0;
      if (holds) return std::nullopt;
      return is + ", needs " + c.op_text + " " + show(c.value);
    }
    case Op::In:
    case Op::AllIn:
    case Op::NotIn: {
      const bool scalar = is_scalar(v);
      const bool member =
          scalar && std::any_of(c.value.begin(), c.value.end(), [&](const json& e) { return same_value(v, e); });
      if (c.op == Op::NotIn) {
        if (scalar && !member) return std::nullopt;
        return is + ", needs to be none of " + show_list(c.value) +
               (scalar ? std::string() : " (not a string, number or boolean)");
      }
      if (member) return std::nullopt;
      return is + ", needs to be one of " + show_list(c.value);
    }
  }
  return "unknown operator";  // unreachable
}

struct Outcome {
  bool holds = false;
  std::string text;  // the failure, or a description of what held
};

Outcome check_approvals(const Condition& c, const json& input) {
  const std::string needs = "needs at least " + std::to_string(c.at_least) + " distinct";
  auto it = input.find("approvals");
  if (it == input.end()) return {false, "approvals is missing, " + needs};
  if (!it->is_array()) return {false, "approvals = " + show(*it) + " is not an array, " + needs};
  std::set<std::string> distinct;
  for (const json& e : *it)
    if (e.is_string() && !e.get_ref<const std::string&>().empty()) distinct.insert(e.get<std::string>());
  std::vector<std::string> ids(distinct.begin(), distinct.end());
  const std::string listed = ids.empty() ? std::string() : " (" + shorten(join(ids, ", ")) + ")";
  const std::string counted = std::to_string(distinct.size()) + " distinct approver" +
                              (distinct.size() == 1 ? "" : "s") + listed +
                              (it->size() != distinct.size() ? " among " + std::to_string(it->size()) + " entries" : "");
  if (distinct.size() >= c.at_least) return {true, "approvals: " + counted + ", at least " + std::to_string(c.at_least)};
  return {false, "approvals: " + counted + ", " + needs};
}

Outcome check(const Condition& c, const json& input) {
  if (c.is_approvals) return check_approvals(c, input);
  Resolution r;
  resolve(&input, c.path, 0, "", r);
  if (r.failure) return {false, *r.failure};
  for (const Leaf& leaf : r.leaves)
    if (auto why = check_leaf(c, leaf)) return {false, *why};
  std::string text = c.path_text + " " + c.op_text;
  if (c.op != Op::Exists && c.op != Op::IsSha256)
    text += " " + (is_list(c.op) ? show_list(c.value) : show(c.value));
  if (c.wildcard) text += " (" + std::to_string(r.leaves.size()) + (r.leaves.size() == 1 ? " element)" : " elements)");
  else if (c.op != Op::Exists) text += " (is " + show(*r.leaves.front().value) + ")";
  return {true, text};
}

}  // namespace policy_detail

using namespace policy_detail;

struct Policy::Impl {
  json doc;
  std::string source, id, version, sha256;
  std::vector<Rule> rules;
};

bool is_policy_gate(std::string_view gate) {
  return std::find(kPolicyGates.begin(), kPolicyGates.end(), gate) != kPolicyGates.end();
}

std::string canonical_json_sha256(const json& doc) {
  static const int sodium_ready = sodium_init();
  if (sodium_ready < 0) throw std::runtime_error("libsodium could not be initialised");
  const std::string bytes = doc.dump(-1, ' ', false, json::error_handler_t::strict);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * sizeof digest, '0');
  for (std::size_t i = 0; i < sizeof digest; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

json PolicyDecision::to_json() const {
  return json{{"gate", gate},
              {"result", allow ? "allow" : "deny"},
              {"matched_rules", matched_rules},
              {"reasons", reasons},
              {"policy_id", policy_id},
              {"policy_version", policy_version},
              {"policy_sha256", policy_sha256},
              {"input_sha256", input_sha256},
              {"evaluator_version", kPolicyEvaluatorVersion}};
}

Policy::Policy(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Policy Policy::parse(const json& doc, const std::string& source_name) {
  const Parser p(source_name);
  p.require_type(doc, doc.is_object(), "", "the policy to be a JSON object");
  // The format version first: a newer format should say so, not trip over its new keys.
  const json& format = p.require(doc, "", "strata_policy");
  if (!format.is_number_integer())
    p.error("/strata_policy", "expected the integer " + std::to_string(kPolicyFormatVersion) + ", got " + show(format));
  if (format.is_number_unsigned() ? format.get<std::uint64_t>() != kPolicyFormatVersion
                                  : format.get<std::int64_t>() != kPolicyFormatVersion)
    p.error("/strata_policy", "unsupported policy format " + show(format) + ": this evaluator (" +
                                  kPolicyEvaluatorVersion + ") reads format " + std::to_string(kPolicyFormatVersion));
  p.check_keys(doc, "", {"strata_policy", "id", "version", "description", "rules"}, "a policy");
  auto impl = std::make_shared<Impl>();
  impl->source = source_name;
  impl->id = p.identifier(p.require(doc, "", "id"), "/id");
  const json& version = p.require(doc, "", "version");
  p.require_type(version, version.is_string() && !version.get_ref<const std::string&>().empty(), "/version",
                 "a non-empty string");
  impl->version = version.get<std::string>();
  if (auto it = doc.find("description"); it != doc.end()) p.require_type(*it, it->is_string(), "/description", "a string");
  const json& rules = p.require(doc, "", "rules");
  p.require_type(rules, rules.is_array(), "/rules", "an array of rules");
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const std::string rp = "/rules/" + std::to_string(i);
    Rule r = p.rule(rules[i], rp);
    if (auto [it, inserted] = seen.emplace(r.id, i); !inserted)
      p.error(rp + "/id", "duplicate rule id " + quote(r.id) + " (also /rules/" + std::to_string(it->second) + "/id)");
    impl->rules.push_back(std::move(r));
  }
  try {
    impl->sha256 = canonical_json_sha256(doc);
  } catch (const json::exception&) {
    p.error("", "the policy contains a string that is not valid UTF-8");
  }
  impl->doc = doc;
  return Policy(std::move(impl));
}

Policy Policy::load(const std::filesystem::path& file) {
  const std::string source = file.string();
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::exists(status))
    throw PolicyError(source + ": cannot read the policy file: " + (ec ? ec.message() : "it does not exist"));
  if (!std::filesystem::is_regular_file(status)) throw PolicyError(source + ": the policy file is not a regular file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw PolicyError(source + ": cannot open the policy file: " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw PolicyError(source + ": cannot read the policy file: " + std::strerror(errno));
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (auto close = what.find("] "); what.rfind("[json.exception.", 0) == 0 && close != std::string::npos)
      what = what.substr(close + 2);
    throw PolicyError(source + ": invalid JSON: " + what);
  }
  DuplicateKeyFinder finder;
  json::sax_parse(text, &finder);
  if (finder.found) throw PolicyError(source + ": " + finder.found->first + ": duplicate key " + quote(finder.found->second));
  return parse(doc, source);
}

PolicyDecision Policy::evaluate(const std::string& gate, const json& input) const {
  const Impl& p = *impl_;
  PolicyDecision d;
  d.gate = gate;
  d.policy_id = p.id;
  d.policy_version = p.version;
  d.policy_sha256 = p.sha256;
  try {
    d.input_sha256 = canonical_json_sha256(input);
  } catch (const json::exception&) {
    d.reasons.push_back("the input contains a string that is not valid UTF-8, so it has no digest");
    return d;
  }
  if (!is_policy_gate(gate)) {
    d.reasons.push_back(quote(gate) + " is not a gated event; the gates are " + join_views(kPolicyGates, ", "));
    return d;
  }
  if (!input.is_object()) {
    d.reasons.push_back("the input is not a JSON object (it is " + std::string(input.type_name()) + ")");
    return d;
  }
  if (auto it = input.find("gate"); it != input.end() && *it != gate) {
    d.reasons.push_back("the input is for gate " + show(*it) + ", not " + quote(gate));
    return d;
  }

  struct Matched {
    const Rule* rule;
    std::string why;
  };
  std::vector<Matched> permits, forbids;
  std::vector<std::string> permit_failures;
  bool any_permit_rule = false;
  for (const Rule& rule : p.rules) {
    if (!rule.names(gate)) continue;
    any_permit_rule = any_permit_rule || !rule.forbid;
    std::vector<std::string> held, failed;
    for (const Condition& c : rule.when) {
      Outcome o = check(c, input);
      (o.holds ? held : failed).push_back(std::move(o.text));
    }
    if (failed.empty()) {
      d.matched_rules.push_back(rule.id);
      std::string why = !rule.reason.empty() ? rule.reason : held.empty() ? "no conditions" : join(held, " and ");
      (rule.forbid ? forbids : permits).push_back({&rule, std::move(why)});
    } else if (!rule.forbid) {
      for (const std::string& f : failed) permit_failures.push_back(rule.id + ": " + f);
    }
  }

  if (!forbids.empty()) {
    for (const Matched& m : forbids) d.reasons.push_back("forbid " + m.rule->id + ": " + m.why);
    for (const Matched& m : permits) d.reasons.push_back("permit " + m.rule->id + " matched, but a forbid overrides it");
  } else if (!permits.empty()) {
    d.allow = true;
    for (const Matched& m : permits) d.reasons.push_back("permit " + m.rule->id + ": " + m.why);
  } else {
    d.reasons.push_back("no permit rule matched gate " + gate);
    if (!any_permit_rule) d.reasons.push_back("policy " + p.id + " has no permit rule for gate " + gate);
    d.reasons.insert(d.reasons.end(), permit_failures.begin(), permit_failures.end());
  }
  return d;
}

const std::string& Policy::id() const { return impl_->id; }
const std::string& Policy::version() const { return impl_->version; }
const std::string& Policy::sha256() const { return impl_->sha256; }
const json& Policy::document() const { return impl_->doc; }
const std::string& Policy::source_name() const { return impl_->source; }

bool Policy::governs(const std::string& gate) const {
  return std::any_of(impl_->rules.begin(), impl_->rules.end(), [&](const Rule& r) { return r.names(gate); });
}

std::vector<std::string> Policy::rule_ids() const {
  std::vector<std::string> ids;
  for (const Rule& r : impl_->rules) ids.push_back(r.id);
  return ids;
}

}  // namespace strata::audit
