// Loading real plugin libraries, and every refusal: each broken library is refused with a
// message that says what is wrong, and the host survives.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <set>

#include "core/comm/self_comm.hpp"
#include "core/plugin/instance.hpp"
#include "core/plugin/registry.hpp"
#include "tests/support/paths.hpp"

namespace strata::plugin {
namespace {

std::string refusal(const std::string& file) {
  PluginRegistry registry(util::null_logger());
  EXPECT_FALSE(registry.add_library(test::broken_dir() / file)) << file << " was accepted";
  return registry.problems().empty() ? "" : registry.problems().back().message;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Loader, LoadsEveryInTreePluginWithItsMetadata) {
  PluginRegistry registry(util::null_logger());
  registry.discover({test::plugin_dir()});
  EXPECT_TRUE(registry.problems().empty()) << registry.problems().front().message;
  for (const char* name : {"single", "mean", "none", "group-stats", "attention-dump", "jsonl"}) {
    const PluginInfo* p = registry.find(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->library->abi_major, STRATA_ABI_MAJOR);
    EXPECT_EQ(p->library->sha256.size(), 64u);
    EXPECT_FALSE(p->version.empty());
  }
  std::set<int32_t> tiers;
  for (const auto& p : registry.plugins()) tiers.insert(p.tier);
  EXPECT_EQ(tiers.size(), 6u) << "one example plugin per tier";
}

TEST(Loader, RefusesAnotherAbiMajorNamingBothVersions) {
  const std::string m = refusal("abi_major_99.so");
  EXPECT_TRUE(contains(m, "ABI mismatch")) << m;
  EXPECT_TRUE(contains(m, "99.0")) << m;
  EXPECT_TRUE(contains(m, std::to_string(STRATA_ABI_MAJOR) + "." + std::to_string(STRATA_ABI_MINOR))) << m;
}

TEST(Loader, RefusesAPluginBuiltForANewerMinor) {
  const std::string m = refusal("future_minor.so");
  EXPECT_TRUE(contains(m, "needs ABI 0.7")) << m;
}

TEST(Loader, RefusesALibraryWithoutTheEntrySymbol) {
  const std::string m = refusal("no_entry_symbol.so");
  EXPECT_TRUE(contains(m, "does not export the entry symbol 'strata_plugin_negotiate'")) << m;
}

TEST(Loader, RefusesAFileThatIsNotASharedLibrary) {
  const std::string m = refusal("not_an_elf.so");
  EXPECT_TRUE(contains(m, "not a plugin")) << m;
}

TEST(Loader, RefusesAMissingFile) {
  const std::string m = refusal("does_not_exist.so");
  EXPECT_TRUE(contains(m, "no such plugin file")) << m;
}

TEST(Loader, RefusesADescriptorWithoutAnInterfaceTable) {
  const std::string m = refusal("null_vtable.so");
  EXPECT_TRUE(contains(m, "'null-vtable'")) << m;
  EXPECT_TRUE(contains(m, "missing interface table")) << m;
}

TEST(Loader, RefusesADuplicateNameAndKeepsTheFirst) {
  PluginRegistry registry(util::null_logger());
  registry.discover({test::plugin_dir()});
  EXPECT_TRUE(registry.add_library(test::broken_dir() / "duplicate_name.so"));  // the library loads...
  ASSERT_FALSE(registry.problems().empty());
  const std::string m = registry.problems().back().message;  // ...but its plugin is refused
  EXPECT_TRUE(contains(m, "duplicate plugin name 'mean'")) << m;
  EXPECT_EQ(registry.find("mean")->version, "0.1.0") << "the first 'mean' must win";
}

TEST(Loader, DiscoveryOfABrokenFolderRecordsEveryProblemAndNeverThrows) {
  PluginRegistry registry(util::null_logger());
  registry.discover({test::broken_dir(), "/nonexistent/folder"});
  EXPECT_GE(registry.problems().size(), 5u);
  EXPECT_NE(registry.find("throwing-init"), nullptr) << "it loads; only its init fails";
}

TEST(Loader, ThrowingInitIsReportedWithThePluginsOwnMessage) {
  PluginRegistry registry(util::null_logger());
  ASSERT_TRUE(registry.add_library(test::broken_dir() / "throwing_init.so"));
  HostEnvironment env(util::null_logger(), comm::self_communicator());
  try {
    PluginInstance instance(*registry.find("throwing-init"), nlohmann::json::object(), env);
    FAIL() << "create should have failed";
  } catch (const PluginError& e) {
    const std::string m = e.what();
    EXPECT_TRUE(contains(m, "plugin 'throwing-init' failed to initialise")) << m;
    EXPECT_TRUE(contains(m, "simulated failure: cannot reach the license server")) << m;
    EXPECT_EQ(e.status(), STRATA_INTERNAL);
  }
}

TEST(Loader, LibrariesStayMappedAfterTheRegistryGoes) {
  const auto path = test::plugin_dir() / "strata-group-stats.so";
  {
    PluginRegistry registry(util::null_logger());
    ASSERT_TRUE(registry.add_library(path));
  }
  // RTLD_NOLOAD only finds a library that is still mapped (rule L13: never unload).
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr);
  if (handle != nullptr) dlclose(handle);
}

TEST(Loader, SearchPathsIncludeTheEnvironmentVariableInOrder) {
  setenv("STRATA_PLUGIN_PATH", "/tmp/a:/tmp/b", 1);
  const auto paths = default_search_paths({"/tmp/c"});
  unsetenv("STRATA_PLUGIN_PATH");
  std::vector<std::string> tail;
  for (const auto& p : paths) tail.push_back(p.string());
  ASSERT_GE(tail.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(tail.end() - 3, tail.end()), (std::vector<std::string>{"/tmp/a", "/tmp/b", "/tmp/c"}));
}

}  // namespace
}  // namespace strata::plugin
