#include "cli/check_options.hpp"

#include "core/escapes.hpp"

namespace balance::cli {

namespace {

parse_error usage_error(std::string message) {
  return parse_error{ex_usage, std::move(message), true};
}

std::optional<uint32_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 4
      || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  auto n = std::stoul(text);
  if (n < 1 || n > 1000)
    return std::nullopt;
  return static_cast<uint32_t>(n);
}

} // namespace

const option check_long_options[8] = {
  {"check-interval", required_argument, nullptr, opt_check_interval},
  {"check-timeout", required_argument, nullptr, opt_check_timeout},
  {"rise", required_argument, nullptr, opt_rise},
  {"fall", required_argument, nullptr, opt_fall},
  {"check-send", required_argument, nullptr, opt_check_send},
  {"check-expect", required_argument, nullptr, opt_check_expect},
  {"observe", no_argument, nullptr, opt_observe},
  {"on-down", required_argument, nullptr, opt_on_down},
};

std::optional<std::chrono::milliseconds> parse_seconds(const std::string& text,
                                                       unsigned max_seconds) {
  auto dot = text.find('.');
  auto whole = text.substr(0, dot);
  auto fraction = dot == std::string::npos ? "" : text.substr(dot + 1);
  auto digits = [](const std::string& s) {
    return s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (whole.empty() || whole.size() > 6 || !digits(whole) || !digits(fraction)
      || fraction.size() > 3 || (dot != std::string::npos && fraction.empty()))
    return std::nullopt;
  auto seconds = std::stoul(whole);
  if (seconds > max_seconds)
    return std::nullopt;
  fraction.resize(3, '0');
  auto ms = seconds * 1000 + std::stoul(fraction);
  if (ms > max_seconds * 1000UL)
    return std::nullopt;
  return std::chrono::milliseconds(ms);
}

std::optional<parse_error> apply_check_option(int opt, const std::string& arg,
                                              options& opts) {
  auto& hc = opts.checks;
  switch (opt) {
    case opt_check_interval: {
      auto v = parse_seconds(arg, 86400);
      if (!v || (v->count() > 0 && v->count() < 10))
        return usage_error("invalid check interval '--check-interval " + arg
                           + "' (seconds, fractions allowed: 0.01..86400; "
                             "0 = no active checks)");
      hc.interval = *v;
      return std::nullopt;
    }
    case opt_check_timeout: {
      auto v = parse_seconds(arg, 86400);
      if (!v || v->count() < 10)
        return usage_error("invalid check timeout '--check-timeout " + arg
                           + "' (seconds, fractions allowed: 0.01..86400)");
      hc.timeout = *v;
      return std::nullopt;
    }
    case opt_rise:
    case opt_fall: {
      auto n = parse_count(arg);
      auto name = opt == opt_rise ? "--rise" : "--fall";
      if (!n)
        return usage_error("invalid count '" + std::string(name) + " " + arg
                           + "' (consecutive results, 1..1000)");
      (opt == opt_rise ? hc.rise : hc.fall) = *n;
      return std::nullopt;
    }
    case opt_check_send:
    case opt_check_expect: {
      auto name = opt == opt_check_send ? "--check-send" : "--check-expect";
      std::string error;
      auto bytes = unescape_c(arg, error);
      if (!bytes)
        return usage_error("invalid string '" + std::string(name) + " " + arg
                           + "': " + error);
      if (bytes->empty() || bytes->size() > 4096)
        return usage_error("invalid string '" + std::string(name) + " " + arg
                           + "' (1..4096 bytes)");
      (opt == opt_check_send ? hc.send : hc.expect) = *bytes;
      return std::nullopt;
    }
    case opt_observe: hc.observe = true; return std::nullopt;
    case opt_on_down:
      if (arg != "keep" && arg != "shutdown")
        return usage_error("invalid action '--on-down " + arg
                           + "' (keep or shutdown)");
      hc.shutdown_on_down = arg == "shutdown";
      return std::nullopt;
    default: return std::nullopt;
  }
}

std::optional<parse_error> finish_check_options(options& opts) {
  auto& hc = opts.checks;
  bool active = hc.interval.count() > 0;
  auto needs_interval = [&](const char* what) -> std::optional<parse_error> {
    return usage_error(std::string(what)
                       + " needs active checks (--check-interval SEC)");
  };
  if (!active && hc.timeout)
    return needs_interval("--check-timeout");
  if (!active && !hc.send.empty())
    return needs_interval("--check-send");
  if (!active && !hc.expect.empty())
    return needs_interval("--check-expect");
  if (!active && !hc.observe && hc.shutdown_on_down)
    return usage_error(
      "--on-down shutdown needs health checks (--check-interval or --observe)");
  if (!hc.timeout)
    hc.timeout = std::min<std::chrono::milliseconds>(
      hc.interval, std::chrono::seconds(opts.connect_timeout));
  return std::nullopt;
}

} // namespace balance::cli
