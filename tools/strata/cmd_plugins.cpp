// strata plugins list [--json] | strata plugins inspect NAME
#include <iostream>

#include "core/config/did_you_mean.hpp"
#include "core/plugin/registry.hpp"
#include "tools/strata/commands.hpp"

namespace strata::cli {
namespace {

nlohmann::json describe(const plugin::PluginInfo& p) {
  return {{"name", p.name},
          {"kind", plugin::tier_name(p.tier)},
          {"version", p.version},
          {"description", p.description},
          {"abi", std::to_string(p.library->abi_major) + "." + std::to_string(p.library->abi_minor)},
          {"interface", std::to_string(p.entry->iface_major) + "." + std::to_string(p.entry->iface_minor)},
          {"library", p.library->descriptor->library_name ? p.library->descriptor->library_name : ""},
          {"path", p.library->path.string()},
          {"sha256", p.library->sha256}};
}

}  // namespace

void add_plugins_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("plugins", "list and inspect the installed plugins");
  cmd->require_subcommand(1);

  auto json_flag = std::make_shared<bool>(false);
  CLI::App* list = cmd->add_subcommand("list", "every plugin found on the search paths");
  list->add_flag("--json", *json_flag, "a JSON array on stdout");
  list->callback([json_flag, &global, &exit_code] {
    util::Logger logger = util::make_logger(global.level());
    plugin::PluginRegistry registry(logger);
    registry.discover(plugin::default_search_paths(global.plugin_paths));
    if (*json_flag) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& p : registry.plugins()) out.push_back(describe(p));
      std::cout << out.dump(2) << "\n";
    } else {
      std::printf("%-16s %-15s %-8s %-5s %s\n", "NAME", "KIND", "VERSION", "ABI", "DESCRIPTION");
      for (const auto& p : registry.plugins())
        std::printf("%-16s %-15s %-8s %-5s %s\n", p.name.c_str(), plugin::tier_name(p.tier), p.version.c_str(),
                    (std::to_string(p.library->abi_major) + "." + std::to_string(p.library->abi_minor)).c_str(),
                    p.description.c_str());
    }
    for (const auto& problem : registry.problems()) logger->warn("{}", problem.message);
    exit_code = 0;
  });

  auto name = std::make_shared<std::string>();
  CLI::App* inspect = cmd->add_subcommand("inspect", "one plugin: metadata, library, options schema");
  inspect->add_option("name", *name, "plugin name")->required();
  inspect->callback([name, &global, &exit_code] {
    util::Logger logger = util::make_logger(global.level());
    plugin::PluginRegistry registry(logger);
    registry.discover(plugin::default_search_paths(global.plugin_paths));
    const plugin::PluginInfo* p = registry.find(*name);
    if (p == nullptr) {
      std::string message = "no plugin named '" + *name + "'";
      if (auto guess = config::did_you_mean(*name, registry.names())) message += " (did you mean '" + *guess + "'?)";
      for (const auto& problem : registry.problems_mentioning(*name)) message += "\n  note: " + problem.message;
      logger->error("{}", message);
      exit_code = 1;
      return;
    }
    nlohmann::json out = describe(*p);
    out["build_info"] = p->library->descriptor->build_info ? p->library->descriptor->build_info : "";
    out["options_schema"] = p->options_schema;
    out["defaults"] = p->schema->with_defaults(nlohmann::json::object());
    std::cout << out.dump(2) << "\n";
    exit_code = 0;
  });
}

}  // namespace strata::cli
