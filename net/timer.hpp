// The timer type of the data path: bound to an io_context's own executor,
// so a wait carries no type-erased executor (asio::steady_timer's does).
#pragma once

#include <chrono>

#include <asio/basic_waitable_timer.hpp>
#include <asio/io_context.hpp>

namespace balance::net {

using timer_type = asio::basic_waitable_timer<
  std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>,
  asio::io_context::executor_type>;

} // namespace balance::net
