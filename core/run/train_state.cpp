#include "core/run/train_state.hpp"

#include <cstring>
#include <stdexcept>

namespace strata::run {
namespace {

template <class T>
const char* dtype_name() {
  return sizeof(T) == 8 ? "F64" : "F32";
}

template <class T>
checkpoint::Tensor slice(const T* base, const engine::ParameterTensor& t) {
  return {dtype_name<T>(), t.shape,
          std::string(reinterpret_cast<const char*>(base + t.offset), static_cast<size_t>(t.count) * sizeof(T))};
}

template <class T>
void unslice(const checkpoint::TensorMap& map, const std::string& key, const engine::ParameterLayout& layout,
             const engine::ParameterTensor& t, T* base) {
  const auto it = map.find(key);
  if (it == map.end()) throw std::runtime_error("checkpoint has no tensor '" + key + "'");
  const auto& tensor = it->second;
  if (tensor.dtype != dtype_name<T>())
    throw std::runtime_error("tensor '" + key + "' is " + tensor.dtype + ", this run trains in " + dtype_name<T>());
  // Checkpoints hold full shapes; a tensor- or pipeline-parallel shard takes its part.
  if (tensor.shape != t.full_shape) {
    std::string want, got;
    for (auto d : t.full_shape) want += (want.empty() ? "" : "x") + std::to_string(d);
    for (auto d : tensor.shape) got += (got.empty() ? "" : "x") + std::to_string(d);
    throw std::runtime_error("tensor '" + key + "' has shape " + got + ", this model needs " + want);
  }
  for (const engine::IndexRun& run : layout.index_runs(t))
    std::memcpy(base + t.offset + run.local, tensor.bytes.data() + static_cast<size_t>(run.full) * sizeof(T),
                static_cast<size_t>(run.count) * sizeof(T));
}

}  // namespace

template <class T>
checkpoint::CheckpointContents capture_state(const engine::GptModel<T>& model, const engine::AdamW<T>& optimizer,
                                             int64_t step, data::LoaderPosition position,
                                             const std::map<std::string, plugin::PluginState>& plugin_states,
                                             nlohmann::json info) {
  checkpoint::CheckpointContents c;
  for (const auto& t : model.layout().tensors()) {
    c.files["model.safetensors"][t.name] = slice(model.params(), t);
    c.files["optimizer.safetensors"]["m." + t.name] = slice(optimizer.m(), t);
    c.files["optimizer.safetensors"]["v." + t.name] = slice(optimizer.v(), t);
  }
  for (const auto& [owner, state] : plugin_states)
    for (const auto& [key, bytes] : state)
      c.files["plugins.safetensors"][owner + ":" + key] = {"U8", {static_cast<int64_t>(bytes.size())}, bytes};
  const auto& cfg = model.config();
  info["step"] = step;
  info["optimizer_step"] = optimizer.step_count();
  info["loader_next_sample"] = position.next_sample;
  info["model"] = {{"vocab_size", cfg.vocab_size}, {"context", cfg.context}, {"layers", cfg.layers},
                   {"heads", cfg.heads}, {"width", cfg.width}, {"dtype", sizeof(T) == 8 ? "fp64" : "fp32"}};
  c.info = std::move(info);
  return c;
}

template <class T>
ResumePoint restore_state(const checkpoint::CheckpointContents& contents, engine::GptModel<T>& model,
                          engine::AdamW<T>& optimizer) {
  const auto saved = checkpoint_model_config(contents);
  const auto& cfg = model.config();
  const nlohmann::json want = {{"vocab_size", cfg.vocab_size}, {"context", cfg.context}, {"layers", cfg.layers},
                               {"heads", cfg.heads}, {"width", cfg.width}, {"dtype", sizeof(T) == 8 ? "fp64" : "fp32"}};
  if (saved != want)
    throw std::runtime_error("checkpoint model " + saved.dump() + " does not match this run's model " + want.dump());
  const auto& files = contents.files;
  if (!files.count("model.safetensors") || !files.count("optimizer.safetensors"))
    throw std::runtime_error("checkpoint lacks model.safetensors or optimizer.safetensors");
  for (const auto& t : model.layout().tensors()) {
    unslice(files.at("model.safetensors"), t.name, model.layout(), t, model.params());
    unslice(files.at("optimizer.safetensors"), "m." + t.name, model.layout(), t, optimizer.m());
    unslice(files.at("optimizer.safetensors"), "v." + t.name, model.layout(), t, optimizer.v());
  }
  ResumePoint r;
  r.info = contents.info;
  r.step = contents.info.at("step").get<int64_t>();
  optimizer.set_step_count(contents.info.at("optimizer_step").get<int64_t>());
  r.position.next_sample = contents.info.at("loader_next_sample").get<uint64_t>();
  if (const auto it = files.find("plugins.safetensors"); it != files.end()) {
    for (const auto& [name, tensor] : it->second) {
      // "<tier>/<plugin>:<key>": plugin names never hold ':', keys may hold anything.
      const auto colon = name.find(':');
      if (colon == std::string::npos) throw std::runtime_error("malformed plugin state name '" + name + "'");
      r.plugin_states[name.substr(0, colon)][name.substr(colon + 1)] = tensor.bytes;
    }
  }
  return r;
}

template <class T>
void load_model_weights(const checkpoint::CheckpointContents& contents, engine::GptModel<T>& model) {
  const auto it = contents.files.find("model.safetensors");
  if (it == contents.files.end()) throw std::runtime_error("checkpoint lacks model.safetensors");
  for (const auto& t : model.layout().tensors()) unslice(it->second, t.name, model.layout(), t, model.params());
}

nlohmann::json checkpoint_model_config(const checkpoint::CheckpointContents& contents) {
  if (!contents.info.contains("model")) throw std::runtime_error("checkpoint manifest has no model description");
  return contents.info["model"];
}

template checkpoint::CheckpointContents capture_state<float>(const engine::GptModel<float>&, const engine::AdamW<float>&,
                                                             int64_t, data::LoaderPosition,
                                                             const std::map<std::string, plugin::PluginState>&, nlohmann::json);
template checkpoint::CheckpointContents capture_state<double>(const engine::GptModel<double>&,
                                                              const engine::AdamW<double>&, int64_t, data::LoaderPosition,
                                                              const std::map<std::string, plugin::PluginState>&,
                                                              nlohmann::json);
template void load_model_weights<float>(const checkpoint::CheckpointContents&, engine::GptModel<float>&);
template void load_model_weights<double>(const checkpoint::CheckpointContents&, engine::GptModel<double>&);
template ResumePoint restore_state<float>(const checkpoint::CheckpointContents&, engine::GptModel<float>&,
                                          engine::AdamW<float>&);
template ResumePoint restore_state<double>(const checkpoint::CheckpointContents&, engine::GptModel<double>&,
                                           engine::AdamW<double>&);

}  // namespace strata::run
