#include "cli/exit.hpp"

#include <cstdio>
#include <cstdlib>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BALANCE_HAS_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define BALANCE_HAS_LSAN 1
#endif

#ifdef BALANCE_HAS_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#ifdef BALANCE_COVERAGE
extern "C" void __gcov_dump(void);
#endif

namespace balance::cli {

void exit_now(int rc) {
  std::fflush(nullptr);
#ifdef BALANCE_HAS_LSAN
  __lsan_do_leak_check();
#endif
#ifdef BALANCE_COVERAGE
  __gcov_dump();
#endif
  std::_Exit(rc);
}

} // namespace balance::cli
