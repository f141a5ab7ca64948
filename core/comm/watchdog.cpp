#include "core/comm/watchdog.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

namespace strata::comm {
namespace {

// The timeout runs on the monotonic clock (a wall-clock step must not fire it); the status
// files carry wall-clock times, which the ranks share.
int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* dtype_name(uint32_t d) {
  switch (d) {
    case STRATA_DTYPE_F32: return "f32";
    case STRATA_DTYPE_F64: return "f64";
    case STRATA_DTYPE_BF16: return "bf16";
    case STRATA_DTYPE_F16: return "f16";
    case STRATA_DTYPE_I32: return "i32";
    case STRATA_DTYPE_I64: return "i64";
    case STRATA_DTYPE_U8: return "u8";
    default: return "?";
  }
}

const char* op_name(int32_t op) {
  switch (op) {
    case STRATA_REDUCE_SUM: return "sum";
    case STRATA_REDUCE_MAX: return "max";
    case STRATA_REDUCE_MIN: return "min";
    default: return "?";
  }
}

std::string describe(const char* kind, const strata_buffer* b, const std::string& extra = "") {
  std::string s = kind;
  if (b != nullptr) s += std::string(" ") + dtype_name(b->dtype) + " x " + std::to_string(b->count);
  if (!extra.empty()) s += " (" + extra + ")";
  return s;
}

}  // namespace

// One wrapped communicator: its table (handed out), the inner one, and its call counter.
struct CheckedComm::Group {
  strata_comm table{};
  const strata_comm* inner = nullptr;
  strata_comm* owned_inner = nullptr;  // children: freed with the group
  CheckedComm* owner = nullptr;
  std::string name;
  uint64_t calls = 0;
};

namespace {

CheckedComm::Group* of(strata_comm_handle* h) { return reinterpret_cast<CheckedComm::Group*>(h); }

// Runs one inner call between enter and leave.
// Collectives advance the group's call number; point-to-point calls do not (ranks make
// different numbers of them in correct programs, e.g. rank 0 receiving from every rank).
template <class F>
strata_status checked(strata_comm_handle* h, const std::string& signature, F&& call, bool collective = true) {
  auto* g = of(h);
  g->owner->enter(*g, signature, collective);
  const strata_status st = call(g->inner);
  g->owner->leave(*g);
  return st;
}

int32_t c_rank(strata_comm_handle* h) { return of(h)->inner->api->rank(of(h)->inner->handle); }
int32_t c_size(strata_comm_handle* h) { return of(h)->inner->api->size(of(h)->inner->handle); }

strata_status c_allreduce(strata_comm_handle* h, const strata_buffer* s, strata_buffer* r, int32_t op,
                          strata_comm_request** q) {
  return checked(h, describe(q ? "start allreduce" : "allreduce", r, op_name(op)),
                 [&](const strata_comm* c) { return c->api->allreduce(c->handle, s, r, op, q); });
}
strata_status c_reduce_scatter(strata_comm_handle* h, const strata_buffer* s, strata_buffer* r, int32_t op,
                               strata_comm_request** q) {
  return checked(h, describe(q ? "start reduce_scatter" : "reduce_scatter", s, op_name(op)),
                 [&](const strata_comm* c) { return c->api->reduce_scatter(c->handle, s, r, op, q); });
}
strata_status c_allgather(strata_comm_handle* h, const strata_buffer* s, strata_buffer* r, strata_comm_request** q) {
  return checked(h, describe(q ? "start allgather" : "allgather", s),
                 [&](const strata_comm* c) { return c->api->allgather(c->handle, s, r, q); });
}
strata_status c_broadcast(strata_comm_handle* h, strata_buffer* b, int32_t root, strata_comm_request** q) {
  return checked(h, describe(q ? "start broadcast" : "broadcast", b, "root " + std::to_string(root)),
                 [&](const strata_comm* c) { return c->api->broadcast(c->handle, b, root, q); });
}
strata_status c_send(strata_comm_handle* h, const strata_buffer* b, int32_t peer, int32_t tag, strata_comm_request** q) {
  return checked(h, describe(q ? "start send" : "send", b, "to " + std::to_string(peer) + ", tag " + std::to_string(tag)),
                 [&](const strata_comm* c) { return c->api->send(c->handle, b, peer, tag, q); }, false);
}
strata_status c_recv(strata_comm_handle* h, strata_buffer* b, int32_t peer, int32_t tag, strata_comm_request** q) {
  return checked(h,
                 describe(q ? "start recv" : "recv", b, "from " + std::to_string(peer) + ", tag " + std::to_string(tag)),
                 [&](const strata_comm* c) { return c->api->recv(c->handle, b, peer, tag, q); }, false);
}
strata_status c_barrier(strata_comm_handle* h) {
  return checked(h, "barrier", [&](const strata_comm* c) { return c->api->barrier(c->handle); });
}
strata_status c_wait(strata_comm_handle* h, strata_comm_request* q) {
  return checked(h, "wait", [&](const strata_comm* c) { return c->api->wait(c->handle, q); }, false);
}
strata_status c_split(strata_comm_handle* h, int32_t colour, int32_t key, strata_comm** out);
void c_free(strata_comm* comm);

const strata_comm_api kCheckedApi = {STRATA_COMM_API_STRUCT_SIZE, 0, &c_rank, &c_size, &c_allreduce,
                                     &c_reduce_scatter, &c_allgather, &c_broadcast, &c_send, &c_recv,
                                     &c_barrier, &c_wait, &c_split, &c_free};

strata_status c_split(strata_comm_handle* h, int32_t colour, int32_t key, strata_comm** out) {
  auto* g = of(h);
  strata_comm* child = nullptr;
  const strata_status st = checked(h, "split (colour " + std::to_string(colour) + ")", [&](const strata_comm* c) {
    return c->api->split(c->handle, colour, key, &child);
  });
  if (st != STRATA_OK) return st;
  *out = &g->owner->adopt(child, g->name + "/split" + std::to_string(colour))->table;
  return STRATA_OK;
}

void c_free(strata_comm* comm) {
  if (comm == nullptr) return;
  auto* g = of(comm->handle);
  g->owner->forget(g);
}

}  // namespace

CheckedComm::CheckedComm(const strata_comm* inner, int rank, int size, WatchdogOptions options)
    : rank_(rank), size_(size), options_(std::move(options)), world_(std::make_unique<Group>()) {
  world_->inner = inner;
  world_->owner = this;
  world_->name = "world";
  world_->table = {STRATA_COMM_STRUCT_SIZE, 0, &kCheckedApi, reinterpret_cast<strata_comm_handle*>(world_.get())};
  if (!options_.status_dir.empty()) {
    std::filesystem::create_directories(options_.status_dir);
    const auto path = options_.status_dir / ("rank-" + std::to_string(rank_) + ".json");
    status_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    publish_status();
  }
  if (options_.timeout_s > 0) thread_ = std::thread([this] { watch(); });
}

CheckedComm::~CheckedComm() {
  stop_ = true;
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& c : children_)
    if (c && c->owned_inner) world_->inner->api->free_comm(c->owned_inner);
  if (status_fd_ >= 0) ::close(status_fd_);
}

const strata_comm* CheckedComm::comm() const { return &world_->table; }

CheckedComm::Group* CheckedComm::adopt(strata_comm* inner_child, const std::string& name) {
  auto g = std::make_unique<Group>();
  g->inner = inner_child;
  g->owned_inner = inner_child;
  g->owner = this;
  g->name = name + "#" + std::to_string(++splits_);
  g->table = {STRATA_COMM_STRUCT_SIZE, 0, &kCheckedApi, reinterpret_cast<strata_comm_handle*>(g.get())};
  children_.push_back(std::move(g));
  return children_.back().get();
}

void CheckedComm::forget(Group* g) {
  for (auto& c : children_)
    if (c.get() == g) {
      if (c->owned_inner) c->inner->api->free_comm(c->owned_inner);
      c.reset();
    }
}

void CheckedComm::enter(Group& g, const std::string& signature, bool collective) {
  {
    std::lock_guard lock(mutex_);
    in_call_ = true;
    group_name_ = g.name;
    signature_ = signature;
    seq_ = collective ? ++g.calls : g.calls;
    since_ns_ = now_ns();
    since_steady_ns_ = steady_ns();
  }
  publish_status();
}

void CheckedComm::expect_long_wait() {
  std::lock_guard lock(mutex_);
  long_wait_expected_ = true;
}

void CheckedComm::leave(Group&) {
  {
    std::lock_guard lock(mutex_);
    in_call_ = false;
    long_wait_expected_ = false;
    since_ns_ = now_ns();
  }
  publish_status();
}

// A fixed-size record rewritten in place, so a reader sees one whole state or retries.
void CheckedComm::publish_status() {
  if (status_fd_ < 0) return;
  std::string text;
  {
    std::lock_guard lock(mutex_);
    nlohmann::json calls = {{world_->name, world_->calls}};
    for (const auto& c : children_)
      if (c) calls[c->name] = c->calls;
    text = nlohmann::json({{"rank", rank_}, {"in_call", in_call_}, {"group", group_name_}, {"seq", seq_},
                           {"signature", signature_}, {"since_ns", since_ns_}, {"calls", calls}})
               .dump();
  }
  text.resize(std::max<size_t>(text.size(), 512), ' ');
  text += "\n";
  if (::pwrite(status_fd_, text.data(), text.size(), 0) < 0) {
    // Diagnostics only: a full disk must not stop training.
  }
}

RankStatus parse_status(const std::string& text) {
  RankStatus s;
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return s;
  s.rank = j.value("rank", -1);
  s.in_call = j.value("in_call", false);
  s.group = j.value("group", "");
  s.signature = j.value("signature", "");
  s.seq = j.value("seq", uint64_t{0});
  s.since_ns = j.value("since_ns", int64_t{0});
  if (j.contains("calls") && j["calls"].is_object())
    for (const auto& [group, n] : j["calls"].items()) s.calls[group] = n.get<uint64_t>();
  return s;
}

std::string CheckedComm::report() {
  std::ostringstream out;
  RankStatus me;
  {
    std::lock_guard lock(mutex_);
    me = {rank_, in_call_, group_name_, signature_, seq_, since_ns_, {}};
  }
  const int64_t now = now_ns();
  const auto secs = [&](int64_t since) { return static_cast<double>(now - since) / 1e9; };
  char line[512];
  std::snprintf(line, sizeof line, "watchdog: rank %d has waited %.0f s in %s call #%llu: %s\n", rank_,
                secs(me.since_ns), me.group.c_str(), static_cast<unsigned long long>(me.seq), me.signature.c_str());
  out << line;
  if (options_.status_dir.empty()) return out.str() + "watchdog: no status folder: the other ranks are unknown\n";
  std::vector<int> desynced, behind, missing;
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    // A rank rewriting its record as we read sees a torn copy: read once more.
    const auto read_status = [&] {
      std::ifstream in(options_.status_dir / ("rank-" + std::to_string(r) + ".json"));
      return parse_status(std::string((std::istreambuf_iterator<char>(in)), {}));
    };
    RankStatus s = read_status();
    if (s.rank != r) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      s = read_status();
    }
    if (s.rank != r) {
      missing.push_back(r);
      out << "watchdog:   rank " << r << ": no status (not started, or its folder is not shared)\n";
      continue;
    }
    std::string verdict;
    if (s.group == me.group && s.seq == me.seq && s.in_call && s.signature != me.signature) {
      verdict = "  <- DESYNC: a different call at the same position";
      desynced.push_back(r);
    } else if (s.group == me.group && s.seq < me.seq) {
      verdict = "  <- BEHIND";
      behind.push_back(r);
    } else if (s.group != me.group && s.in_call) {
      // Where is it in my group? Fewer calls than my position: it skipped or has not come.
      const auto it = s.calls.find(me.group);
      const uint64_t made = it == s.calls.end() ? 0 : it->second;
      verdict = "  <- DESYNC: in another group's call, after " + std::to_string(made) + " " + me.group +
                " call(s) where this rank is in #" + std::to_string(me.seq);
      desynced.push_back(r);
    } else if (!s.in_call) {
      verdict = "  <- not in a collective (computing, stuck, or gone)";
      behind.push_back(r);
    }
    std::snprintf(line, sizeof line, "watchdog:   rank %d: %s %s call #%llu: %s, for %.0f s%s\n", r,
                  s.in_call ? "in" : "last finished", s.group.c_str(), static_cast<unsigned long long>(s.seq),
                  s.signature.c_str(), secs(s.since_ns), verdict.c_str());
    out << line;
  }
  const auto list = [](const std::vector<int>& v) {
    std::string s;
    for (int r : v) s += (s.empty() ? "" : ", ") + std::to_string(r);
    return s;
  };
  if (!desynced.empty()) out << "watchdog: desynchronised ranks: " << list(desynced) << "\n";
  if (!behind.empty()) out << "watchdog: ranks behind or outside collectives: " << list(behind) << "\n";
  out << "watchdog: ending this rank (exit 124) so the launcher stops the job\n";
  return out.str();
}

void CheckedComm::watch() {
  std::mutex m;
  std::unique_lock lock(m);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(250));
    if (stop_) break;
    bool hung = false;
    {
      std::lock_guard state(mutex_);
      hung = in_call_ && !long_wait_expected_ &&
             static_cast<double>(steady_ns() - since_steady_ns_) / 1e9 > options_.timeout_s;
    }
    if (!hung) continue;
    const std::string text = report();
    if (options_.log) options_.log(text);
    if (!options_.status_dir.empty()) {
      std::ofstream(options_.status_dir / ("report-rank-" + std::to_string(rank_) + ".txt")) << text;
    }
    if (options_.on_hang) {
      options_.on_hang();
      return;
    }
    std::fflush(nullptr);
    std::_Exit(124);
  }
}

}  // namespace strata::comm
