// The control plane's words (core/vocabulary.hpp) and how they travel
// (actors/protocol.hpp): every enumerator reads back from its integer,
// nothing else does, and the enum fields serialise byte for byte as the
// integer fields they replaced.
#include <catch2/catch.hpp>

#include <vector>

#include <caf/binary_serializer.hpp>

#include "actors/protocol.hpp"

using namespace balance;

namespace {

template <class Enum>
void check_round_trip(std::initializer_list<Enum> all) {
  using int_type = std::underlying_type_t<Enum>;
  for (auto x : all) {
    CAPTURE(to_string(x));
    Enum back{};
    REQUIRE(from_integer(static_cast<int_type>(x), back));
    CHECK(back == x);
    CHECK(is_enumerator(x));
  }
  auto past = static_cast<int_type>(all.size());
  Enum untouched = *all.begin();
  CHECK_FALSE(from_integer(past, untouched));
  CHECK(untouched == *all.begin());
  CHECK_FALSE(is_enumerator(static_cast<Enum>(past)));
}

// The layouts before the enums, as they went over the wire.
struct old_channel_status {
  uint32_t group = 0;
  uint32_t index = 0;
  uint8_t type = 0;
  uint8_t state = 0;
  std::string address;
  uint16_t port = 0;
  uint32_t current = 0;
  uint64_t total = 0;
  uint32_t maxc = 0;
  uint64_t sent = 0;
  uint64_t rcvd = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, old_channel_status& x) {
  return f(caf::meta::type_name("channel_status"), x.group, x.index, x.type,
           x.state, x.address, x.port, x.current, x.total, x.maxc, x.sent,
           x.rcvd);
}

struct old_control_command {
  uint8_t what = 0;
  uint32_t group = 0;
  uint32_t channel = 0;
  uint32_t value = 0;
  std::string host;
  std::string port;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, old_control_command& x) {
  return f(caf::meta::type_name("control_command"), x.what, x.group, x.channel,
           x.value, x.host, x.port);
}

template <class T>
std::vector<char> bytes_of(T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  REQUIRE_FALSE(sink(x));
  return buf;
}

} // namespace

TEST_CASE("each enum reads back from its integer and rejects others",
          "[vocabulary]") {
  check_round_trip({group_type::round_robin, group_type::hash});
  check_round_trip({channel_state::enabled, channel_state::disabled,
                    channel_state::auto_disabled});
  check_round_trip({verb::enable, verb::disable, verb::reset, verb::maxc,
                    verb::create, verb::assign, verb::set_hash, verb::set_rr});
  check_round_trip({reply::ok, reply::already, reply::no_such_channel,
                    reply::unknown_channel, reply::must_be_disabled,
                    reply::invalid_address, reply::unknown_group,
                    reply::no_slots});
}

TEST_CASE("to_string names the enumerator", "[vocabulary]") {
  CHECK(to_string(group_type::hash) == "hash");
  CHECK(to_string(channel_state::auto_disabled) == "auto_disabled");
  CHECK(to_string(verb::set_rr) == "set_rr");
  CHECK(to_string(reply::must_be_disabled) == "must_be_disabled");
  CHECK(to_string(static_cast<verb>(200)) == "verb(200)");
}

TEST_CASE("a show row serialises as it did with integer fields",
          "[vocabulary][protocol]") {
  channel_status now;
  now.group = 3;
  now.index = 7;
  now.type = group_type::hash;
  now.state = channel_state::auto_disabled;
  now.address = "2001:db8::1";
  now.port = 443;
  now.current = 2;
  now.total = 1234567890123ULL;
  now.maxc = 9;
  now.sent = 11;
  now.rcvd = 12;
  old_channel_status before{
    3, 7, 1, 2, "2001:db8::1", 443, 2, 1234567890123ULL, 9, 11, 12};
  CHECK(bytes_of(now) == bytes_of(before));
}

TEST_CASE("a command serialises as it did with an integer verb",
          "[vocabulary][protocol]") {
  control_command now;
  now.what = verb::assign;
  now.group = 1;
  now.channel = 2;
  now.value = 3;
  now.host = "10.0.0.9";
  now.port = "80";
  old_control_command before{5, 1, 2, 3, "10.0.0.9", "80"};
  CHECK(bytes_of(now) == bytes_of(before));
}
