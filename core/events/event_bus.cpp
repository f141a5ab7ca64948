#include "core/events/event_bus.hpp"

#include <chrono>

#include "core/util/canonical_json.hpp"
#include "core/util/sha256.hpp"

namespace strata::events {

EventBus::EventBus(std::string run_id, int rank, util::Logger logger, const strata_comm* world)
    : run_id_(std::move(run_id)), rank_(rank), logger_(std::move(logger)), world_(world) {
  if (world_size() > 1 && world_->api->split(world_->handle, 0, rank_, &side_) != STRATA_OK)
    throw std::runtime_error("cannot split a communicator off the world for the event sequencer");
}

EventBus::~EventBus() {
  if (side_ != nullptr) world_->api->free_comm(side_);
}

int EventBus::world_size() const { return world_ == nullptr ? 1 : world_->api->size(world_->handle); }

namespace {
constexpr int32_t kForwardTag = 1;
void check_comm(strata_status status, const char* what) {
  if (status != STRATA_OK) throw std::runtime_error(std::string("event sequencer: ") + what + " failed");
}
}  // namespace

void EventBus::sync() {
  const int size = world_size();
  if (size == 1) return;
  const strata_comm_api* api = side_->api;
  std::string mine = rank_ == 0 || forward_.empty() ? std::string() : nlohmann::json(forward_).dump();
  forward_.clear();
  int64_t length = static_cast<int64_t>(mine.size());
  std::vector<int64_t> lengths(static_cast<size_t>(size));
  strata_buffer one{&length, 1, STRATA_DTYPE_I64, STRATA_DEVICE_CPU, 0};
  strata_buffer all{lengths.data(), lengths.size(), STRATA_DTYPE_I64, STRATA_DEVICE_CPU, 0};
  check_comm(api->allgather(side_->handle, &one, &all, nullptr), "gathering the event counts");
  if (rank_ != 0) {
    strata_buffer b{mine.data(), mine.size(), STRATA_DTYPE_U8, STRATA_DEVICE_CPU, 0};
    if (length > 0) check_comm(api->send(side_->handle, &b, 0, kForwardTag, nullptr), "sending events to rank 0");
    return;
  }
  for (int r = 1; r < size; ++r) {
    if (lengths[static_cast<size_t>(r)] == 0) continue;
    std::string text(static_cast<size_t>(lengths[static_cast<size_t>(r)]), '\0');
    strata_buffer b{text.data(), text.size(), STRATA_DTYPE_U8, STRATA_DEVICE_CPU, 0};
    check_comm(api->recv(side_->handle, &b, r, kForwardTag, nullptr), "receiving events");
    for (const auto& item : nlohmann::json::parse(text)) deliver_forwarded(r, item);
  }
  // No flush (a seal in the audit plugin) here: each forwarded record is already made
  // durable as it is recorded, and sealing every step would sign a tree head per step.
}

// Another rank's event, recorded by rank 0's compliance plugins. It is not a gate here:
// rank 0 decided that gate for every rank when its own event arrived.
void EventBus::deliver_forwarded(int rank, const nlohmann::json& item) {
  const std::string body = item.at("payload").get<std::string>();
  const std::string digest = util::sha256_hex(body);
  const auto type = static_cast<strata_event_type>(item.at("type").get<int32_t>());
  strata_event event{};
  event.struct_size = STRATA_EVENT_STRUCT_SIZE;
  event.type = type;
  event.name = name_of(type);
  event.is_gate = 0;
  event.rank = rank;
  event.sequence = item.at("seq").get<uint64_t>();
  event.step = item.at("step").get<int64_t>();
  event.utc_ns = item.at("utc_ns").get<int64_t>();
  event.run_id = run_id_.c_str();
  event.payload_json = body.c_str();
  event.payload_sha256 = digest.c_str();
  for (const auto& [sub, mask] : subscribers_) {
    if (sub->tier() != STRATA_TIER_COMPLIANCE || (mask & STRATA_EVENT_BIT(type)) == 0) continue;
    sub->check(sub->on_event(event, nullptr), std::string("recording rank ") + std::to_string(rank) + "'s event " +
                                                   event.name);
  }
}

const char* EventBus::name_of(strata_event_type type) {
  switch (type) {
    case STRATA_EVENT_RUN_START: return "run_start";
    case STRATA_EVENT_CONFIG_RESOLVED: return "config_resolved";
    case STRATA_EVENT_PLUGIN_LOADED: return "plugin_loaded";
    case STRATA_EVENT_DATASET_OPENED: return "dataset_opened";
    case STRATA_EVENT_STEP_END: return "step_end";
    case STRATA_EVENT_CHECKPOINT_SAVED: return "checkpoint_saved";
    case STRATA_EVENT_CHECKPOINT_PUBLISH_REQUESTED: return "checkpoint_publish_requested";
    case STRATA_EVENT_EVAL_DONE: return "eval_done";
    case STRATA_EVENT_RELEASE_REQUESTED: return "release_requested";
    case STRATA_EVENT_RUN_END: return "run_end";
    case STRATA_EVENT_PLUGIN_CUSTOM: return "plugin_custom";
    default: return "unknown";
  }
}

bool EventBus::is_gate(strata_event_type type) {
  return type == STRATA_EVENT_DATASET_OPENED || type == STRATA_EVENT_CHECKPOINT_PUBLISH_REQUESTED ||
         type == STRATA_EVENT_RELEASE_REQUESTED;
}

void EventBus::subscribe(const plugin::PluginInstance& instance) {
  if (const uint64_t mask = instance.subscriptions(); mask != 0) subscribers_.emplace_back(&instance, mask);
}

void EventBus::publish(strata_event_type type, int64_t step, const nlohmann::json& payload) {
  deliver(type, step, payload);
}

GateOutcome EventBus::gate(strata_event_type type, int64_t step, const nlohmann::json& payload) {
  sync();  // every rank's earlier events are on the record before the decision
  GateOutcome outcome = deliver(type, step, payload);
  if (world_size() == 1) return outcome;
  // Rank 0's compliance plugins decide for the whole run: every rank must act alike.
  const auto check = [](strata_status st) {
    if (st != STRATA_OK) throw std::runtime_error("broadcasting a gate decision from rank 0 failed");
  };
  int64_t header[2] = {outcome.allowed ? 1 : 0, static_cast<int64_t>(outcome.reason.size())};
  strata_buffer h{header, 2, STRATA_DTYPE_I64, STRATA_DEVICE_CPU, 0};
  check(world_->api->broadcast(world_->handle, &h, 0, nullptr));
  outcome.allowed = header[0] != 0;
  outcome.reason.resize(static_cast<size_t>(header[1]));
  if (header[1] > 0) {
    strata_buffer r{outcome.reason.data(), static_cast<uint64_t>(header[1]), STRATA_DTYPE_U8, STRATA_DEVICE_CPU, 0};
    check(world_->api->broadcast(world_->handle, &r, 0, nullptr));
  }
  return outcome;
}

GateOutcome EventBus::deliver(strata_event_type type, int64_t step, const nlohmann::json& payload) {
  const std::string body = util::canonical_json(payload);
  const std::string digest = util::sha256_hex(body);
  const bool gate = is_gate(type);
  strata_event event{};
  event.struct_size = STRATA_EVENT_STRUCT_SIZE;
  event.type = type;
  event.name = name_of(type);
  event.is_gate = gate ? 1 : 0;
  event.rank = rank_;
  event.sequence = sequence_++;
  event.step = step;
  event.utc_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  event.run_id = run_id_.c_str();
  event.payload_json = body.c_str();
  event.payload_sha256 = digest.c_str();
  if (rank_ != 0 && world_size() > 1)
    forward_.push_back({{"type", static_cast<int32_t>(type)}, {"seq", event.sequence}, {"step", step},
                        {"utc_ns", event.utc_ns}, {"payload", body}});

  GateOutcome outcome;
  for (const auto& [sub, mask] : subscribers_) {
    if ((mask & STRATA_EVENT_BIT(type)) == 0) continue;
    strata_decision decision{};
    decision.struct_size = STRATA_DECISION_STRUCT_SIZE;
    const strata_status status = sub->on_event(event, gate ? &decision : nullptr);
    sub->check(status, std::string("handling event ") + event.name);
    // Only the compliance tier has authority over gates.
    if (gate && decision.deny != 0 && sub->tier() == STRATA_TIER_COMPLIANCE) {
      decision.reason[sizeof(decision.reason) - 1] = '\0';
      outcome.allowed = false;
      if (!outcome.reason.empty()) outcome.reason += "; ";
      outcome.reason += sub->name() + ": " + (decision.reason[0] ? decision.reason : "no reason given");
    } else if (gate && decision.deny != 0) {
      logger_->warn("[{}] tried to deny {}, but only compliance plugins decide gates; ignored", sub->name(), event.name);
    }
  }
  // The outcome is acted on next: make every record of it durable first.
  if (gate) flush();
  return outcome;
}

void EventBus::flush() {
  for (const auto& [sub, mask] : subscribers_)
    if (sub->tier() == STRATA_TIER_COMPLIANCE) sub->flush();
}

}  // namespace strata::events
