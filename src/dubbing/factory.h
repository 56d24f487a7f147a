// The dubbing engine the configuration names (`[dubbing]`), with the stage engines it owns.
#pragma once

#include <memory>

#include "core/config.h"
#include "core/result.h"
#include "live/dubbing.h"
#include "obs/metrics.h"

namespace beta500::dubbing {

// Loads the models (about half a second for the built-in engines) or says what is missing.
Result<std::unique_ptr<live::DubbingEngine>> MakeEngine(const Config::Dubbing& config, obs::Registry& metrics);

}  // namespace beta500::dubbing
