/* Built for a future ABI major: the host must refuse it, naming both versions. */
#include "strata/strata.h"

STRATA_EXPORT strata_status strata_plugin_negotiate(strata_negotiation* n) {
  n->plugin_abi_major = 99;
  n->plugin_abi_minor = 0;
  n->library = 0;
  return STRATA_VERSION_MISMATCH;
}
