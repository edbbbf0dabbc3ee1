#include "net/health_checks.hpp"

#include <algorithm>
#include <map>
#include <queue>
#include <utility>
#include <random>

#include <asio/post.hpp>

#include "net/check_probe.hpp"
#include "net/timer.hpp"

namespace balance::net {

using clock = std::chrono::steady_clock;

/// The probes of one io thread behind one timer: a queue of deadlines
/// (the next check of an idle probe, the end of a running one), each
/// rounded up to a tick so that one wake-up runs every probe due then,
/// and the results of each tick sent as one message per group.
class check_thread {
public:
  check_thread(asio::io_context& ctx,
               std::shared_ptr<const published_groups> groups,
               const check_sink& sink,
               std::shared_ptr<const check_settings> settings)
    : ctx_(ctx), groups_(std::move(groups)), sink_(sink),
      settings_(std::move(settings)),
      sockets_(settings_->send.empty() && settings_->expect.empty(),
               settings_->out_bind),
      timer_(ctx.get_executor()),
      rng_(std::random_device{}()) {
    // A tenth of the interval, between 1 and 100 ms: at 0.5 s the thread
    // wakes 20 times a second however many channels it checks, and a
    // check is late by at most what the jitter moves it anyway.
    tick_ = std::clamp<clock::duration>(settings_->interval / 10,
                                        std::chrono::milliseconds(1),
                                        std::chrono::milliseconds(100));
  }

  /// Starts checking a channel, first at `first` (on this io thread).
  void add(uint32_t group, uint32_t channel, clock::time_point first) {
    probes_.push_back(std::make_unique<check_probe>(
      ctx_, *settings_, sockets_, group, channel,
      [this](check_probe& p, check_outcome outcome, check_error why) {
        on_finished(p, outcome, why);
      }));
    schedule(*probes_.back(), first);
  }

private:
  struct entry {
    clock::time_point at;
    check_probe* probe;
    uint64_t generation;
    bool operator>(const entry& other) const { return at > other.at; }
  };

  /// `p` is next due at `at` (a check, or the end of the running one),
  /// rounded up to the next tick; any earlier entry of p's in the queue is
  /// stale from now on.
  void schedule(check_probe& p, clock::time_point at) {
    auto since_epoch = at.time_since_epoch();
    at = clock::time_point(((since_epoch + tick_ - clock::duration(1)) / tick_)
                           * tick_);
    p.due = at;
    queue_.push({at, &p, ++p.generation});
    if (at < armed_for_)
      do_wait(at);
  }

  void do_wait(clock::time_point at) {
    armed_for_ = at;
    timer_.expires_at(at); // cancels the wait for a later time, if any
    timer_.async_wait([this](std::error_code ec) { on_timer(ec); });
  }

  void on_timer(std::error_code ec) {
    if (ec)
      return; // re-armed for an earlier time: that wait runs instead
    armed_for_ = clock::time_point::max();
    auto now = clock::now();
    in_tick_ = true;
    while (!queue_.empty() && queue_.top().at <= now) {
      auto e = queue_.top();
      queue_.pop();
      if (e.generation != e.probe->generation)
        continue; // the check ended before this deadline
      if (e.probe->running())
        e.probe->on_deadline();
      else
        start_check(*e.probe, e.at, now);
    }
    in_tick_ = false;
    if (urgent_ || now - last_flush_ >= batch_period)
      flush(now);
    if (!queue_.empty() && queue_.top().at < armed_for_)
      do_wait(queue_.top().at);
  }

  /// Starts `p`'s check, due at the tick `due`, at `now`: the next one
  /// keeps the cadence, this one gets its whole timeout however late the
  /// thread woke.
  void start_check(check_probe& p, clock::time_point due,
                   clock::time_point now) {
    auto view = groups_->view(p.group());
    if (p.channel() >= view->channels().size())
      return; // no such channel (never happens: channels are not removed)
    // A deadline only for a check that did not end at once (on loopback
    // a plain one does, and its next is already queued): the queue keeps
    // a live entry per probe rather than a stale one more per check, and
    // each tick pops half as many.
    p.started = due;
    p.do_check(view->channels()[p.channel()].target);
    if (p.running())
      schedule(p, now + settings_->timeout);
  }

  void on_finished(check_probe& p, check_outcome outcome, check_error why) {
    if (outcome != check_outcome::skipped) {
      bool passed = outcome == check_outcome::passed;
      results_[p.group()].push_back({p.channel(), passed, why});
      if (!passed) {
        p.urgent_passes = settings_->rise;
        urgent_ = true;
      } else if (p.urgent_passes > 0) {
        --p.urgent_passes;
        urgent_ = true;
      }
      // An urgent result of a check that ended on its socket's events
      // (not within a tick) goes once this handler is done, with any
      // others that end so.
      if (urgent_ && !in_tick_ && !flush_posted_) {
        flush_posted_ = true;
        asio::post(ctx_, [this] {
          flush_posted_ = false;
          flush(clock::now());
        });
      }
    }
    // The next one an interval after this one started, give or take a
    // tenth, so that checks begun together drift apart; half a tick
    // early, as schedule() rounds up to the next tick.
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    auto interval = std::chrono::duration_cast<clock::duration>(
      settings_->interval * jitter(rng_));
    schedule(p, std::max(p.started + interval - tick_ / 2, clock::now()));
  }

  /// Sends what the checks found since the last flush, a message per group.
  void flush(clock::time_point now) {
    for (auto& [group, results] : results_)
      if (!results.empty())
        sink_.channels_checked(group, std::exchange(results, {}));
    urgent_ = false;
    last_flush_ = now;
  }

  /// How long results that change nothing may wait (the `health` table's
  /// counters lag by as much).
  static constexpr auto batch_period = std::chrono::milliseconds(250);

  asio::io_context& ctx_;
  std::shared_ptr<const published_groups> groups_;
  const check_sink& sink_;
  std::shared_ptr<const check_settings> settings_;
  check_sockets sockets_; ///< before probes_: outlives them
  std::vector<std::unique_ptr<check_probe>> probes_;
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> queue_;
  timer_type timer_;
  clock::time_point armed_for_ = clock::time_point::max();
  clock::duration tick_{};
  std::map<uint32_t, std::vector<check_result>> results_; ///< by group
  bool in_tick_ = false;
  bool urgent_ = false; ///< a result in results_ may change a state
  clock::time_point last_flush_{};
  bool flush_posted_ = false;
  std::mt19937 rng_;
};

health_checks::health_checks(io_pool& pool,
                             std::shared_ptr<const published_groups> groups,
                             const check_sink& sink, check_settings settings)
  : pool_(pool), groups_(std::move(groups)),
    settings_(std::make_shared<const check_settings>(std::move(settings))) {
  for (std::size_t i = 0; i < pool_.size(); ++i)
    threads_.push_back(
      std::make_unique<check_thread>(pool_.at(i), groups_, sink, settings_));
}

health_checks::~health_checks() = default;

void health_checks::start() {
  std::vector<std::pair<uint32_t, uint32_t>> channels;
  for (uint32_t g = 0; g < groups_->size(); ++g) {
    auto n = groups_->view(g)->channels().size();
    for (uint32_t i = 0; i < n; ++i)
      channels.emplace_back(g, i);
  }
  auto now = clock::now();
  auto n = channels.size();
  for (std::size_t k = 0; k < n; ++k) {
    // Spread over the first interval, the first at once.
    auto first = now
                 + std::chrono::duration_cast<clock::duration>(
                   settings_->interval * static_cast<double>(k)
                   / static_cast<double>(n));
    auto t = k % threads_.size();
    auto [g, i] = channels[k];
    asio::post(pool_.at(t), [thread = threads_[t].get(), g = g, i = i, first] {
      thread->add(g, i, first);
    });
  }
  next_thread_ = n; // created channels go on where these stopped
}

void health_checks::watch(uint32_t group, uint32_t channel) {
  auto t = next_thread_.fetch_add(1) % threads_.size();
  asio::post(pool_.at(t), [thread = threads_[t].get(), group, channel] {
    thread->add(group, channel, clock::now());
  });
}

} // namespace balance::net
