// Tamper evidence (governance.md §6.3 T3, T10, T11): every single-byte change, deleted,
// swapped or duplicated record, replaced segment or head, rewritten history and rollback is
// caught by `verify_trail`, which names where.
#include "trail_fixture.hpp"

#include "durable_file.hpp"
#include "segment_store.hpp"
#include "trail_layout.hpp"

namespace strata::audit::test {
namespace {

std::vector<fs::path> files_in(const fs::path& d) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(d))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Replaces the trail's records with `payloads`, keeping its signed heads.
void rewrite_records(const fs::path& trail, const std::vector<std::string>& payloads) {
  const fs::path segs = TrailLayout{trail}.segments();
  fs::remove_all(segs);
  auto w = SegmentWriter::open(segs, {}, [](uint64_t, std::span<const uint8_t>) {}, nullptr);
  for (const auto& p : payloads) w->append(std::span(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
  w->sync();
}

std::vector<std::string> payloads_of(const fs::path& trail) {
  std::vector<std::string> out;
  for (const auto& r : read_trail(trail)) out.push_back(r.bytes);
  return out;
}

TEST_F(TrailTest, TenThousandRandomByteFlipsAreAllDetected) {
  write_trail(150, 50, 4096);  // a few segments and four heads
  ASSERT_TRUE(verify().ok());
  std::vector<fs::path> targets = files_in(TrailLayout{dir()}.segments());
  const size_t segment_files = targets.size();
  for (const auto& f : files_in(TrailLayout{dir()}.tree_heads())) targets.push_back(f);
  targets.push_back(TrailLayout{dir()}.latest_tree_head());
  std::vector<std::string> original;
  for (const auto& f : targets) original.push_back(read_file(f));

  std::mt19937_64 rng(20261125);
  const int kFlips = 10000;
  int detected = 0;
  std::string first_miss;
  for (int i = 0; i < kFlips; ++i) {
    // 90% in the segments, 10% in the tree heads.
    const bool in_segment = rng() % 10 != 0;
    const size_t t = in_segment ? rng() % segment_files : segment_files + rng() % (targets.size() - segment_files);
    std::string bytes = original[t];
    const size_t at = rng() % bytes.size();
    bytes[at] = static_cast<char>(bytes[at] ^ static_cast<char>(1 + rng() % 255));
    write_file(targets[t], bytes);
    if (!verify().ok())
      ++detected;
    else if (first_miss.empty())
      first_miss = targets[t].string() + " byte " + std::to_string(at);
    write_file(targets[t], original[t]);
  }
  EXPECT_EQ(detected, kFlips) << "first undetected flip: " << first_miss;
  EXPECT_TRUE(verify().ok());
}

TEST_F(TrailTest, TruncatingOneByteIsDetected) {
  write_trail(20, 5);
  const auto segs = files_in(TrailLayout{dir()}.segments());
  fs::resize_file(segs.back(), fs::file_size(segs.back()) - 1);
  const auto r = verify();
  EXPECT_FALSE(r.ok());
}

TEST_F(TrailTest, DeletedSwappedAndDuplicatedRecordsAreDetected) {
  write_trail(20, 5);
  const auto original = payloads_of(dir());
  {
    auto p = original;
    p.erase(p.begin() + 7);
    rewrite_records(dir(), p);
    const auto r = verify();
    EXPECT_FALSE(r.ok()) << "deleted record";
  }
  {
    auto p = original;
    std::swap(p[7], p[8]);
    rewrite_records(dir(), p);
    const auto r = verify();
    ASSERT_FALSE(r.ok()) << "swapped records";
    bool names_head = false;
    for (const auto& f : r.failures) names_head |= f.find(".note: root does not match records") != std::string::npos;
    EXPECT_TRUE(names_head) << r.to_json().dump(2);
  }
  {
    auto p = original;
    p.insert(p.begin() + 7, p[7]);
    rewrite_records(dir(), p);
    EXPECT_FALSE(verify().ok()) << "duplicated record";
  }
  {
    auto p = original;
    p.back() = canonical_record_bytes(event_record(19, "step_end", {{"loss", 0.0}, {"i", 19}}));
    rewrite_records(dir(), p);
    EXPECT_FALSE(verify().ok()) << "altered last record with a matching payload digest";
  }
  rewrite_records(dir(), original);
  EXPECT_TRUE(verify().ok());
}

TEST_F(TrailTest, DeletingOrReorderingASegmentIsDetected) {
  write_trail(60, 20, 1024);
  const auto segs = files_in(TrailLayout{dir()}.segments());
  ASSERT_GE(segs.size(), 4u);
  const std::string a = read_file(segs[1]), b = read_file(segs[2]);
  fs::remove(segs[1]);
  EXPECT_FALSE(verify().ok()) << "deleted segment";
  write_file(segs[1], b);
  write_file(segs[2], a);
  EXPECT_FALSE(verify().ok()) << "swapped segments";
  write_file(segs[1], a);
  write_file(segs[2], b);
  EXPECT_TRUE(verify().ok());
}

TEST_F(TrailTest, AnOlderHeadAsLatestIsDetected) {
  write_trail(30, 10);
  const auto heads = files_in(TrailLayout{dir()}.tree_heads());
  ASSERT_GE(heads.size(), 2u);
  write_file(TrailLayout{dir()}.latest_tree_head(), read_file(heads.front()));
  const auto r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failures.front().find("differs from the newest tree head"), std::string::npos) << r.failures.front();
}

// A privileged user with the signing key rewrites history and re-signs every head: the
// local trail is self-consistent, but the witness still holds what it was shown (T11).
TEST_F(TrailTest, RewrittenAndResignedHistoryIsCaughtByTheWitness) {
  write_trail(30, 10);
  auto p = payloads_of(dir());
  p[3] = canonical_record_bytes(event_record(2, "step_end", {{"loss", 0.001}, {"i", 2}}));
  fs::remove_all(dir());
  {
    auto o = options(10);
    o.witnesses.clear();  // the forger cannot reach the witness
    AuditWriter w(o, key_);
    for (const auto& bytes : p) {
      w.append(nlohmann::json::parse(bytes));
      w.commit_or_seal();
    }
    w.seal();
  }
  EXPECT_TRUE(verify(false).ok()) << "the forgery is internally consistent";
  const auto r = verify(true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failures.front().find("history rewritten"), std::string::npos) << r.to_json().dump(2);
}

TEST_F(TrailTest, RollbackBelowWhatTheVerifierAcceptedIsCaught) {
  write_trail(10, 100);
  VerifyOptions o = remembering_options();
  ASSERT_TRUE(verify_trail(o).ok());
  // Later growth is accepted and remembered.
  {
    AuditWriter w(options(100), key_);
    w.append({{"v", 1}, {"kind", "log_opened"}, {"run_id", "run-1"}});
    w.seal();
  }
  ASSERT_TRUE(verify_trail(o).ok());
  // Roll back to the first session: records, heads and latest, all valid on their own.
  const auto p = payloads_of(dir());
  rewrite_records(dir(), std::vector<std::string>(p.begin(), p.begin() + 11));
  const auto heads = files_in(TrailLayout{dir()}.tree_heads());
  fs::remove(heads.back());
  write_file(TrailLayout{dir()}.latest_tree_head(), read_file(heads.front()));
  o.witness.reset();
  EXPECT_TRUE(verify().ok()) << "the rolled-back trail is valid on its own";
  const auto r = verify_trail(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failures.front().find("rollback"), std::string::npos) << r.failures.front();
}

// Re-signing a rewritten history under a new origin does not escape the verifier's memory.
TEST_F(TrailTest, AHistoryReSignedUnderANewOriginIsCaughtByTheState) {
  write_trail(10, 100);
  VerifyOptions o = remembering_options();
  ASSERT_TRUE(verify_trail(o).ok());
  auto p = payloads_of(dir());
  p[3] = canonical_record_bytes(event_record(2, "step_end", {{"loss", 0.001}, {"i", 2}}));
  fs::remove_all(dir());
  {
    auto w = options(100);
    w.origin = "strata.test/audit/another-origin";
    w.witnesses.clear();
    AuditWriter writer(w, key_);
    for (const auto& bytes : p) writer.append(nlohmann::json::parse(bytes));
    writer.seal();
  }
  const auto r = verify_trail(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failures.front().find("was accepted under origin"), std::string::npos) << r.failures.front();
}

}  // namespace
}  // namespace strata::audit::test
