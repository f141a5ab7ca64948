#include "core/run/runner.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <cstring>
#include <ctime>

#include "core/checkpoint/checkpoint_dir.hpp"
#include "core/data/prepare.hpp"
#include "core/comm/self_comm.hpp"
#include "core/comm/watchdog.hpp"
#include "core/comm/world.hpp"
#include "core/config/pipeline_config.hpp"
#include "core/engine/gpt/gpt_model.hpp"
#include "core/engine/gpt/optimizer.hpp"
#include "core/engine/generate.hpp"
#include "core/run/train_state.hpp"
#include "core/run/training_data.hpp"
#include "kernels/cpu/adamw.h"
#include "kernels/cpu/lr_schedule.h"
#include "core/events/event_bus.hpp"
#include "core/run/cancellation.hpp"
#include "core/run/explanation.hpp"
#include "core/run/gradient_buckets.hpp"
#include "core/run/group_evaluation.hpp"
#include "core/run/metrics_writer.hpp"
#include "core/run/model_parallel.hpp"
#include "core/run/plugin_set.hpp"
#include "core/run/progress.hpp"
#include "core/util/atomic_file.hpp"
#include "core/util/canonical_json.hpp"
#include "core/util/sha256.hpp"
#include "strata/git_commit.hpp"
#include "strata/version.hpp"
#include "core/util/peak_rss.hpp"

namespace strata::run {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string host_name() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string("unknown");
}

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}


// The state of one run, shared by the phases below.
template <class T>
class Run {
 public:
  // Every rank runs the same program on its share of the batch (data parallel). Rank 0
  // alone writes run-level files: its plugins get the run directory, the others' an empty
  // one (plugins then write nothing), and gate decisions are rank 0's, broadcast.
  Run(const config::ResolvedConfig& config, fs::path dir, std::string run_id, const comm::World& world,
      const strata_comm* world_comm, comm::CheckedComm* watchdog, util::Logger logger, const std::atomic<bool>& cancelled, const plugin::PluginRegistry& registry,
      bool plain_progress, engine::DeviceTrainerFactory device_factory)
      : config_(config), doc_(config.document), dir_(std::move(dir)), logger_(logger), cancelled_(cancelled),
        world_(world), world_comm_(world_comm), watchdog_(watchdog), lead_(world.rank() == 0), env_(logger, world_comm),
        metrics_(lead_ ? dir_ / "metrics.jsonl" : fs::path()), run_id_(std::move(run_id)),
        bus_(run_id_, world.rank(), logger, world_comm), plain_progress_(plain_progress),
        device_factory_(std::move(device_factory)) {
    env_.run_dir = lead_ ? dir_.string() : std::string();
    env_.cancelled = &cancelled;
    env_.metric_sink = [this](const std::string& name, double value, int64_t step) {
      metrics_.write({{"step", step}, {"metric", name}, {"value", sig9(value)}});
      remember_plugin_metric(name, value);
    };
    env_.event_sink = [this](const std::string& plugin, const std::string& name, const std::string& payload) {
      bus_.publish(STRATA_EVENT_PLUGIN_CUSTOM, step_, {{"plugin", plugin}, {"name", name}, {"payload", json::parse(payload)}});
    };
    plugins_ = std::make_unique<PluginSet>(config, registry, env_);
    for (const auto* p : plugins_->all()) bus_.subscribe(*p);
  }

  ~Run() { plugins_.reset(); }  // plugins first: they may still call the services in destroy

  int execute();

 private:
  int execute_phases();
  void announce();
  bool open_dataset();
  void configure_model();
  void build_model();
  void plan();
  void resume_if_asked();
  void train();
  void train_step(const kernels::cpu::LrSchedule& schedule);
  void finish_aggregation(BucketedAggregation<T>& buckets);
  double evaluate(int64_t max_batches, double* bits_per_byte);
  void evaluate_groups();
  void explain();
  std::string sample_text();
  void save_checkpoint(const std::string& reason);
  int finish_gates();
  void write_summary(const std::string& status);
  std::map<std::string, plugin::PluginState> plugin_states() const;
  void remember_plugin_metric(const std::string& qualified_name, double value);
  double world_sum(double value) const;
  // Signals reach the ranks at different moments; every rank must stop after the same step.
  bool cancelled_everywhere() const { return world_sum(cancelled_.load() ? 1.0 : 0.0) > 0; }
  json gate_metrics() const;

  const config::ResolvedConfig& config_;
  const json& doc_;
  fs::path dir_;
  util::Logger logger_;
  const std::atomic<bool>& cancelled_;
  const comm::World& world_;
  const strata_comm* world_comm_;  // the world, checked by the watchdog when distributed
  comm::CheckedComm* watchdog_;     // null on one rank
  // Rank 0 alone is about to work (write a checkpoint, evaluate, explain, sample) while the
  // others wait in their next collective: that wait is expected, however long it takes.
  void expect_wait_for_rank0() const {
    if (watchdog_ != nullptr) watchdog_->expect_long_wait();
  }
  const bool lead_;  // rank 0: writes the run's files
  plugin::HostEnvironment env_;
  MetricsWriter metrics_;
  std::string run_id_;
  events::EventBus bus_;
  bool plain_progress_;
  // model.device = "cuda": the trainer holds the working model and does the steps; model_
  // and optimizer_ are its CPU mirror (initialisation, checkpoints, samples, evaluations
  // that need the whole model on the host), synchronised at each checkpoint.
  engine::DeviceTrainerFactory device_factory_;
  std::unique_ptr<engine::DeviceTrainer> device_;
  // Data parallelism on devices: the communicator the device's gradient buckets travel on
  // (owned by device_; null on one device).
  const strata_comm* device_comm_ = nullptr;
  void train_step_on_device(const kernels::cpu::LrSchedule& schedule);
  void start_device();
  void device_to_mirror();
  void mirror_to_device();
  std::unique_ptr<PluginSet> plugins_;

  TrainingData data_;
  engine::GptConfig model_config_;
  // Model parallelism (tp or pp > 1): this rank's coordinates and groups, the engine's
  // tensor-parallel adapter and the pipeline schedule. dp_comm_ averages gradients: the
  // world without model parallelism.
  ParallelCoordinates at_;
  std::unique_ptr<ParallelGroups> groups_;
  std::unique_ptr<CommTensorGroup> tp_group_;
  std::unique_ptr<PipelineSchedule<T>> pipeline_;
  const strata_comm* dp_comm_ = nullptr;
  // Rank 0 under model parallelism: the whole model in full shapes, refreshed from the
  // shards when a checkpoint is written; checkpoints, evaluation artefacts and samples
  // read it.
  std::unique_ptr<engine::GptModel<T>> full_model_;
  void gather_full_model(const engine::AdamW<T>& local_optimizer, engine::AdamW<T>* full_optimizer);
  engine::GptModel<T>& whole_model() { return full_model_ ? *full_model_ : *model_; }
  void clip_gradients(double max_norm);
  std::unique_ptr<engine::GptModel<T>> model_;
  std::unique_ptr<engine::AdamW<T>> optimizer_;
  int64_t zero_shard_ = 0;  // ZeRO-1: elements per rank's shard (0: not sharded)
  std::unique_ptr<engine::AdamW<T>> make_optimizer(engine::OptimizerShard shard) const {
    return optimizer_for(model_->layout(), shard);
  }
  std::unique_ptr<engine::AdamW<T>> optimizer_for(const engine::ParameterLayout& layout,
                                                  engine::OptimizerShard shard) const {
    const auto& t = doc_["train"];
    return std::make_unique<engine::AdamW<T>>(layout, t["beta1"], t["beta2"], t["eps"], t["weight_decay"], shard);
  }
  void allgather_shards(const T* shard, T* full) const;
  std::unique_ptr<engine::AdamW<T>> gather_optimizer() const;
  std::unique_ptr<data::BatchLoader> loader_;
  std::vector<int32_t> inputs_, targets_;
  int64_t micro_batch_ = 1, micro_batches_ = 1, seq_len_ = 1, dp_ = 1;
  bool prescaled_ = false;  // the aggregator sums; local gradients are divided by dp_
  uint64_t bucket_elems_ = 0;
  int64_t step_ = -1;
  int64_t steps_done_ = 0;
  double last_loss_ = NAN;
  double val_loss_ = NAN;
  double val_bpb_ = NAN;
  double tokens_per_s_ = 0;
  double train_seconds_ = 0;
  std::string last_checkpoint_;
  std::string last_checkpoint_digest_;
  // Latest value of every metric, for the gates' payloads (policies compare them): plugin
  // metrics nested under their tier, e.g. {"fairness": {"max_auc_gap": 0.04}}.
  json plugin_metrics_ = json::object();
};

// "group-stats.gender.female.count" from a fairness plugin becomes
// plugin_metrics_["fairness"]["gender"]["female"]["count"] (and the same under the plugin's
// own name), so a policy can say `metrics.fairness.max_auc_gap` whichever plugin computed it.
template <class T>
void Run<T>::remember_plugin_metric(const std::string& qualified_name, double value) {
  const auto dot = qualified_name.find('.');
  if (dot == std::string::npos || !plugins_) return;
  const std::string plugin_name = qualified_name.substr(0, dot);
  const std::string name = qualified_name.substr(dot + 1);
  for (const auto* p : plugins_->all()) {
    if (p->name() != plugin_name) continue;
    for (const std::string& root : {std::string(plugin::tier_name(p->tier())), "plugins." + plugin_name}) {
      json::json_pointer ptr;
      size_t start = 0;
      const std::string path = root + "." + name;
      while (true) {
        const auto next = path.find('.', start);
        ptr /= path.substr(start, next - start);
        if (next == std::string::npos) break;
        start = next + 1;
      }
      try {
        plugin_metrics_[ptr] = sig9(value);
      } catch (const json::exception&) {
        logger_->debug("metric {} clashes with another metric's name; not offered to the gates", qualified_name);
      }
    }
    return;
  }
}

template <class T>
double Run<T>::world_sum(double value) const {
  if (world_.size() == 1) return value;
  strata_buffer b{&value, 1, STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
  const strata_comm* c = world_comm_;
  if (c->api->allreduce(c->handle, &b, &b, STRATA_REDUCE_SUM, nullptr) != STRATA_OK)
    throw std::runtime_error("all-reduce of one value across the world failed");
  return value;
}

template <class T>
json Run<T>::gate_metrics() const {
  json m = plugin_metrics_;
  m["steps"] = steps_done_;
  m["final_loss"] = sig9(last_loss_);
  m["val_loss"] = sig9(val_loss_);
  m["val_bits_per_byte"] = sig9(val_bpb_);
  return m;
}

template <class T>
void Run<T>::announce() {
  bus_.publish(STRATA_EVENT_RUN_START, -1,
               {{"run_id", run_id_}, {"name", doc_["name"]}, {"strata_version", STRATA_VERSION_STRING},
                {"code_version", STRATA_GIT_COMMIT}, {"config_source", config_.source}, {"run_dir", dir_.string()},
                {"host", host_name()}});
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
  const auto& data = doc_["data"];
  json sources = json::array();
  // Each source with its digest, so a policy can hold datasets to an allow-list. Hashing
  // is not training on the data: nothing reaches the model before the gate allows it.
  // A folder's digest is that of its `sha256sum`-style manifest ("<hex>  <relative path>\n"
  // per text file, in the order the data is prepared), so it can be checked with
  // `find ... | sort | xargs sha256sum` and changes whenever any file does.
  const auto describe = [](const std::string& path) {
    std::error_code ec;
    json d = {{"path", path}, {"exists", fs::exists(path, ec)}};
    if (fs::is_regular_file(path, ec)) {
      d["bytes"] = fs::file_size(path, ec);
      d["sha256"] = util::sha256_file_hex(path);
    } else if (fs::is_directory(path, ec)) {
      std::string manifest;
      uint64_t bytes = 0, files = 0;
      for (const auto& f : data::collect_text_files({path})) {
        manifest += util::sha256_file_hex(f) + "  " + fs::relative(f, path).string() + "\n";
        bytes += fs::file_size(f, ec);
        ++files;
      }
      d["bytes"] = bytes;
      d["files"] = files;
      d["sha256"] = util::sha256_hex(manifest);
      d["digest_of"] = "sha256sum manifest of the folder's text files";
    }
    return d;
  };
  if (data.contains("prepared")) {
    const std::string prefix = data["prepared"];
    for (const char* split : {".train.tok", ".val.tok"}) {
      json d = describe(prefix + split);
      d["prepared"] = prefix;
      sources.push_back(d);
    }
  } else {
    for (const auto& p : data["text"]) sources.push_back(describe(p.get<std::string>()));
  }
  // Asked before a single byte of data is read.
  const auto outcome = bus_.gate(STRATA_EVENT_DATASET_OPENED, -1,
                                 {{"sources", sources}, {"tokenizer", data["tokenizer"]}});
  if (!outcome.allowed) {
    logger_->error("dataset_opened was denied, so no data was read and the run stops: {}", outcome.reason);
    return false;
  }
  std::map<std::string, std::string> hashed;  // the gate's digests, not computed twice
  for (const auto& s : sources)
    if (s.contains("sha256")) hashed[s["path"].get<std::string>()] = s["sha256"].get<std::string>();
  data_ = open_training_data(data, dir_, doc_["seed"].get<uint64_t>(), logger_, hashed);
  return true;
}

template <class T>
void Run<T>::configure_model() {
  const auto& m = doc_["model"];
  engine::GptConfig& cfg = model_config_;
  cfg.vocab_size = data_.tokenizer->vocab_size();
  cfg.context = m["context"];
  cfg.layers = m["layers"];
  cfg.heads = m["heads"];
  cfg.width = m["width"];
  cfg.validate();
  seq_len_ = doc_["train"]["seq_len"];
  if (seq_len_ > cfg.context)
    throw std::runtime_error("/train/seq_len " + std::to_string(seq_len_) + " exceeds /model/context " +
                             std::to_string(cfg.context));
}

// This rank's share of the model (all of it without model parallelism), after plan().
template <class T>
void Run<T>::build_model() {
  const engine::GptConfig& cfg = model_config_;
  const int64_t batch = doc_["train"]["batch_size"];
  const engine::ModelShard shard = at_.shard();
  // 1F1B keeps at most pp - stage micro-batches in flight on a stage.
  const int slots = static_cast<int>(std::min<int64_t>(at_.pp - at_.pp_rank, micro_batches_));
  // Sized for the largest batch any phase runs on it: a micro-batch (training, evaluation,
  // explainers). The whole model also samples, up to the full context; a shard does not
  // (rank 0's full-shape copy does).
  model_ = std::make_unique<engine::GptModel<T>>(cfg, micro_batch_, at_.model_parallel() ? seq_len_ : cfg.context, shard,
                                                 at_.pp > 1 ? slots : 1, tp_group_.get());
  model_->init_parameters(doc_["seed"].get<uint64_t>());
  optimizer_ = make_optimizer({});
  const int64_t total_parameters = engine::ParameterLayout(cfg).parameter_count();
  logger_->info("model: {} parameters ({} layers, {} heads, width {}, context {}, vocab {}), {}", total_parameters,
                cfg.layers, cfg.heads, cfg.width, cfg.context, cfg.vocab_size, sizeof(T) == 8 ? "fp64" : "fp32");
  if (doc_["model"]["device"] != "cpu") start_device();
  if (at_.model_parallel()) {
    logger_->info("this rank: {}, {} parameters", at_.describe(), model_->parameter_count());
    // Sized for what runs on it: the explainers' batch, fairness scoring and sampling (1 row).
    const int64_t rows = std::clamp<int64_t>(doc_["explain"]["batch"].get<int64_t>(), 1, batch);
    if (lead_) full_model_ = std::make_unique<engine::GptModel<T>>(cfg, rows, cfg.context);
  }
}

template <class T>
void Run<T>::start_device() {
  const std::string device = doc_["model"]["device"];
  if constexpr (std::is_same_v<T, float>) {
    if (!device_factory_)
      throw std::runtime_error("/model/device is \"" + device + "\" but this strata was built without CUDA "
                               "(configure with -DSTRATA_CUDA=ON where nvcc is installed)");
    if (at_.model_parallel())
      throw std::runtime_error("/model/device \"" + device + "\" runs data parallelism only; this plan has tp=" +
                               std::to_string(at_.tp) + " pp=" + std::to_string(at_.pp) +
                               " (tensor and pipeline parallelism run on device \"cpu\")");
    const auto& t = doc_["train"];
    device_ = device_factory_(model_config_, micro_batch_, seq_len_,
                              {t["beta1"].get<double>(), t["beta2"].get<double>(), t["eps"].get<double>(),
                               t["weight_decay"].get<double>()},
                              comm::detect_launch().local_rank);
    mirror_to_device();
    logger_->info("training on {}: {}", device_->describe(), device_->precision());
    if (dp_ > 1) {
      device_comm_ = device_->gradient_comm(dp_comm_);
      logger_->info("data parallelism on the devices: {} replicas; gradient buckets go to '{}' as the backward "
                    "completes them", dp_, plugins_->aggregation().name());
    }
  } else {
    throw std::runtime_error("/model/device \"" + device + "\" trains in fp32 only");
  }
}

template <class T>
void Run<T>::mirror_to_device() {
  if constexpr (std::is_same_v<T, float>)
    if (device_) device_->set_state(model_->params(), optimizer_->m(), optimizer_->v(), optimizer_->step_count());
}

template <class T>
void Run<T>::device_to_mirror() {
  if constexpr (std::is_same_v<T, float>)
    if (device_) {
      int64_t step = 0;
      device_->get_state(model_->params(), optimizer_->m(), optimizer_->v(), &step);
      optimizer_->set_step_count(step);
    }
}

template <class T>
void Run<T>::plan() {
  const auto& cfg = model_config_;
  strata_model_shape shape{};
  shape.struct_size = STRATA_MODEL_SHAPE_STRUCT_SIZE;
  shape.dtype = sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32;
  shape.vocab_size = cfg.vocab_size;
  shape.context = cfg.context;
  shape.layers = cfg.layers;
  shape.heads = cfg.heads;
  shape.width = cfg.width;
  shape.ffn_width = 4 * cfg.width;
  shape.parameter_count = engine::ParameterLayout(cfg).parameter_count();
  shape.global_batch = doc_["train"]["batch_size"].get<int64_t>();
  strata_topology topo{};
  topo.struct_size = STRATA_TOPOLOGY_STRUCT_SIZE;
  topo.world_size = world_.size();
  topo.rank = world_.rank();
  topo.nodes = 1;
  topo.ranks_per_node = 1;
  topo.device_kind = STRATA_DEVICE_CPU;
  strata_parallel_plan plan{};
  plan.struct_size = STRATA_PARALLEL_PLAN_STRUCT_SIZE;
  plugins_->parallelism().plan(shape, topo, plan);
  const std::string who = "parallelism plugin '" + plugins_->parallelism().name() + "'";
  if (plan.tp < 1 || plan.pp < 1 || plan.dp < 1 ||
      static_cast<int64_t>(plan.tp) * plan.pp * plan.dp != topo.world_size)
    throw std::runtime_error(who + " planned tp*pp*dp = " + std::to_string(plan.tp * plan.pp * plan.dp) +
                             " ranks for a world of " + std::to_string(topo.world_size));
  if (plan.micro_batch < 1 || plan.micro_batches < 1 ||
      static_cast<int64_t>(plan.micro_batch) * plan.micro_batches * plan.dp != shape.global_batch)
    throw std::runtime_error(who + " planned micro-batches that do not make up the global batch of " +
                             std::to_string(shape.global_batch));
  if (cfg.heads % plan.tp != 0)
    throw std::runtime_error(who + " planned tp=" + std::to_string(plan.tp) + ", which does not divide the " +
                             std::to_string(cfg.heads) + " heads");
  if (plan.pp > STRATA_MAX_PIPELINE_STAGES || plan.pp > cfg.layers)
    throw std::runtime_error(who + " planned " + std::to_string(plan.pp) + " pipeline stages for " +
                             std::to_string(cfg.layers) + " layers");
  if (plan.pp > 1 && plan.schedule != STRATA_SCHEDULE_1F1B)
    throw std::runtime_error(who + " planned " + std::to_string(plan.pp) +
                             " pipeline stages without a schedule this host executes (it runs 1F1B)");
  try {
    at_ = ParallelCoordinates::of(plan.tp, plan.pp, plan.dp, plan.stage_layer_begin, cfg.layers, world_.rank());
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(who + ": " + e.what());
  }
  micro_batch_ = plan.micro_batch;
  micro_batches_ = plan.micro_batches;
  dp_ = plan.dp;
  dp_comm_ = world_comm_;
  if (world_.size() > 1) {
    // Gradients travel on communicators of their own, never on the world that carries the
    // host's small collectives (loss, cancellation): a rank that skips a gradient bucket
    // then waits in a different group, which the watchdog reports, instead of pairing
    // with another rank's all-reduce of a different size (undefined behaviour in MPI).
    groups_ = std::make_unique<ParallelGroups>(world_comm_, at_);
    dp_comm_ = groups_->dp();
    if (at_.tp > 1) tp_group_ = std::make_unique<CommTensorGroup>(groups_->tp());
  }
  build_model();
  if (at_.pp > 1)
    pipeline_ = std::make_unique<PipelineSchedule<T>>(*model_, groups_->pp(), at_, micro_batch_, seq_len_);
  // An aggregator that sums pre-divided gradients: the 1/dp joins the loss scale.
  prescaled_ = dp_ > 1 && plugins_->aggregation().sums_prescaled_gradients();
  if (plan.zero_stage == 1 && dp_ > 1 && device_)
    throw std::runtime_error(who + " planned ZeRO-1, which runs on device \"cpu\" only for now");
  if (plan.zero_stage == 1 && dp_ > 1) {
    // ZeRO-1: each data-parallel rank keeps AdamW's moments for its shard of the flat
    // buffer only, updates that shard, and the ranks all-gather the parameters.
    zero_shard_ = (model_->layout().total_count() + dp_ - 1) / dp_;
    const int64_t begin = std::min<int64_t>(at_.dp_rank * zero_shard_, model_->layout().total_count());
    const int64_t end = std::min<int64_t>(begin + zero_shard_, model_->layout().total_count());
    optimizer_ = make_optimizer({begin, end});
    logger_->info("ZeRO-1: this rank holds optimizer state for parameters [{}, {}) of {}", begin, end,
                  model_->layout().total_count());
  }
  logger_->info("parallel plan: tp={} pp={} dp={}, {} micro-batch(es) of {} ({})", plan.tp, plan.pp, plan.dp,
                plan.micro_batches, plan.micro_batch, plan.rationale);

  const auto profiles = model_->layer_profiles(micro_batch_, seq_len_);
  std::vector<strata_layer_profile> layers(profiles.size());
  std::vector<const strata_layer_profile*> pointers;
  for (size_t i = 0; i < profiles.size(); ++i) {
    layers[i] = {STRATA_LAYER_PROFILE_STRUCT_SIZE, static_cast<int32_t>(i), profiles[i].name.c_str(),
                 profiles[i].activation_bytes, profiles[i].parameter_bytes, static_cast<double>(profiles[i].forward_flops), 0};
    pointers.push_back(&layers[i]);
  }
  std::vector<int32_t> decisions(layers.size(), -1);
  strata_memory_plan mplan{};
  mplan.struct_size = STRATA_MEMORY_PLAN_STRUCT_SIZE;
  mplan.layer_count = static_cast<uint32_t>(layers.size());
  mplan.decisions = decisions.data();
  const auto budget = static_cast<uint64_t>(doc_["train"]["memory_budget_mb"].get<double>() * 1048576.0);
  plugins_->memory().plan_memory(pointers, budget, mplan);
  int64_t not_kept = 0;
  for (int32_t d : decisions) {
    if (d < STRATA_MEMORY_KEEP || d > STRATA_MEMORY_OFFLOAD)
      throw std::runtime_error("memory plugin '" + plugins_->memory().name() + "' left a layer without a valid decision");
    not_kept += d != STRATA_MEMORY_KEEP;
  }
  logger_->info("memory plan: {}", mplan.rationale);
  if (not_kept > 0)
    logger_->warn("the memory plan asks to recompute or offload {} layer(s); this engine keeps every activation "
                  "until rematerialisation lands", not_kept);

  const uint64_t preferred = plugins_->aggregation().preferred_bucket_bytes();
  bucket_elems_ = std::max<uint64_t>(1, (preferred > 0 ? preferred : 16u << 20) / sizeof(T));
  // Every tensor- and pipeline-parallel rank of a replica reads that replica's batches.
  loader_ = std::make_unique<data::BatchLoader>(data_.train, seq_len_, micro_batch_, static_cast<uint64_t>(at_.dp_rank),
                                                static_cast<uint64_t>(dp_), doc_["seed"].get<uint64_t>());
  inputs_.resize(static_cast<size_t>(micro_batch_ * seq_len_));
  targets_.resize(inputs_.size());
}

template <class T>
void Run<T>::resume_if_asked() {
  const auto& t = doc_["train"];
  if (!t.contains("resume")) return;
  const fs::path from = t["resume"].get<std::string>();
  const auto contents = checkpoint::read_checkpoint(from);
  // Checkpoints hold full shapes: a shard takes its part of each tensor, whatever layout
  // wrote it.
  auto full = zero_shard_ > 0 ? make_optimizer({}) : nullptr;
  const ResumePoint r = restore_state(contents, *model_, full ? *full : *optimizer_);
  if (full) {  // keep this rank's shard of the restored state
    const int64_t b = optimizer_->shard_begin(), n = optimizer_->shard_end() - b;
    std::copy(full->m() + b, full->m() + b + n, optimizer_->m());
    std::copy(full->v() + b, full->v() + b + n, optimizer_->v());
    optimizer_->set_step_count(full->step_count());
  }
  mirror_to_device();
  loader_->seek(r.position);
  step_ = steps_done_ = r.step;
  for (const auto* p : plugins_->all()) {
    const auto it = r.plugin_states.find(std::string(plugin::tier_name(p->tier())) + "/" + p->name());
    if (it != r.plugin_states.end()) p->load_state(it->second);
  }
  logger_->info("resumed from {} at step {}", from.string(), r.step);
}

template <class T>
void Run<T>::finish_aggregation(BucketedAggregation<T>& buckets) {
  buckets.finish();
  // The two copies of the tied wte (first and last pipeline stage) add their gradients,
  // each already averaged over the data-parallel replicas.
  if (groups_ && groups_->embedding() != nullptr) {
    const engine::ParameterTensor& wte = model_->layout().at("wte");
    allreduce_in_place(groups_->embedding(), model_->grads() + wte.offset, wte.count, STRATA_REDUCE_SUM,
                       "the tied embedding's gradients between the first and last pipeline stage");
  }
}

template <class T>
void Run<T>::train_step(const kernels::cpu::LrSchedule& schedule) {
  if constexpr (std::is_same_v<T, float>) {
    if (device_) {
      train_step_on_device(schedule);
      return;
    }
  }
  model_->zero_grads();
  double loss = 0;
  const double loss_scale = 1.0 / static_cast<double>(micro_batches_ * (prescaled_ ? dp_ : 1));
  // Buckets start as the last micro-batch's backward completes them (the earlier ones only
  // accumulate), so their communication can overlap the rest of that backward.
  BucketedAggregation<T> buckets(plugins_->aggregation(), dp_comm_, model_->grads(),
                                 static_cast<uint64_t>(model_->layout().total_count()), bucket_elems_, step_);
  model_->set_gradient_hook(
      start_buckets_in_last_backward(buckets, micro_batches_, doc_["train"]["overlap_grad_reduce"].get<bool>()));
  // The hook refers to this frame: it must not outlive it, even when a step throws.
  struct ClearHook {
    engine::GptModel<T>& model;
    ~ClearHook() { model.set_gradient_hook(nullptr); }
  } clear_hook{*model_};
  if (pipeline_) {
    loss = pipeline_->train(micro_batches_, loss_scale,
                            [this](int32_t* tokens, int32_t* targets) { loader_->next(tokens, targets); });
  } else {
    for (int64_t m = 0; m < micro_batches_; ++m) {
      loader_->next(inputs_.data(), targets_.data());
      loss += model_->forward(inputs_.data(), targets_.data(), micro_batch_, seq_len_);
      // (A hidden-state gradient added for adversarial objectives is not loss-scaled: it must
      // be divided by dp_ by whoever adds it when prescaled_.)
      model_->backward(loss_scale);
    }
  }
  // The step's loss over the global batch: each data-parallel replica saw an equal share,
  // and its last stage's tensor-parallel rank 0 speaks for it.
  finish_aggregation(buckets);
  const bool speaks = at_.last_stage() && at_.tp_rank == 0;
  last_loss_ = world_sum(speaks ? loss / static_cast<double>(micro_batches_) : 0.0) / static_cast<double>(dp_);
  const double clip = doc_["train"]["grad_clip"];
  if (clip > 0) clip_gradients(clip);
  optimizer_->step(model_->params(), model_->grads(), kernels::cpu::lr_at_step(schedule, step_));
  if (zero_shard_ > 0) allgather_shards(model_->params() + optimizer_->shard_begin(), model_->params());
}

// The step on a DeviceTrainer: forward and backward of each micro-batch on the device; with
// several replicas, each gradient bucket goes to the aggregation plugin, over the device's
// communicator, as the last micro-batch's backward completes it (as on the CPU); then
// clipping and AdamW inside the device's step.
template <class T>
void Run<T>::train_step_on_device(const kernels::cpu::LrSchedule& schedule) {
  if constexpr (std::is_same_v<T, float>) {
    device_->zero_grads();
    const double loss_scale = 1.0 / static_cast<double>(micro_batches_ * (prescaled_ ? dp_ : 1));
    std::optional<BucketedAggregation<T>> buckets;
    if (device_comm_ != nullptr) {
      buckets.emplace(plugins_->aggregation(), device_comm_, device_->gradients(), bucket_elems_, step_);
      device_->set_gradient_hook(
          start_buckets_in_last_backward(*buckets, micro_batches_, doc_["train"]["overlap_grad_reduce"].get<bool>()));
    }
    // The hook refers to this frame: it must not outlive it, even when a step throws.
    struct ClearHook {
      engine::DeviceTrainer& device;
      ~ClearHook() { device.set_gradient_hook(nullptr); }
    } clear_hook{*device_};
    double loss = 0;
    for (int64_t m = 0; m < micro_batches_; ++m) {
      loader_->next(inputs_.data(), targets_.data());
      loss += device_->forward(inputs_.data(), targets_.data(), micro_batch_, seq_len_);
      device_->backward(loss_scale);
    }
    if (buckets) buckets->finish();
    last_loss_ = loss / static_cast<double>(micro_batches_);
    if (dp_ > 1) last_loss_ = world_sum(last_loss_) / static_cast<double>(dp_);
    device_->step(kernels::cpu::lr_at_step(schedule, step_), doc_["train"]["grad_clip"].get<double>());
  } else {
    (void)schedule;
    throw std::logic_error("a device run is fp32");
  }
}

// torch.nn.utils.clip_grad_norm_ over the whole model: under model parallelism each
// parameter counts once (its primary copy), summed over the replica's tp x pp ranks.
template <class T>
void Run<T>::clip_gradients(double max_norm) {
  const auto total = model_->layout().total_count();
  if (!at_.model_parallel()) {
    kernels::cpu::clip_grad_norm(model_->grads(), total, max_norm);
    return;
  }
  double squares = primary_sum_of_squares(model_->layout(), model_->grads());
  allreduce_in_place(groups_->model(), &squares, 1, STRATA_REDUCE_SUM, "the gradient norm over the model's shards");
  const double coef = max_norm / (std::sqrt(squares) + 1e-6);
  if (!(coef >= 1.0)) {  // negated so a NaN coef is applied, as in torch
    T* g = model_->grads();
    const T c = static_cast<T>(coef);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < total; ++i) g[i] *= c;
  }
}

// Every rank's shard [r * S, min((r + 1) * S, N)) into `full` [N] on every rank (S =
// zero_shard_; the last shard is padded to S for the all-gather).
template <class T>
void Run<T>::allgather_shards(const T* shard, T* full) const {
  const int64_t total = model_->layout().total_count();
  const int64_t mine = std::max<int64_t>(0, std::min<int64_t>(zero_shard_, total - at_.dp_rank * zero_shard_));
  std::vector<T> send(static_cast<size_t>(zero_shard_), T(0)), recv(static_cast<size_t>(zero_shard_ * dp_));
  std::copy(shard, shard + mine, send.begin());
  const uint32_t dtype = sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32;
  strata_buffer s{send.data(), send.size(), dtype, STRATA_DEVICE_CPU, 0};
  strata_buffer r{recv.data(), recv.size(), dtype, STRATA_DEVICE_CPU, 0};
  if (dp_comm_->api->allgather(dp_comm_->handle, &s, &r, nullptr) != STRATA_OK)
    throw std::runtime_error("ZeRO-1: all-gather of the parameter shards failed");
  std::copy(recv.begin(), recv.begin() + total, full);
}

// The whole optimizer state on every rank (for checkpoints, which hold full shapes).
template <class T>
std::unique_ptr<engine::AdamW<T>> Run<T>::gather_optimizer() const {
  auto full = make_optimizer({});
  allgather_shards(optimizer_->m(), full->m());
  allgather_shards(optimizer_->v(), full->v());
  full->set_step_count(optimizer_->step_count());
  return full;
}

// Rank 0's full_model_ and *full_optimizer from the shards of data-parallel replica 0: each
// of its other ranks sends the elements of its primary tensors (parameters, then m, then v)
// to rank 0, which knows every rank's layout and puts them in place. Point to point, so
// no rank holds more than its own shard (rank 0: the full model it writes).
template <class T>
void Run<T>::gather_full_model(const engine::AdamW<T>& local_optimizer, engine::AdamW<T>* full_optimizer) {
  if (at_.dp_rank != 0) return;  // the other replicas hold the same values
  constexpr int kTag = 71;
  constexpr int64_t kChunk = int64_t{1} << 28;  // elements per message (MPI counts are int)
  const uint32_t dtype = sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32;
  const strata_comm* c = world_comm_;
  const auto transfer = [&](T* data, int64_t n, int peer, bool sending) {
    for (int64_t off = 0; off < n; off += kChunk) {
      strata_buffer b{data + off, static_cast<uint64_t>(std::min(kChunk, n - off)), dtype, STRATA_DEVICE_CPU, 0};
      const strata_status st = sending ? c->api->send(c->handle, &b, peer, kTag, nullptr)
                                       : c->api->recv(c->handle, &b, peer, kTag, nullptr);
      if (st != STRATA_OK)
        throw std::runtime_error(std::string("gathering the model's shards: ") + (sending ? "send to" : "receive from") +
                                 " rank " + std::to_string(peer) + " failed");
    }
  };
  // The primary elements of `layout` in a fixed order: tensor by tensor, run by run.
  const auto pack = [](const engine::ParameterLayout& layout, const T* values, std::vector<T>& out) {
    for (const engine::ParameterTensor& t : layout.tensors())
      if (t.primary)
        for (const engine::IndexRun& r : layout.index_runs(t))
          out.insert(out.end(), values + t.offset + r.local, values + t.offset + r.local + r.count);
  };
  const engine::ParameterLayout& mine = model_->layout();
  if (!lead_) {
    std::vector<T> buffer;
    pack(mine, model_->params(), buffer);
    pack(mine, local_optimizer.m(), buffer);
    pack(mine, local_optimizer.v(), buffer);
    transfer(buffer.data(), static_cast<int64_t>(buffer.size()), 0, true);
    return;
  }
  const engine::ParameterLayout& whole = full_model_->layout();
  shard_to_full(mine, model_->params(), whole, full_model_->params());
  shard_to_full(mine, local_optimizer.m(), whole, full_optimizer->m());
  shard_to_full(mine, local_optimizer.v(), whole, full_optimizer->v());
  full_optimizer->set_step_count(local_optimizer.step_count());
  for (int pp_rank = 0; pp_rank < at_.pp; ++pp_rank)
    for (int tp_rank = 0; tp_rank < at_.tp; ++tp_rank) {
      const int rank = tp_rank + at_.tp * at_.dp * pp_rank;
      if (rank == 0) continue;
      ParallelCoordinates them = at_;
      them.tp_rank = tp_rank;
      them.pp_rank = pp_rank;
      const engine::ParameterLayout theirs(model_config_, them.shard());
      int64_t count = 0;
      for (const engine::ParameterTensor& t : theirs.tensors()) count += t.primary ? t.count : 0;
      std::vector<T> buffer(static_cast<size_t>(3 * count));
      transfer(buffer.data(), 3 * count, rank, false);
      const T* next = buffer.data();
      for (T* target : {full_model_->params(), full_optimizer->m(), full_optimizer->v()})
        for (const engine::ParameterTensor& t : theirs.tensors()) {
          if (!t.primary) continue;
          const engine::ParameterTensor& f = whole.at(t.name);
          for (const engine::IndexRun& r : theirs.index_runs(t)) {
            std::copy_n(next, r.count, target + f.offset + r.full);
            next += r.count;
          }
        }
    }
}

template <class T>
void Run<T>::train() {
  const auto& train = doc_["train"];
  const int64_t steps = train["steps"], log_every = train["log_every"], eval_every = train["eval_every"];
  const int64_t step_every = doc_["events"]["step_every"], ckpt_every = doc_["checkpoint"]["every"];
  const kernels::cpu::LrSchedule schedule{train["lr"].get<double>(), train["min_lr"].get<double>(),
                                          std::min<int64_t>(train["warmup_steps"].get<int64_t>(), steps), steps};
  const int64_t tokens_per_step = micro_batch_ * micro_batches_ * seq_len_ * dp_;
  Progress progress(logger_, steps, plain_progress_ || !lead_);
  const auto start = Clock::now();
  const int64_t first = std::max<int64_t>(steps_done_, 0);
  for (step_ = first; step_ < steps && !cancelled_everywhere(); ++step_) {
    train_step(schedule);
    bus_.sync();  // the other ranks' events of this step reach rank 0's record
    steps_done_ = step_ + 1;
    train_seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
    tokens_per_s_ = train_seconds_ > 0 ? static_cast<double>((steps_done_ - first) * tokens_per_step) / train_seconds_ : 0;
    const bool log_now = steps_done_ % log_every == 0 || steps_done_ == steps;
    if (log_now)
      metrics_.write({{"step", steps_done_}, {"loss", sig9(last_loss_)},
                      {"lr", sig9(kernels::cpu::lr_at_step(schedule, step_))}, {"tokens_per_s", sig9(tokens_per_s_)}});
    char status[96];
    std::snprintf(status, sizeof status, "loss %.4f | %.0f tok/s", last_loss_, tokens_per_s_);
    if (lead_) progress.update(steps_done_, status, log_now);  // one progress line per run, not per rank
    if (steps_done_ % step_every == 0)
      bus_.publish(STRATA_EVENT_STEP_END, steps_done_, {{"loss", sig9(last_loss_)}, {"tokens_per_s", sig9(tokens_per_s_)}});
    if (eval_every > 0 && steps_done_ % eval_every == 0 && steps_done_ != steps) {
      double bpb = NAN;
      const double val = evaluate(train["eval_batches"], &bpb);
      metrics_.write({{"step", steps_done_}, {"val_loss", sig9(val)}, {"val_bits_per_byte", sig9(bpb)}});
      bus_.publish(STRATA_EVENT_EVAL_DONE, steps_done_, {{"val_loss", sig9(val)}, {"val_bits_per_byte", sig9(bpb)}});
    }
    if (ckpt_every > 0 && steps_done_ % ckpt_every == 0 && steps_done_ != steps) save_checkpoint("periodic");
  }
  if (lead_) progress.finish();
  step_ = steps_done_;
}

// Mean loss over fixed validation windows, and the same in bits per byte of text.
template <class T>
double Run<T>::evaluate(int64_t max_batches, double* bits_per_byte) {
  data::EvalIterator it(data_.val, seq_len_, micro_batch_);
  double nats = 0;
  uint64_t tokens = 0, bytes = 0;
  std::vector<int32_t> in(inputs_.size()), tg(targets_.size());
  for (int64_t b = 0; b < max_batches && !it.done(); ++b) {
    const uint64_t rows = it.next(in.data(), tg.data());
    if (rows == 0) break;
    const auto count = static_cast<uint64_t>(rows * seq_len_);
    double loss = 0;
    if (pipeline_)
      loss = pipeline_->forward(in.data(), tg.data(), static_cast<int64_t>(rows));
    else if (device_)
      loss = device_->forward(in.data(), tg.data(), static_cast<int64_t>(rows), seq_len_);
    else
      loss = model_->forward(in.data(), tg.data(), static_cast<int64_t>(rows), seq_len_);
    if (at_.last_stage()) nats += loss * static_cast<double>(count);
    tokens += count;
    for (uint64_t i = 0; i < count; ++i) bytes += data_.token_bytes[static_cast<size_t>(tg[i])];
  }
  if (tokens == 0) throw std::runtime_error("the validation split is shorter than one window of /train/seq_len tokens");
  // Every replica evaluates the same windows; under model parallelism the loss is on the
  // last stage: replica 0's tensor-parallel rank 0 gives it to everyone.
  if (at_.model_parallel())
    nats = world_sum(at_.last_stage() && at_.tp_rank == 0 && at_.dp_rank == 0 ? nats : 0.0);
  *bits_per_byte = nats / std::log(2.0) / static_cast<double>(bytes);
  return nats / static_cast<double>(tokens);
}

template <class T>
void Run<T>::evaluate_groups() {
  evaluate_fairness(whole_model(), data_, doc_["evaluation"], seq_len_, step_, plugins_->of_tier(STRATA_TIER_FAIRNESS));
}

template <class T>
void Run<T>::explain() {
  const int64_t batch = std::min<int64_t>(doc_["explain"]["batch"].get<int64_t>(), micro_batch_);
  const int64_t seq = std::min<int64_t>(doc_["explain"]["seq_len"].get<int64_t>(), seq_len_);
  run_explainers(whole_model(), data_, batch, seq, step_, plugins_->of_tier(STRATA_TIER_EXPLAINABILITY));
}

template <class T>
std::string Run<T>::sample_text() {
  const auto& s = doc_["sample"];
  if (s["tokens"].get<int64_t>() == 0) return "";
  const engine::SamplingOptions options{s["temperature"].get<double>(), s["top_k"].get<int64_t>(),
                                        doc_["seed"].get<uint64_t>()};
  return engine::generate(whole_model(), *data_.tokenizer, s["prompt"].get<std::string>(), s["tokens"].get<int64_t>(), options);
}

template <class T>
std::map<std::string, plugin::PluginState> Run<T>::plugin_states() const {
  std::map<std::string, plugin::PluginState> states;
  for (const auto* p : plugins_->all()) {
    auto state = p->save_state();
    if (!state.empty()) states[std::string(plugin::tier_name(p->tier())) + "/" + p->name()] = std::move(state);
  }
  return states;
}

template <class T>
void Run<T>::save_checkpoint(const std::string& reason) {
  const std::string name = "step_" + std::to_string(steps_done_);
  last_checkpoint_ = (dir_ / "checkpoints" / name).string();
  device_to_mirror();  // a device's state, into the mirror the checkpoint is written from
  // Checkpoints hold full shapes, whatever the layout: gather the ZeRO-1 shards (collective).
  const auto gathered = zero_shard_ > 0 ? gather_optimizer() : nullptr;
  // ... and the tensor- and pipeline-parallel shards into rank 0's full model (collective).
  std::unique_ptr<engine::AdamW<T>> whole_optimizer;
  if (at_.model_parallel()) {
    if (lead_) whole_optimizer = optimizer_for(full_model_->layout(), {});
    gather_full_model(gathered ? *gathered : *optimizer_, whole_optimizer.get());
  }
  // Every data-parallel rank holds the same parameters: rank 0 writes.
  expect_wait_for_rank0();
  if (!lead_) return;
  json info = {{"run_id", run_id_}, {"config_sha256", config_.digest}, {"reason", reason}, {"seed", doc_["seed"]},
               {"config", doc_}, {"tokenizer", data_.tokenizer_spec == "byte" ? "byte" : "tokenizer"}};
  auto contents =
      capture_state(whole_model(), whole_optimizer ? *whole_optimizer : gathered ? *gathered : *optimizer_, steps_done_, loader_->position(), plugin_states(), info);
  if (data_.tokenizer_spec != "byte")
    for (const char* f : {"vocab.json", "merges.txt"}) {
      std::ifstream in(fs::path(data_.tokenizer_spec) / f, std::ios::binary);
      contents.raw_files[std::string("tokenizer/") + f] = std::string((std::istreambuf_iterator<char>(in)), {});
    }
  last_checkpoint_digest_ = checkpoint::write_checkpoint(dir_ / "checkpoints", name, contents);
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
                                   {{"path", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_},
                                    {"metrics", gate_metrics()}});
    if (outcome.allowed && lead_) {
      util::write_file_atomically(dir_ / "published.json",
                                  json({{"checkpoint", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_}})
                                          .dump(2) + "\n");
      logger_->info("checkpoint published: {}", last_checkpoint_);
    } else if (!outcome.allowed) {
      logger_->warn("checkpoint publication denied, not published (the run goes on): {}", outcome.reason);
    }
  }
  if (doc_["release"]["request"].get<bool>()) {
    const auto outcome = bus_.gate(STRATA_EVENT_RELEASE_REQUESTED, steps_done_,
                                   {{"checkpoint", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_},
                                    {"val_loss", sig9(val_loss_)}, {"val_bits_per_byte", sig9(val_bpb_)},
                                    {"metrics", gate_metrics()}});
    if (outcome.allowed) {
      if (lead_)
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
  if (!lead_) return;
  json summary = {{"status", status},
                  {"run_id", run_id_},
                  {"steps", steps_done_},
                  {"final_loss", sig9(last_loss_)},
                  {"val_loss", sig9(val_loss_)},
                  {"val_bits_per_byte", sig9(val_bpb_)},
                  {"tokens_per_s", sig9(tokens_per_s_)},
                  {"train_seconds", sig9(train_seconds_)},
                  {"peak_rss_bytes", util::peak_rss_bytes()},
                  {"parameters", model_ ? engine::ParameterLayout(model_config_).parameter_count() : 0},
                  {"layout", {{"tp", at_.tp}, {"pp", at_.pp}, {"dp", dp_}}},
                  {"device", device_ ? json(device_->describe()) : json("cpu")},
                  {"peak_device_bytes", device_ ? device_->peak_device_bytes() : 0},
                  {"config_sha256", config_.digest},
                  {"data", data_.provenance},
                  {"checkpoint", last_checkpoint_},
                  {"checkpoint_sha256", last_checkpoint_digest_},
                  {"metrics", gate_metrics()}};
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
    bus_.sync();
    bus_.flush();
    return kExitDenied;
  }
  configure_model();
  plan();  // builds this rank's share of the model
  resume_if_asked();
  train();
  const bool cancelled = cancelled_everywhere();
  val_loss_ = evaluate(doc_["train"]["eval_batches"], &val_bpb_);
  metrics_.write({{"step", steps_done_}, {"val_loss", sig9(val_loss_)}, {"val_bits_per_byte", sig9(val_bpb_)}});
  bus_.publish(STRATA_EVENT_EVAL_DONE, steps_done_, {{"val_loss", sig9(val_loss_)}, {"val_bits_per_byte", sig9(val_bpb_)}});
  logger_->info("validation loss {:.4f} nats/token = {:.4f} bits/byte", val_loss_, val_bpb_);
  save_checkpoint(cancelled ? "cancelled" : "final");
  expect_wait_for_rank0();
  if (!cancelled && lead_) {  // evaluation artefacts are run-level files
    evaluate_groups();
    explain();
    if (const std::string text = sample_text(); !text.empty()) {
      util::write_file_atomically(dir_ / "sample.txt", text + "\n");
      std::printf("---- sample (step %lld) ----\n%s\n----\n", static_cast<long long>(steps_done_), text.c_str());
    }
  }
  const int gate_code = cancelled ? 0 : finish_gates();
  const std::string status = cancelled ? "cancelled" : gate_code != 0 ? "denied" : "completed";
  write_summary(status);
  // The lineage the audit trail keeps: what was trained on (digests), what came out, how well.
  bus_.publish(STRATA_EVENT_RUN_END, steps_done_,
               {{"status", status}, {"steps", steps_done_}, {"final_loss", sig9(last_loss_)},
                {"val_bits_per_byte", sig9(val_bpb_)}, {"data", data_.provenance},
                {"checkpoint", {{"path", last_checkpoint_}, {"manifest_sha256", last_checkpoint_digest_}}},
                {"metrics", gate_metrics()},
                {"parameters", model_ ? engine::ParameterLayout(model_config_).parameter_count() : 0},
                {"tokens_per_s", sig9(tokens_per_s_)}, {"train_seconds", sig9(train_seconds_)}});
  bus_.sync();
  bus_.flush();
  return gate_code;
}

// Rank 0's text on every rank.
std::string broadcast_text(const comm::World& world, std::string text) {
  if (world.size() == 1) return text;
  const strata_comm* c = world.comm();
  int64_t length = static_cast<int64_t>(text.size());
  strata_buffer n{&length, 1, STRATA_DTYPE_I64, STRATA_DEVICE_CPU, 0};
  if (c->api->broadcast(c->handle, &n, 0, nullptr) != STRATA_OK) throw std::runtime_error("broadcast failed");
  text.resize(static_cast<size_t>(length));
  strata_buffer b{text.data(), static_cast<uint64_t>(length), STRATA_DTYPE_U8, STRATA_DEVICE_CPU, 0};
  if (length > 0 && c->api->broadcast(c->handle, &b, 0, nullptr) != STRATA_OK) throw std::runtime_error("broadcast failed");
  return text;
}

fs::path choose_run_dir(const RunOptions& options, const json& doc) {
  if (options.out_dir) return *options.out_dir;
  return fs::path("runs") / (doc["name"].get<std::string>() + "-" + utc_stamp());
}

}  // namespace

// Everything after joining the world, so that any failure on one rank (a full disk while
// naming the run, say) reaches run_pipeline's handler and aborts the others.
int run_in_world(const comm::World& world, const RunOptions& options, const config::ResolvedConfig& resolved,
                 const plugin::PluginRegistry& registry, const SignalWatcher& signals, util::Logger logger) {
  // Rank 0 names the run (the names hold the time, which the ranks may read differently).
  const fs::path dir = broadcast_text(world, choose_run_dir(options, resolved.document).string());
  const std::string run_id =
      broadcast_text(world, resolved.document["name"].get<std::string>() + "-" + utc_stamp());
  if (world.rank() == 0) {
    fs::create_directories(dir);
    util::add_file_sink(logger, (dir / "run.log").string());
    util::write_file_atomically(dir / "config.resolved.json", resolved.document.dump(2) + "\n");
    logger->info("run directory: {}", dir.string());
    if (world.size() > 1) logger->info("{} ranks (MPI)", world.size());
  }

  // Distributed: every collective is numbered and watched (core/comm/watchdog.hpp).
  std::unique_ptr<comm::CheckedComm> checked;
  if (world.size() > 1) {
    comm::WatchdogOptions w;
    w.timeout_s = resolved.document["watchdog"]["timeout_s"].get<double>();
    w.status_dir = dir / "watchdog";
    w.log = [logger](const std::string& text) {
      std::istringstream lines(text);
      for (std::string line; std::getline(lines, line);) logger->error("{}", line);
      logger->flush();
    };
    checked = std::make_unique<comm::CheckedComm>(world.comm(), world.rank(), world.size(), w);
  }
  const strata_comm* world_comm = checked ? checked->comm() : world.comm();
  if (resolved.document["model"]["dtype"] == "fp64") {
    Run<double> run(resolved, dir, run_id, world, world_comm, checked.get(), logger, signals.cancelled(), registry,
                    options.plain_progress, options.cuda_trainer);
    return run.execute();
  }
  Run<float> run(resolved, dir, run_id, world, world_comm, checked.get(), logger, signals.cancelled(), registry,
                 options.plain_progress, options.cuda_trainer);
  return run.execute();
}

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

  const comm::World world(comm::detect_launch());
  int code = 0;
  try {
    code = run_in_world(world, options, resolved, registry, signals, logger);
  } catch (const std::exception& e) {
    // The other ranks would wait forever in their next collective: end them all. Other
    // ranks first give rank 0 a moment, so that when every rank fails alike (a plan the
    // world cannot run), rank 0 still records the failure before the job is torn down.
    if (world.size() > 1) {
      logger->error("rank {} failed, aborting every rank: {}", world.rank(), e.what());
      logger->flush();
      if (world.rank() != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
      world.abort_all(1);
    }
    throw;
  }
  if (signals.cancelled().load()) return 128 + signals.signal_number();
  return code;
}

}  // namespace strata::run
