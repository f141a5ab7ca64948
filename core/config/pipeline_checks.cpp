#include "core/config/pipeline_checks.hpp"

#include <cctype>

namespace strata::config {

void check_cross_field_rules(const nlohmann::json& doc, std::vector<std::string>& issues) {
  const auto& model = doc["model"];
  const int64_t width = model["width"], heads = model["heads"], context = model["context"];
  if (heads > 0 && width % heads != 0)
    issues.push_back("/model/width: " + std::to_string(width) + " is not divisible by /model/heads (" +
                     std::to_string(heads) + "); each head needs width / heads channels");
  if (model["device"] == "cuda" && model["dtype"] != "fp32")
    issues.push_back("/model/dtype: the cuda device trains with fp32 master weights and bf16 compute; "
                     "fp64 runs on \"cpu\" only");
  const int64_t seq_len = doc["train"]["seq_len"];
  if (seq_len > context)
    issues.push_back("/train/seq_len: " + std::to_string(seq_len) + " exceeds /model/context (" +
                     std::to_string(context) + ")");
  const std::string tokenizer = doc["data"]["tokenizer"];
  if (tokenizer.rfind("bpe:", 0) == 0) {
    const std::string n = tokenizer.substr(4);
    bool digits = !n.empty() && n.size() <= 6;
    for (char c : n) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    const long size = digits ? std::stol(n) : 0;
    if (!digits || size < 257 || size > 65536)
      issues.push_back("/data/tokenizer: \"" + tokenizer + "\": expected bpe:N with 257 <= N <= 65536");
  }
}

}  // namespace strata::config
