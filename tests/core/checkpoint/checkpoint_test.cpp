// Checkpoints round-trip exactly, and a truncated or altered one is refused by name.
#include <gtest/gtest.h>

#include <fstream>

#include "core/checkpoint/checkpoint_dir.hpp"
#include "tests/support/paths.hpp"

namespace strata::checkpoint {
namespace {

CheckpointContents sample() {
  CheckpointContents c;
  std::vector<float> w = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.5f};
  c.files["model.safetensors"]["w"] = {"F32", {2, 3}, std::string(reinterpret_cast<const char*>(w.data()), 24)};
  c.files["model.safetensors"]["b"] = {"U8", {3}, "abc"};
  c.files["plugins.safetensors"]["aggregation/x/state"] = {"U8", {5}, "hello"};
  c.info = {{"step", 12}};
  return c;
}

TEST(Checkpoint, RoundTripsTensorsAndInfo) {
  test::TempDir dir;
  write_checkpoint(dir.path(), "step_12", sample());
  const auto back = read_checkpoint(dir.path() / "step_12");
  EXPECT_EQ(back.info["step"], 12);
  const auto& w = back.files.at("model.safetensors").at("w");
  EXPECT_EQ(w.dtype, "F32");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.bytes, sample().files["model.safetensors"]["w"].bytes);
  EXPECT_EQ(back.files.at("plugins.safetensors").at("aggregation/x/state").bytes, "hello");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / ".step_12.tmp")) << "no temporary left behind";
}

TEST(Checkpoint, SafetensorsHeaderIsReadableByTheStandardLayout) {
  const std::string bytes = encode_safetensors(sample().files["model.safetensors"]);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["w"]["data_offsets"], nlohmann::json({3, 27})) << "tensors sorted by name: b first";
  EXPECT_EQ(bytes.size(), 8 + n + 27);
}

TEST(Checkpoint, EveryTruncationIsRefused) {
  test::TempDir dir;
  write_checkpoint(dir.path(), "c", sample());
  const auto file = dir.path() / "c" / "model.safetensors";
  std::ifstream in(file, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), {});
  for (size_t cut = 0; cut < original.size(); ++cut) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << original.substr(0, cut);
    EXPECT_THROW(read_checkpoint(dir.path() / "c"), std::runtime_error) << "cut at " << cut;
  }
}

TEST(Checkpoint, EverySingleByteFlipIsRefusedNamingTheFile) {
  test::TempDir dir;
  write_checkpoint(dir.path(), "c", sample());
  const auto file = dir.path() / "c" / "plugins.safetensors";
  std::ifstream in(file, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), {});
  for (size_t i = 0; i < original.size(); ++i) {
    std::string flipped = original;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << flipped;
    try {
      read_checkpoint(dir.path() / "c");
      ADD_FAILURE() << "flip at byte " << i << " was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("plugins.safetensors"), std::string::npos) << e.what();
    }
  }
}

TEST(Checkpoint, MissingManifestOrFileIsRefused) {
  test::TempDir dir;
  EXPECT_THROW(read_checkpoint(dir.path()), std::runtime_error);
  write_checkpoint(dir.path(), "c", sample());
  std::filesystem::remove(dir.path() / "c" / "model.safetensors");
  try {
    read_checkpoint(dir.path() / "c");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, ShapeMismatchIsRejectedOnWrite) {
  TensorMap bad;
  bad["x"] = {"F32", {3}, "abcd"};
  EXPECT_THROW(encode_safetensors(bad), std::invalid_argument);
}

}  // namespace
}  // namespace strata::checkpoint
