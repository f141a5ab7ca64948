// Strata plugin SDK, C++ interface: include this to write a plugin.
#pragma once
#include "strata/strata.h"
#include "strata/cpp/error.hpp"
#include "strata/cpp/comm.hpp"
#include "strata/cpp/host.hpp"
#include "strata/cpp/plugin.hpp"
#include "strata/cpp/host_side.hpp"
