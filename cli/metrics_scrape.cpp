#include "cli/metrics_scrape.hpp"

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "cli/control_plane.hpp"
#include "cli/format.hpp"

namespace balance::cli {

namespace {

// The control actor gives each scheduler 3 s; this bounds the whole ask.
constexpr auto scrape_timeout = std::chrono::seconds(5);

// Calls the reply exactly once: with the text, or with nullopt when the
// helper actor goes without answering (a request that failed, or an actor
// that CAF ended before the response came), so that no scraper waits for
// an answer that cannot come.
class reply_once {
public:
  explicit reply_once(net::metrics_reply reply) : reply_(std::move(reply)) {}
  reply_once(const reply_once&) = delete;
  reply_once& operator=(const reply_once&) = delete;
  ~reply_once() { deliver(std::nullopt); }

  void deliver(std::optional<std::string> text) {
    if (auto r = std::move(reply_)) {
      reply_ = nullptr;
      r(std::move(text));
    }
  }

private:
  net::metrics_reply reply_;
};

} // namespace

net::metrics_source
metrics_source_for(caf::actor_system& sys, const control_plane& control,
                   std::string secret, std::shared_ptr<const lifecycle> life) {
  return [&sys, &control, secret, life](net::metrics_reply reply) {
    auto once = std::make_shared<reply_once>(std::move(reply));
    auto ctl = control.control_handle();
    // A function-based actor with a pending request lives until the
    // response (or the timeout) has been handled, then ends.
    sys.spawn([ctl, secret, once, life](caf::event_based_actor* self) {
      // The health rows after the snapshot, as `metrics` over -c: a
      // daemon without them (none here, but the same control actor's
      // interface) still gets its counters scraped.
      self->request(ctl, scrape_timeout, show_atom::value, secret)
        .then(
          [self, ctl, secret, once, life](snapshot& snap) {
            // In this process the drain state is at hand: no request.
            std::optional<lifecycle_status> st;
            if (life)
              st = life->status();
            self->request(ctl, scrape_timeout, health_atom::value, secret)
              .then(
                [once, snap, st](std::vector<health_row>& health) {
                  once->deliver(
                    format_metrics(snap, &health, st ? &*st : nullptr));
                },
                [once, snap, st](caf::error&) {
                  once->deliver(
                    format_metrics(snap, nullptr, st ? &*st : nullptr));
                });
          },
          [once](caf::error&) { once->deliver(std::nullopt); });
    });
  };
}

} // namespace balance::cli
