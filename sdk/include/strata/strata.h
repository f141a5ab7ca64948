/* Strata plugin SDK, C interface: include this from C or C++. */
#ifndef STRATA_STRATA_H
#define STRATA_STRATA_H
#include "strata/abi/version.h"
#include "strata/abi/status.h"
#include "strata/abi/types.h"
#include "strata/abi/comm.h"
#include "strata/abi/events.h"
#include "strata/abi/host.h"
#include "strata/abi/plugin.h"
#include "strata/abi/tiers/parallelism.h"
#include "strata/abi/tiers/aggregation.h"
#include "strata/abi/tiers/memory.h"
#include "strata/abi/tiers/fairness.h"
#include "strata/abi/tiers/explainability.h"
#include "strata/abi/tiers/compliance.h"
#endif
