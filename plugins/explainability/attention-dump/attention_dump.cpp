// Explainer `attention-dump`: writes the captured attention maps of an explanation batch
// to the run directory as a NumPy .npy file (float32, shape layers x batch x heads x seq x
// seq) plus a JSON sidecar with the tokens, so any later tool (or numpy.load) can read them.
#include <strata/sdk.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace {

// NumPy format 1.0: magic, version, little-endian header length, a Python dict literal
// padded with spaces to a multiple of 64 bytes and ended by a newline, then the data.
std::string npy_header(const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dict += ",";  // a one-element Python tuple needs its comma
  dict += "), }";
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string header = "\x93NUMPY";
  header += '\x01';
  header += '\x00';
  const uint16_t len = static_cast<uint16_t>(dict.size());
  header += static_cast<char>(len & 0xff);
  header += static_cast<char>(len >> 8);
  return header + dict;
}

class AttentionDump final : public strata::sdk::Explainer {
 public:
  static constexpr const char* kName = "attention-dump";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription = "writes captured attention maps to the run directory (.npy + tokens JSON)";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "max_dumps": {"type": "integer", "minimum": 1, "default": 4,
                    "description": "stop after this many explanation batches, to bound disk use"}
    },
    "additionalProperties": false
  })json";

  explicit AttentionDump(strata::sdk::Host host)
      : Explainer(host), max_dumps_(host.options().at("max_dumps").get<int>()) {}

  void explain(const strata_explain_input& in) override {
    using strata::sdk::Error;
    if (dumps_ >= max_dumps_) return;
    const uint64_t expected = static_cast<uint64_t>(in.layers * in.batch * in.heads * in.seq * in.seq);
    if (in.attention.data == nullptr || in.attention.count != expected)
      throw Error(STRATA_INVALID_ARGUMENT, "attention-dump: attention holds " + std::to_string(in.attention.count) +
                                               " values, expected layers*batch*heads*seq*seq = " + std::to_string(expected));
    if (in.attention.device_kind != STRATA_DEVICE_CPU) throw Error(STRATA_UNSUPPORTED, "attention-dump reads host memory");
    std::string file = npy_header({in.layers, in.batch, in.heads, in.seq, in.seq});
    const size_t at = file.size();
    file.resize(at + expected * sizeof(float));
    auto* out = reinterpret_cast<float*>(file.data() + at);
    if (in.attention.dtype == STRATA_DTYPE_F32) {
      std::memcpy(out, in.attention.data, expected * sizeof(float));
    } else if (in.attention.dtype == STRATA_DTYPE_F64) {
      const auto* src = static_cast<const double*>(in.attention.data);
      for (uint64_t i = 0; i < expected; ++i) out[i] = static_cast<float>(src[i]);
    } else {
      throw Error(STRATA_UNSUPPORTED, "attention-dump: attention must be F32 or F64");
    }
    const std::string stem = "attention_step" + std::to_string(in.step) + "_" + std::to_string(dumps_);
    host().write_artifact(stem + ".npy", file);

    nlohmann::json side = {{"step", in.step}, {"layers", in.layers}, {"batch", in.batch}, {"heads", in.heads},
                           {"seq", in.seq}, {"file", stem + ".npy"}};
    if (in.tokens.data != nullptr && in.tokens.dtype == STRATA_DTYPE_I32) {
      const auto* t = static_cast<const int32_t*>(in.tokens.data);
      side["tokens"] = std::vector<int32_t>(t, t + in.tokens.count);
    }
    if (in.token_text != nullptr) {
      std::vector<std::string> text;
      for (int64_t i = 0; i < in.batch * in.seq; ++i) text.emplace_back(in.token_text[i] ? in.token_text[i] : "");
      side["token_text"] = text;
    }
    host().write_artifact(stem + ".json", side.dump(2) + "\n");
    ++dumps_;
  }

 private:
  int max_dumps_;
  int dumps_ = 0;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-attention-dump", AttentionDump)
