/* A plugin whose descriptor lacks its interface table: refused at validation. */
#include "strata/strata.h"

static const strata_plugin_entry entry = {STRATA_PLUGIN_ENTRY_STRUCT_SIZE, STRATA_TIER_MEMORY, 0, 1, 0,
                                          "null-vtable", "0.0.1", "broken on purpose", 0, 0, 0};
static const strata_plugin_entry* const entries[] = {&entry};
static const strata_library_descriptor descriptor = {STRATA_LIBRARY_DESCRIPTOR_STRUCT_SIZE, 1, "null-vtable",
                                                     "test", entries, 0};

STRATA_EXPORT strata_status strata_plugin_negotiate(strata_negotiation* n) {
  n->plugin_abi_major = STRATA_ABI_MAJOR;
  n->plugin_abi_minor = STRATA_ABI_MINOR;
  n->library = &descriptor;
  return STRATA_OK;
}
