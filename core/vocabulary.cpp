#include "core/vocabulary.hpp"

namespace balance {

// Each from_integer switches over the enum without a default, so that a
// new enumerator the switch misses is a compiler warning (-Wswitch).

std::string to_string(group_type x) {
  switch (x) {
    case group_type::round_robin: return "round_robin";
    case group_type::hash: return "hash";
  }
  return "group_type(" + std::to_string(static_cast<int>(x)) + ")";
}

bool from_integer(std::underlying_type_t<group_type> in, group_type& out) {
  auto x = static_cast<group_type>(in);
  switch (x) {
    case group_type::round_robin:
    case group_type::hash: out = x; return true;
  }
  return false;
}

std::string to_string(channel_state x) {
  switch (x) {
    case channel_state::enabled: return "enabled";
    case channel_state::disabled: return "disabled";
    case channel_state::auto_disabled: return "auto_disabled";
  }
  return "channel_state(" + std::to_string(static_cast<int>(x)) + ")";
}

bool from_integer(std::underlying_type_t<channel_state> in,
                  channel_state& out) {
  auto x = static_cast<channel_state>(in);
  switch (x) {
    case channel_state::enabled:
    case channel_state::disabled:
    case channel_state::auto_disabled: out = x; return true;
  }
  return false;
}

std::string to_string(verb x) {
  switch (x) {
    case verb::enable: return "enable";
    case verb::disable: return "disable";
    case verb::reset: return "reset";
    case verb::maxc: return "maxc";
    case verb::create: return "create";
    case verb::assign: return "assign";
    case verb::set_hash: return "set_hash";
    case verb::set_rr: return "set_rr";
  }
  return "verb(" + std::to_string(static_cast<int>(x)) + ")";
}

bool from_integer(std::underlying_type_t<verb> in, verb& out) {
  auto x = static_cast<verb>(in);
  switch (x) {
    case verb::enable:
    case verb::disable:
    case verb::reset:
    case verb::maxc:
    case verb::create:
    case verb::assign:
    case verb::set_hash:
    case verb::set_rr: out = x; return true;
  }
  return false;
}

std::string to_string(reply x) {
  switch (x) {
    case reply::ok: return "ok";
    case reply::already: return "already";
    case reply::no_such_channel: return "no_such_channel";
    case reply::unknown_channel: return "unknown_channel";
    case reply::must_be_disabled: return "must_be_disabled";
    case reply::invalid_address: return "invalid_address";
    case reply::unknown_group: return "unknown_group";
    case reply::no_slots: return "no_slots";
  }
  return "reply(" + std::to_string(static_cast<int>(x)) + ")";
}

bool from_integer(std::underlying_type_t<reply> in, reply& out) {
  auto x = static_cast<reply>(in);
  switch (x) {
    case reply::ok:
    case reply::already:
    case reply::no_such_channel:
    case reply::unknown_channel:
    case reply::must_be_disabled:
    case reply::invalid_address:
    case reply::unknown_group:
    case reply::no_slots: out = x; return true;
  }
  return false;
}

std::string to_string(health_state x) {
  switch (x) {
    case health_state::unchecked: return "unchecked";
    case health_state::up: return "up";
    case health_state::down: return "down";
  }
  return "health_state(" + std::to_string(static_cast<int>(x)) + ")";
}

bool from_integer(std::underlying_type_t<health_state> in, health_state& out) {
  auto x = static_cast<health_state>(in);
  switch (x) {
    case health_state::unchecked:
    case health_state::up:
    case health_state::down: out = x; return true;
  }
  return false;
}

std::string to_string(check_error x) {
  switch (x) {
    case check_error::none: return "-";
    case check_error::refused: return "refused";
    case check_error::timeout: return "timeout";
    case check_error::expect_mismatch: return "expect mismatch";
    case check_error::closed: return "closed";
    case check_error::reset: return "reset";
    case check_error::unreachable: return "unreachable";
    case check_error::failed: return "failed";
  }
  return "check_error(" + std::to_string(static_cast<int>(x)) + ")";
}

bool from_integer(std::underlying_type_t<check_error> in, check_error& out) {
  auto x = static_cast<check_error>(in);
  switch (x) {
    case check_error::none:
    case check_error::refused:
    case check_error::timeout:
    case check_error::expect_mismatch:
    case check_error::closed:
    case check_error::reset:
    case check_error::unreachable:
    case check_error::failed: out = x; return true;
  }
  return false;
}

} // namespace balance
