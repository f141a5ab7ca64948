#include "core/run/runner.hpp"

#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <sys/resource.h>

#include "core/checkpoint/checkpoint_dir.hpp"
#include "core/comm/self_comm.hpp"
#include "core/config/pipeline_config.hpp"
#include "core/engine/bigram_model.hpp"
#include "core/engine/text_corpus.hpp"
#include "core/events/event_bus.hpp"
#include "core/run/cancellation.hpp"
#include "core/run/metrics_writer.hpp"
#include "core/run/plugin_set.hpp"
#include "core/run/progress.hpp"
#include "core/util/atomic_file.hpp"
#include "core/util/canonical_json.hpp"
#include "core/util/sha256.hpp"
#include "strata/version.hpp"

namespace strata::run {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// The state of one run, shared by the phases below.
template <class T>
class Run {
 public:
  Run(const config::ResolvedConfig& config, fs::path dir, util::Logger logger, const std::atomic<bool>& cancelled,
      const plugin::PluginRegistry& registry, bool plain_progress)
      : config_(config), doc_(config.document), dir_(std::move(dir)), logger_(logger), cancelled_(cancelled),
        env_(logger, comm::self_communicator()), metrics_(dir_ / "metrics.jsonl"),
        run_id_(doc_["name"].get<std::string>() + "-" + utc_stamp()),
        bus_(run_id_, 0, logger), plain_progress_(plain_progress) {
    env_.run_dir = dir_.string();
    env_.cancelled = &cancelled;
    env_.metric_sink = [this](const std::string& name, double value, int64_t step) {
      metrics_.write({{"step", step}, {"metric", name}, {"value", sig9(value)}});
    };
    env_.event_sink = [this](const std::string& plugin, const std::string& name, const std::string& payload) {
      bus_.publish(STRATA_EVENT_PLUGIN_CUSTOM, step_, {{"plugin", plugin}, {"name", name}, {"payload", json::parse(payload)}});
    };
    plugins_ = std::make_unique<PluginSet>(config, registry, env_);
    for (const auto* p : plugins_->all()) bus_.subscribe(*p);
  }

  ~Run() {
    // Plugins go first (they may still call the services in destroy), then the rest.
    plugins_.reset();
  }

  int execute();

 private:
  int execute_phases();
  void announce();
  bool open_dataset();
  void plan();
  void train();
  double evaluate_loss(int64_t batches);
  void evaluate_groups();
  void explain();
  void save_checkpoint(const std::string& reason);
  int finish_gates();
  void write_summary(const std::string& status);
  void aggregate_gradients();

  const config::ResolvedConfig& config_;
  const json& doc_;
  fs::path dir_;
  util::Logger logger_;
  const std::atomic<bool>& cancelled_;
  plugin::HostEnvironment env_;
  MetricsWriter metrics_;
  std::string run_id_;
  events::EventBus bus_;
  bool plain_progress_;
  std::unique_ptr<PluginSet> plugins_;

  std::unique_ptr<engine::TextCorpus> corpus_;
  engine::BigramModel<T> model_;
  uint64_t bucket_elems_ = 0;
  int64_t step_ = -1;
  int64_t steps_done_ = 0;
  double last_loss_ = NAN;
  double val_loss_ = NAN;
  double tokens_per_s_ = 0;
  std::string last_checkpoint_;
  std::string last_checkpoint_digest_;
};

template <class T>
void Run<T>::announce() {
  bus_.publish(STRATA_EVENT_RUN_START, -1,
               {{"run_id", run_id_}, {"name", doc_["name"]}, {"strata_version", STRATA_VERSION_STRING},
                {"config_source", config_.source}, {"run_dir", dir_.string()}});
  bus_.publish(STRATA_EVENT_CONFIG_RESOLVED, -1, {{"config_sha256", config_.digest}, {"config", doc_}});
  for (const auto* p : plugins_->all()) {
    const auto& info = p->info();
    bus_.publish(STRATA_EVENT_PLUGIN_LOADED, -1,
                 {{"name", info.name}, {"tier", plugin::tier_name(info.tier)}, {"version", info.version},
                  {"library", info.library->path.string()}, {"library_sha256", info.library->sha256},
                  {"abi", std::to_string(info.library->abi_major) + "." + std::to_string(info.library->abi_minor)}});
  }
}

template <class T>
bool Run<T>::open_dataset() {
  json files = json::array();
  for (const auto& p : doc_["data"]["paths"]) {
    std::error_code ec;
    files.push_back({{"path", p}, {"exists", fs::exists(p.get<std::string>(), ec)}});
  }
  // Asked before a single byte of data is read.
  const auto outcome = bus_.gate(STRATA_EVENT_DATASET_OPENED, -1, {{"paths", files}, {"kind", "text"}});
  if (!outcome.allowed) {
    logger_->error("dataset_opened was denied, so no data was read and the run stops: {}", outcome.reason);
    return false;
  }
  const auto& data = doc_["data"];
  corpus_ = std::make_unique<engine::TextCorpus>(data["paths"].get<std::vector<std::string>>(),
                                                 data["val_fraction"].get<double>(), data["max_bytes"].get<uint64_t>());
  logger_->info("data: {} files, {} train bytes, {} validation bytes", corpus_->files().size(), corpus_->train().size(),
                corpus_->validation().size());
  return true;
}

template <class T>
void Run<T>::plan() {
  const auto& train = doc_["train"];
  strata_model_shape shape{};
  shape.struct_size = STRATA_MODEL_SHAPE_STRUCT_SIZE;
  shape.dtype = sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32;
  shape.vocab_size = engine::BigramModel<T>::kVocab;
  shape.context = train["seq_len"].get<int64_t>();
  shape.layers = 1;
  shape.heads = 1;
  shape.width = engine::BigramModel<T>::kVocab;
  shape.ffn_width = 0;
  shape.parameter_count = static_cast<int64_t>(model_.parameters().size());
  shape.global_batch = train["batch_size"].get<int64_t>();
  strata_topology topo{};
  topo.struct_size = STRATA_TOPOLOGY_STRUCT_SIZE;
  topo.world_size = 1;
  topo.rank = 0;
  topo.nodes = 1;
  topo.ranks_per_node = 1;
  topo.device_kind = STRATA_DEVICE_CPU;
  strata_parallel_plan plan{};
  plan.struct_size = STRATA_PARALLEL_PLAN_STRUCT_SIZE;
  plugins_->parallelism().plan(shape, topo, plan);
  if (static_cast<int64_t>(plan.tp) * plan.pp * plan.dp != topo.world_size)
    throw std::runtime_error("parallelism plugin '" + plugins_->parallelism().name() + "' planned tp*pp*dp = " +
                             std::to_string(plan.tp * plan.pp * plan.dp) + " ranks for a world of " +
                             std::to_string(topo.world_size));
  logger_->info("parallel plan: tp={} pp={} dp={} ({})", plan.tp, plan.pp, plan.dp, plan.rationale);

  const int64_t batch = shape.global_batch;
  strata_layer_profile layer{STRATA_LAYER_PROFILE_STRUCT_SIZE, 0, "bigram.logits",
                             engine::BigramModel<T>::activation_bytes(batch, shape.context),
                             model_.parameters().size() * sizeof(T), 2.0 * 256 * batch * (shape.context - 1), 0};
  std::vector<const strata_layer_profile*> layers{&layer};
  std::vector<int32_t> decisions(layers.size(), -1);
  strata_memory_plan mplan{};
  mplan.struct_size = STRATA_MEMORY_PLAN_STRUCT_SIZE;
  mplan.layer_count = static_cast<uint32_t>(layers.size());
  mplan.decisions = decisions.data();
  const auto budget = static_cast<uint64_t>(train["memory_budget_mb"].get<double>() * 1048576.0);
  plugins_->memory().plan_memory(layers, budget, mplan);
  for (int32_t d : decisions)
    if (d < STRATA_MEMORY_KEEP || d > STRATA_MEMORY_OFFLOAD)
      throw std::runtime_error("memory plugin '" + plugins_->memory().name() + "' left a layer without a valid decision");
  logger_->info("memory plan: {}", mplan.rationale);

  const uint64_t preferred = plugins_->aggregation().preferred_bucket_bytes();
  bucket_elems_ = std::max<uint64_t>(1, (preferred > 0 ? preferred : 16u << 20) / sizeof(T));
}

template <class T>
void Run<T>::aggregate_gradients() {
  auto& grads = model_.gradients();
  std::vector<std::pair<strata_grad_bucket, strata_agg_pending*>> started;
  const strata_comm* world = env_.world;
  int32_t index = 0;
  for (uint64_t offset = 0; offset < grads.size(); offset += bucket_elems_, ++index) {
    strata_grad_bucket b{};
    b.struct_size = STRATA_GRAD_BUCKET_STRUCT_SIZE;
    b.index = index;
    b.offset = offset;
    b.step = step_;
    b.grads = {grads.data() + offset, std::min<uint64_t>(bucket_elems_, grads.size() - offset),
               sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32, STRATA_DEVICE_CPU, 0};
    started.emplace_back(b, nullptr);
    started.back().second = plugins_->aggregation().aggregate_start(world, started.back().first);
  }
  for (auto& [bucket, pending] : started) plugins_->aggregation().aggregate_wait(pending);
}

template <class T>
double Run<T>::evaluate_loss(int64_t batches) {
  const auto& train = doc_["train"];
  const uint64_t len = train["seq_len"].get<uint64_t>();
  const std::string& val = corpus_->validation();
  double total = 0;
  for (int64_t b = 0; b < batches; ++b) {
    // Fixed windows (seed 0 stream), so every evaluation measures the same text.
    const uint64_t start = engine::TextCorpus::window_start(0xE7A1, static_cast<uint64_t>(b), val.size(), len);
    total += model_.loss(std::string_view(val).substr(start, len));
  }
  return total / static_cast<double>(batches);
}

template <class T>
void Run<T>::train() {
  const auto& train = doc_["train"];
  const int64_t steps = train["steps"], batch = train["batch_size"], len = train["seq_len"];
  const int64_t log_every = train["log_every"], eval_every = train["eval_every"];
  const int64_t step_every = doc_["events"]["step_every"], ckpt_every = doc_["checkpoint"]["every"];
  const T lr = static_cast<T>(train["lr"].get<double>());
  const uint64_t seed = doc_["seed"];
  const std::string& text = corpus_->train();
  Progress progress(logger_, steps, plain_progress_);
  const auto start = Clock::now();
  for (step_ = 0; step_ < steps && !cancelled_.load(); ++step_) {
    std::vector<std::string_view> windows;
    for (int64_t b = 0; b < batch; ++b) {
      const uint64_t index = static_cast<uint64_t>(step_ * batch + b);  // global sample index
      windows.push_back(std::string_view(text).substr(
          engine::TextCorpus::window_start(seed, index, text.size(), static_cast<uint64_t>(len)), len));
    }
    last_loss_ = model_.forward_backward(windows);
    aggregate_gradients();
    model_.sgd_step(lr);
    steps_done_ = step_ + 1;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    tokens_per_s_ = elapsed > 0 ? static_cast<double>(steps_done_ * batch * (len - 1)) / elapsed : 0;
    const bool log_now = steps_done_ % log_every == 0 || steps_done_ == steps;
    if (log_now)
      metrics_.write({{"step", steps_done_}, {"loss", sig9(last_loss_)}, {"lr", sig9(static_cast<double>(lr))},
                      {"tokens_per_s", sig9(tokens_per_s_)}});
    char status[96];
    std::snprintf(status, sizeof status, "loss %.4f | %.0f tok/s", last_loss_, tokens_per_s_);
    progress.update(steps_done_, status, log_now);
    if (steps_done_ % step_every == 0)
      bus_.publish(STRATA_EVENT_STEP_END, steps_done_, {{"loss", sig9(last_loss_)}, {"tokens_per_s", sig9(tokens_per_s_)}});
    if (eval_every > 0 && steps_done_ % eval_every == 0 && steps_done_ != steps) {
      val_loss_ = evaluate_loss(train["eval_batches"]);
      metrics_.write({{"step", steps_done_}, {"val_loss", sig9(val_loss_)}});
      bus_.publish(STRATA_EVENT_EVAL_DONE, steps_done_, {{"val_loss", sig9(val_loss_)}});
    }
    if (ckpt_every > 0 && steps_done_ % ckpt_every == 0 && steps_done_ != steps) save_checkpoint("periodic");
  }
  progress.finish();
  step_ = steps_done_;
}

template <class T>
void Run<T>::evaluate_groups() {
  if (plugins_->of_tier(STRATA_TIER_FAIRNESS).empty()) return;
  const auto& attrs = doc_["evaluation"]["attributes"];
  const auto lines = corpus_->validation_lines(doc_["evaluation"]["max_examples"].get<size_t>());
  std::vector<std::string> attribute_names;
  std::vector<std::string> group_storage;
  std::vector<std::vector<std::pair<std::string, std::vector<std::string>>>> groups;  // per attribute
  for (const auto& [attr, gs] : attrs.items()) {
    attribute_names.push_back(attr);
    groups.emplace_back();
    for (const auto& [g, words] : gs.items()) groups.back().emplace_back(g, words.template get<std::vector<std::string>>());
  }
  // Per attribute, a NULL-terminated list of group names (strata_fairness_batch.group_names).
  std::vector<const char*> group_names;
  for (const auto& per_attr : groups) {
    for (const auto& [g, words] : per_attr) group_names.push_back(g.c_str());
    group_names.push_back(nullptr);
  }
  std::vector<const char*> attr_ptrs;
  for (const auto& a : attribute_names) attr_ptrs.push_back(a.c_str());
  const size_t na = attribute_names.size();
  std::vector<double> scores(lines.size());
  std::vector<int32_t> ids(lines.size() * na, -1);
  for (size_t i = 0; i < lines.size(); ++i) {
    scores[i] = -model_.loss(lines[i]);  // mean log-likelihood per byte: higher = the model finds it more natural
    std::string lower = lines[i];
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (size_t a = 0; a < na; ++a)
      for (size_t g = 0; g < groups[a].size() && ids[i * na + a] < 0; ++g)
        for (const auto& word : groups[a][g].second) {
          const auto at = lower.find(word);
          const auto is_letter = [&](size_t k) { return std::isalpha(static_cast<unsigned char>(lower[k])) != 0; };
          if (at != std::string::npos && (at == 0 || !is_letter(at - 1)) &&
              (at + word.size() >= lower.size() || !is_letter(at + word.size()))) {
            ids[i * na + a] = static_cast<int32_t>(g);
            break;
          }
        }
  }
  strata_fairness_batch batch{};
  batch.struct_size = STRATA_FAIRNESS_BATCH_STRUCT_SIZE;
  batch.step = step_;
  batch.count = static_cast<int64_t>(lines.size());
  batch.attribute_count = static_cast<uint32_t>(na);
  batch.attribute_names = attr_ptrs.data();
  batch.group_names = group_names.data();
  batch.scores = {scores.data(), scores.size(), STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
  batch.groups = {ids.data(), ids.size(), STRATA_DTYPE_I32, STRATA_DEVICE_CPU, 0};
  for (const auto& f : plugins_->of_tier(STRATA_TIER_FAIRNESS)) {
    f->fairness_evaluate(batch);
    f->fairness_finish(step_);
  }
}

template <class T>
void Run<T>::explain() {
  const auto& explainers = plugins_->of_tier(STRATA_TIER_EXPLAINABILITY);
  if (explainers.empty()) return;
  const int64_t batch = doc_["explain"]["batch"], seq = doc_["explain"]["seq_len"];
  const std::string& val = corpus_->validation();
  std::vector<int32_t> tokens;
  std::vector<std::string> text;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t) {
      const unsigned char c = static_cast<unsigned char>(val[static_cast<size_t>(b * seq + t) % val.size()]);
      tokens.push_back(c);
      text.emplace_back(1, static_cast<char>(c));
    }
  std::vector<const char*> text_ptrs;
  for (const auto& s : text) text_ptrs.push_back(s.c_str());
  // A bigram's prediction at position t depends on token t alone: its exact dependency map
  // is the identity, which is what an attention map of this model is.
  std::vector<float> attention(static_cast<size_t>(batch * seq * seq), 0.0f);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t) attention[static_cast<size_t>((b * seq + t) * seq + t)] = 1.0f;
  strata_explain_input in{};
  in.struct_size = STRATA_EXPLAIN_INPUT_STRUCT_SIZE;
  in.step = step_;
  in.batch = batch;
  in.seq = seq;
  in.layers = 1;
  in.heads = 1;
  in.tokens = {tokens.data(), tokens.size(), STRATA_DTYPE_I32, STRATA_DEVICE_CPU, 0};
  in.token_text = text_ptrs.data();
  in.attention = {attention.data(), attention.size(), STRATA_DTYPE_F32, STRATA_DEVICE_CPU, 0};
  for (const auto& e : explainers) e->explain(in);
}

template <class T>
void Run<T>::save_checkpoint(const std::string& reason) {
  checkpoint::CheckpointContents c;
  const char* dtype = sizeof(T) == 8 ? "F64" : "F32";
  c.files["model.safetensors"]["bigram.logits"] = {dtype, {256, 256}, raw_bytes(model_.parameters())};
  for (const auto* p : plugins_->all()) {
    for (const auto& [key, bytes] : p->save_state()) {
      const std::string name = std::string(plugin::tier_name(p->tier())) + "/" + p->name() + "/" + key;
      c.files["plugins.safetensors"][name] = {"U8", {static_cast<int64_t>(bytes.size())}, bytes};
    }
  }
  c.info = {{"step", steps_done_}, {"run_id", run_id_}, {"config_sha256", config_.digest}, {"reason", reason},
            {"seed", doc_["seed"]}};
  const std::string name = "step_" + std::to_string(steps_done_);
  last_checkpoint_digest_ = checkpoint::write_checkpoint(dir_ / "checkpoints", name, c);
  last_checkpoint_ = (dir_ / "checkpoints" / name).string();
  util::write_file_atomically(dir_ / "checkpoints" / "latest", name + "\n");
  logger_->info("checkpoint saved: {} ({})", last_checkpoint_, reason);
  bus_.publish(STRATA_EVENT_CHECKPOINT_SAVED, steps_done_,
               {{"path", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_}, {"reason", reason}});
}

template <class T>
int Run<T>::finish_gates() {
  int code = 0;
  if (doc_["checkpoint"]["publish"].get<bool>() && !last_checkpoint_.empty()) {
    const auto outcome = bus_.gate(STRATA_EVENT_CHECKPOINT_PUBLISH_REQUESTED, steps_done_,
                                   {{"path", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_}});
    if (outcome.allowed) {
      util::write_file_atomically(dir_ / "published.json",
                                  json({{"checkpoint", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_}})
                                          .dump(2) + "\n");
      logger_->info("checkpoint published: {}", last_checkpoint_);
    } else {
      logger_->warn("checkpoint publication denied, not published (the run goes on): {}", outcome.reason);
    }
  }
  if (doc_["release"]["request"].get<bool>()) {
    const auto outcome = bus_.gate(STRATA_EVENT_RELEASE_REQUESTED, steps_done_,
                                   {{"checkpoint", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_},
                                    {"val_loss", sig9(val_loss_)}});
    if (outcome.allowed) {
      util::write_file_atomically(dir_ / "release.json",
                                  json({{"checkpoint", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_}})
                                          .dump(2) + "\n");
      logger_->info("release approved: {}", (dir_ / "release.json").string());
    } else {
      logger_->error("release refused: {}", outcome.reason);
      code = kExitDenied;
    }
  }
  return code;
}

template <class T>
void Run<T>::write_summary(const std::string& status) {
  json summary = {{"status", status},
                  {"run_id", run_id_},
                  {"steps", steps_done_},
                  {"final_loss", sig9(last_loss_)},
                  {"val_loss", sig9(val_loss_)},
                  {"val_bits_per_byte", sig9(val_loss_ / std::log(2.0))},
                  {"tokens_per_s", sig9(tokens_per_s_)},
                  {"peak_rss_bytes", peak_rss_bytes()},
                  {"config_sha256", config_.digest},
                  {"checkpoint", last_checkpoint_}};
  util::write_file_atomically(dir_ / "summary.json", summary.dump(2) + "\n");
}

template <class T>
int Run<T>::execute() {
  try {
    return execute_phases();
  } catch (const std::exception& e) {
    // Leave a record of the failure before the error reaches the user: summary, run_end,
    // and a durable compliance log. Best effort: the original error is what matters.
    try {
      write_summary("failed");
      bus_.publish(STRATA_EVENT_RUN_END, steps_done_, {{"status", "failed"}, {"error", e.what()}});
      bus_.flush();
    } catch (const std::exception& nested) {
      logger_->error("could not record the failure: {}", nested.what());
    }
    throw;
  }
}

template <class T>
int Run<T>::execute_phases() {
  announce();
  if (!open_dataset()) {
    write_summary("denied");
    bus_.publish(STRATA_EVENT_RUN_END, -1, {{"status", "denied"}, {"steps", 0}});
    bus_.flush();
    return kExitDenied;
  }
  plan();
  train();
  const bool cancelled = cancelled_.load();
  val_loss_ = evaluate_loss(doc_["train"]["eval_batches"]);
  metrics_.write({{"step", steps_done_}, {"val_loss", sig9(val_loss_)}});
  bus_.publish(STRATA_EVENT_EVAL_DONE, steps_done_, {{"val_loss", sig9(val_loss_)}});
  logger_->info("validation loss {:.4f} nats/byte = {:.4f} bits/byte", val_loss_, val_loss_ / std::log(2.0));
  if (!cancelled) {
    evaluate_groups();
    explain();
  }
  save_checkpoint(cancelled ? "cancelled" : "final");
  const int gate_code = cancelled ? 0 : finish_gates();
  const std::string status = cancelled ? "cancelled" : gate_code != 0 ? "denied" : "completed";
  write_summary(status);
  bus_.publish(STRATA_EVENT_RUN_END, steps_done_,
               {{"status", status}, {"steps", steps_done_}, {"final_loss", sig9(last_loss_)}});
  bus_.flush();
  return gate_code;
}

fs::path choose_run_dir(const RunOptions& options, const json& doc) {
  if (options.out_dir) return *options.out_dir;
  return fs::path("runs") / (doc["name"].get<std::string>() + "-" + utc_stamp());
}

}  // namespace

int run_pipeline(const RunOptions& options, util::Logger logger) {
  SignalWatcher signals(logger);
  json document = config::load_json_file(options.config_path);
  // Overrides first, so `--set /plugin_paths=[...]` changes where plugins are looked for.
  config::apply_overrides(document, options.overrides, options.config_path.string());
  plugin::PluginRegistry registry(logger);
  auto extra = config::config_plugin_paths(document, options.config_path);
  extra.insert(extra.end(), options.plugin_paths.begin(), options.plugin_paths.end());
  registry.discover(plugin::default_search_paths(extra));
  const auto resolved = config::resolve_config(document, {}, registry, options.config_path.string());
  if (!options.log_level_from_cli)
    logger->set_level(spdlog::level::from_str(resolved.document["log_level"].get<std::string>()));

  const fs::path dir = choose_run_dir(options, resolved.document);
  fs::create_directories(dir);
  util::add_file_sink(logger, (dir / "run.log").string());
  util::write_file_atomically(dir / "config.resolved.json", resolved.document.dump(2) + "\n");
  logger->info("run directory: {}", dir.string());

  int code = 0;
  if (resolved.document["model"]["dtype"] == "fp64") {
    Run<double> run(resolved, dir, logger, signals.cancelled(), registry, options.plain_progress);
    code = run.execute();
  } else {
    Run<float> run(resolved, dir, logger, signals.cancelled(), registry, options.plain_progress);
    code = run.execute();
  }
  if (signals.cancelled().load()) return 128 + signals.signal_number();
  return code;
}

}  // namespace strata::run
