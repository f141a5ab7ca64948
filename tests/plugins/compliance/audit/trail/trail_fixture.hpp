// A scratch directory holding a sealed audit trail made with a fixed key, for the trail tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "audit_writer.hpp"
#include "keys.hpp"
#include "verifier.hpp"

namespace strata::audit::test {

namespace fs = std::filesystem;

inline std::array<uint8_t, 32> seed_of(uint8_t b) {
  std::array<uint8_t, 32> s{};
  s.fill(b);
  return s;
}

// An event record as the plugin writes it (payload digest included).
inline nlohmann::json event_record(uint64_t seq, const std::string& event, const nlohmann::json& payload,
                                   const std::string& run_id = "run-1") {
  const std::string bytes = canonical_record_bytes(payload);
  return {{"v", 1},        {"kind", "event"},      {"run_id", run_id},  {"rank", 0},
          {"seq", seq},    {"utc_ns", 1764000000000000000 + static_cast<int64_t>(seq)},
          {"event", event}, {"step", static_cast<int64_t>(seq)}, {"gate", false},
          {"payload_sha256", to_hex(sha256(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())))},
          {"payload", payload}};
}

class TrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("strata-trail-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  WriterOptions options(uint64_t every = 10) const {
    WriterOptions o;
    o.dir = dir();
    o.origin = "strata.test/audit/run-1";
    o.tree_head_every = every;
    o.witnesses = {witness()};
    return o;
  }
  // `n` records in one session (log_opened first), sealed every `every`, and at the end.
  void write_trail(uint64_t n, uint64_t every = 10, uint64_t rotate_bytes = 64ull << 20) {
    auto o = options(every);
    o.store.rotate_bytes = rotate_bytes;
    AuditWriter w(o, key_);
    w.append({{"v", 1}, {"kind", "log_opened"}, {"run_id", "run-1"}});
    for (uint64_t i = 0; i < n; ++i) {
      w.append(event_record(i, "step_end", {{"loss", 1.0 / static_cast<double>(i + 1)}, {"i", i}}));
      w.commit_or_seal();
    }
    w.seal();
  }
  // Checks dir() against the fixture's key (and the witness when asked).
  VerifyOptions verify_options(bool with_witness = false) const {
    VerifyOptions o;
    o.dir = dir();
    o.keys = {verifier_of(key_)};
    if (with_witness) o.witness = witness();
    return o;
  }
  // The same, remembering what it accepted in a state file (rollback detection).
  VerifyOptions remembering_options() const {
    VerifyOptions o = verify_options();
    o.state = root_ / "verifier-state.json";
    return o;
  }
  VerifyReport verify(bool with_witness = false) const { return verify_trail(verify_options(with_witness)); }
  fs::path dir() const { return root_ / "audit"; }
  fs::path witness() const { return root_ / "witness"; }

  fs::path root_;
  SignerKey key_ = signer_key_from_seed("trail-test", seed_of(7));
};

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
inline void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

}  // namespace strata::audit::test
