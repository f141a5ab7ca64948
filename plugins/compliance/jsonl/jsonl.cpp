// Compliance plugin `jsonl`: appends every lifecycle event to a JSON Lines file in the run
// directory (one object per line, fsynced at each gate and at flush) and can be configured
// to deny named gates, which makes it the simplest policy enforcement point and the test
// double for gate handling. Not tamper-evident: that is the `audit` plugin's job.
#include <strata/sdk.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>

namespace {

class JsonlLog final : public strata::sdk::CompliancePlugin {
 public:
  static constexpr const char* kName = "jsonl";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription = "appends every lifecycle event to a JSONL file; can deny named gates";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "file": {"type": "string", "minLength": 1, "default": "events.jsonl",
               "description": "path relative to the run directory"},
      "deny": {"type": "array", "default": [],
               "items": {"enum": ["dataset_opened", "checkpoint_publish_requested", "release_requested"]},
               "description": "gates to deny"},
      "reason": {"type": "string", "default": "denied by the jsonl plugin's configuration"}
    },
    "additionalProperties": false
  })json";

  explicit JsonlLog(strata::sdk::Host host) : CompliancePlugin(host) {
    const nlohmann::json options = host.options();
    for (const auto& gate : options.at("deny")) deny_.insert(gate.get<std::string>());
    reason_ = options.at("reason").get<std::string>();
    const std::string dir = host.run_dir();
    if (dir.empty()) return;  // inspected outside a run: nothing to write
    const std::string file = options.at("file").get<std::string>();
    if (file.front() == '/' || file.find("..") != std::string::npos)
      throw strata::sdk::Error(STRATA_INVALID_ARGUMENT, "option 'file' (\"" + file +
                                                            "\") must be a path inside the run directory");
    path_ = dir + "/" + file;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw strata::sdk::Error(STRATA_INVALID_ARGUMENT, "cannot open " + path_ + ": " + std::strerror(errno));
  }
  ~JsonlLog() override {
    if (fd_ >= 0) ::close(fd_);
  }

  uint64_t subscriptions() const override { return STRATA_EVENT_ALL; }

  void on_event(const strata::sdk::Event& event, strata::sdk::Decision* decision) override {
    const bool deny = decision != nullptr && deny_.count(std::string(event.name)) > 0;
    if (deny) {
      decision->deny = true;
      decision->reason = reason_;
    }
    nlohmann::json line = {{"seq", event.sequence},
                           {"event", std::string(event.name)},
                           {"rank", event.rank},
                           {"step", event.step},
                           {"utc_ns", event.utc_ns},
                           {"run_id", std::string(event.run_id)},
                           {"payload_sha256", std::string(event.payload_sha256)},
                           {"payload", nlohmann::json::parse(event.payload_json)}};
    if (event.is_gate) line["decision"] = deny ? "deny" : "allow";
    append(line.dump() + "\n");
    if (event.is_gate) flush();  // a gate's outcome must be on disk before the host acts on it
  }

  void flush() override {
    if (fd_ >= 0 && ::fsync(fd_) != 0)
      throw strata::sdk::Error(STRATA_INTERNAL, "fsync " + path_ + " failed: " + std::strerror(errno));
  }

 private:
  void append(const std::string& text) {
    if (fd_ < 0) return;
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw strata::sdk::Error(STRATA_INTERNAL, "write " + path_ + " failed: " + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
  }

  std::set<std::string> deny_;
  std::string reason_;
  std::string path_;
  int fd_ = -1;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-jsonl", JsonlLog)
