// What the gateways said during the test suite, kept for scripts/check-no-keys.py, which
// looks in all of it for the keys the tests used (DESIGN.md, invariant 1). CTest sets
// OA_TEST_OUTPUT_DIR for every test; without it (a test binary run by hand) nothing is
// kept.
#pragma once

#include <string>
#include <string_view>

namespace oa::testing {

// The folder outputs are kept in, or "" when none is set.
std::string TestOutputDir();

// Appends `text` to <dir>/<kind>-<pid>.txt, when a folder is set.
void KeepOutput(std::string_view kind, std::string_view text);

}  // namespace oa::testing
