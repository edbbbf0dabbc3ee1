// The actor tests' runner: CAF 0.17's own unit-test engine (the one its
// deterministic caf/test/dsl.hpp fixture reports to), header-only in
// Debian's libcaf-dev. `actor_tests -s SUITE` runs one suite.
#include <caf/test/unit_test_impl.hpp>
