/* Same major, but built against a newer minor than the host provides. */
#include "strata/strata.h"

STRATA_EXPORT strata_status strata_plugin_negotiate(strata_negotiation* n) {
  n->plugin_abi_major = STRATA_ABI_MAJOR;
  n->plugin_abi_minor = 7;
  n->library = 0;
  return STRATA_OK;
}
