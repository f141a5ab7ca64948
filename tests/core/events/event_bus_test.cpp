// Lifecycle events reach subscribers with canonical payloads and digests; a compliance
// plugin's denial of a gate is honoured.
#include "core/events/event_bus.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "core/util/sha256.hpp"
#include "tests/support/registry_fixture.hpp"

namespace strata::events {
namespace {

using nlohmann::json;

std::vector<json> read_lines(const std::filesystem::path& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

class EventBusTest : public test::RegistryFixture {};

TEST_F(EventBusTest, EventsCarryCanonicalPayloadsDigestsAndSequenceNumbers) {
  auto log = make("jsonl");
  EventBus bus("run-1", 0, util::null_logger());
  bus.subscribe(*log);
  bus.publish(STRATA_EVENT_RUN_START, -1, {{"b", 2}, {"a", 1}});
  bus.publish(STRATA_EVENT_STEP_END, 10, {{"loss", 1.5}});
  const auto lines = read_lines(run_dir.path() / "events.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["event"], "run_start");
  EXPECT_EQ(lines[0]["seq"], 0);
  EXPECT_EQ(lines[1]["seq"], 1);
  EXPECT_EQ(lines[1]["step"], 10);
  EXPECT_EQ(lines[0]["payload_sha256"], util::sha256_hex("{\"a\":1,\"b\":2}")) << "digest of the canonical payload";
  EXPECT_EQ(lines[0]["run_id"], "run-1");
  EXPECT_FALSE(lines[0].contains("decision"));
}

TEST_F(EventBusTest, ComplianceDenialOfAGateIsHonouredWithItsReason) {
  auto log = make("jsonl", {{"deny", {"release_requested"}}, {"reason", "model card missing"}});
  EventBus bus("run-2", 0, util::null_logger());
  bus.subscribe(*log);
  const GateOutcome data = bus.gate(STRATA_EVENT_DATASET_OPENED, -1, {{"paths", {"x"}}});
  const GateOutcome release = bus.gate(STRATA_EVENT_RELEASE_REQUESTED, 5, json::object());
  EXPECT_TRUE(data.allowed);
  EXPECT_FALSE(release.allowed);
  EXPECT_EQ(release.reason, "jsonl: model card missing");
  const auto lines = read_lines(run_dir.path() / "events.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["decision"], "allow");
  EXPECT_EQ(lines[1]["decision"], "deny");
}

TEST_F(EventBusTest, GatesWithoutAnyComplianceSubscriberAreAllowed) {
  EventBus bus("run-3", 0, util::null_logger());
  EXPECT_TRUE(bus.gate(STRATA_EVENT_CHECKPOINT_PUBLISH_REQUESTED, 1, json::object()).allowed);
}

TEST_F(EventBusTest, APayloadThatCannotBeCanonicalisedIsRefused) {
  auto log = make("jsonl");
  EventBus bus("run-4", 0, util::null_logger());
  bus.subscribe(*log);
  // Invalid UTF-8 cannot be canonicalised: the bus refuses rather than record ambiguous bytes.
  EXPECT_THROW(bus.publish(STRATA_EVENT_STEP_END, 1, {{"bad", std::string("\xff\xfe")}}), std::exception);
}

TEST(EventNames, GatesAreExactlyTheThreeGatedEvents) {
  int gates = 0;
  for (int t = STRATA_EVENT_RUN_START; t < STRATA_EVENT_TYPE_COUNT; ++t)
    gates += EventBus::is_gate(static_cast<strata_event_type>(t)) ? 1 : 0;
  EXPECT_EQ(gates, 3);
  EXPECT_STREQ(EventBus::name_of(STRATA_EVENT_CHECKPOINT_PUBLISH_REQUESTED), "checkpoint_publish_requested");
}

}  // namespace
}  // namespace strata::events
