// Writer and verifier together: what is written verifies, reopening continues the same
// tree, and the writer refuses a log that lost sealed records.
#include "trail_fixture.hpp"

#include "durable_file.hpp"
#include "signed_note.hpp"
#include "trail_layout.hpp"

namespace strata::audit::test {
namespace {

TEST_F(TrailTest, WrittenTrailVerifiesWithEveryHeadWitnessed) {
  write_trail(95, 10);
  const auto r = verify(true);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
  EXPECT_EQ(r.records, 96u);
  EXPECT_EQ(r.sealed, 96u);
  EXPECT_EQ(r.tree_heads, 10u) << "a head every 10 records, and one at the end";
  EXPECT_EQ(r.witness_heads, 10u);
  EXPECT_TRUE(r.warnings.empty()) << r.to_json().dump(2);
}

TEST_F(TrailTest, ReopeningContinuesTheSameTree) {
  write_trail(5, 100);
  {
    AuditWriter w(options(100), key_);
    EXPECT_EQ(w.size(), 6u);
    EXPECT_EQ(w.sealed_size(), 6u);
    w.append({{"v", 1}, {"kind", "log_opened"}, {"run_id", "run-1"}});
    w.append(event_record(0, "release_requested", {{"x", 1}}));
    w.seal();
  }
  const auto r = verify(true);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
  EXPECT_EQ(r.records, 8u);
  EXPECT_EQ(r.tree_heads, 2u);
}

TEST_F(TrailTest, UnsealedTailIsReportedNotHidden) {
  write_trail(5, 100);
  {
    AuditWriter w(options(100), key_);
    w.append({{"v", 1}, {"kind", "log_opened"}, {"run_id", "run-1"}});
    w.commit();  // durable, never sealed
  }
  const auto r = verify();
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
  EXPECT_EQ(r.sealed, 6u);
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings.back().find("unsealed tail: records 6..6"), std::string::npos) << r.warnings.back();
}

TEST_F(TrailTest, WriterRefusesALogShorterThanItsLastHead) {
  write_trail(5, 100);
  // Drop the last record by truncating the newest segment: the head still covers it.
  fs::path last;
  for (const auto& e : fs::directory_iterator(TrailLayout{dir()}.segments())) last = std::max(last, e.path());
  const auto size = fs::file_size(last);
  const std::string bytes = read_file(last);
  const auto last_len = bytes.size();
  ASSERT_GT(last_len, 20u);
  // Cut a whole record off the end (its length prefix, payload and CRC).
  const auto records = read_trail(dir());
  const uint64_t cut = records.back().offset;
  fs::resize_file(last, cut);
  ASSERT_LT(fs::file_size(last), size);
  try {
    AuditWriter w(options(), key_);
    FAIL() << "opened a log that lost a sealed record";
  } catch (const AuditIoError& e) {
    EXPECT_NE(std::string(e.what()).find("sealed records were lost"), std::string::npos) << e.what();
  }
  const auto r = verify();
  EXPECT_FALSE(r.ok());
}

TEST_F(TrailTest, WriterRefusesAnotherSigningKey) {
  write_trail(3, 100);
  const SignerKey other = signer_key_from_seed("intruder", seed_of(9));
  EXPECT_THROW(AuditWriter(options(), other), AuditIoError);
}

TEST_F(TrailTest, RotationAcrossManySegmentsVerifies) {
  write_trail(400, 25, 2048);  // T10: dozens of small segments, one tree across them
  size_t segments = 0;
  for (const auto& e : fs::directory_iterator(TrailLayout{dir()}.segments())) segments += e.is_regular_file();
  EXPECT_GE(segments, 50u);
  const auto r = verify(true);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
  EXPECT_EQ(r.records, 401u);
}

TEST_F(TrailTest, NoKeyringFallsBackToTheTrailsOwnKeyWithAWarning) {
  write_trail(3, 100);
  VerifyOptions o;
  o.dir = dir();
  const auto r = verify_trail(o);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings.front().find("no pinned keyring"), std::string::npos);
}

TEST_F(TrailTest, HeadsSignedByAnUnpinnedKeyDoNotVerify) {
  write_trail(3, 100);
  VerifyOptions o;
  o.dir = dir();
  o.keys = {verifier_of(signer_key_from_seed("someone-else", seed_of(3)))};
  const auto r = verify_trail(o);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace strata::audit::test
