#include "net/health_checks.hpp"

#include <algorithm>
#include <queue>
#include <random>

#include <asio/post.hpp>

#include "net/check_probe.hpp"
#include "net/timer.hpp"

namespace balance::net {

using clock = std::chrono::steady_clock;

/// The probes of one io thread behind one timer: a queue of deadlines
/// (the next check of an idle probe, the end of a running one), of which
/// everything due within a small slack runs on one wake-up.
class check_thread {
public:
  check_thread(asio::io_context& ctx,
               std::shared_ptr<const published_groups> groups,
               const check_sink& sink,
               std::shared_ptr<const check_settings> settings)
    : ctx_(ctx), groups_(std::move(groups)), sink_(sink),
      settings_(std::move(settings)), timer_(ctx.get_executor()),
      rng_(std::random_device{}()) {
    // Probes due this close together share a wake-up: at 0.5 s, 2.5 ms.
    slack_ = std::min<clock::duration>(settings_->interval / 200,
                                       std::chrono::milliseconds(10));
  }

  /// Starts checking a channel, first at `first` (on this io thread).
  void add(uint32_t group, uint32_t channel, clock::time_point first) {
    probes_.push_back(std::make_unique<check_probe>(
      ctx_, *settings_, group, channel,
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

  /// `p` is next due at `at` (a check, or the end of the running one);
  /// any earlier entry of p's in the queue is stale from now on.
  void schedule(check_probe& p, clock::time_point at) {
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
    while (!queue_.empty() && queue_.top().at <= now + slack_) {
      auto e = queue_.top();
      queue_.pop();
      if (e.generation != e.probe->generation)
        continue; // the check ended before this deadline
      if (e.probe->running())
        e.probe->on_deadline();
      else
        start_check(*e.probe, now);
    }
    if (!queue_.empty() && queue_.top().at < armed_for_)
      do_wait(queue_.top().at);
  }

  void start_check(check_probe& p, clock::time_point now) {
    auto view = groups_->view(p.group());
    if (p.channel() >= view->channels().size())
      return; // no such channel (never happens: channels are not removed)
    // The deadline goes in the queue first: the check may end at once
    // (on loopback it does), and then its next one replaces it.
    auto deadline = now + settings_->timeout;
    schedule(p, deadline);
    p.do_check(view->channels()[p.channel()].target, deadline);
  }

  void on_finished(check_probe& p, check_outcome outcome, check_error why) {
    if (outcome != check_outcome::skipped)
      sink_.channel_checked(p.group(), p.channel(),
                            outcome == check_outcome::passed, why);
    // The next one an interval after this one started, give or take a
    // tenth, so that checks begun together drift apart.
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    auto interval = std::chrono::duration_cast<clock::duration>(
      settings_->interval * jitter(rng_));
    auto start = p.due - settings_->timeout;
    schedule(p, std::max(start + interval, clock::now()));
  }

  asio::io_context& ctx_;
  std::shared_ptr<const published_groups> groups_;
  const check_sink& sink_;
  std::shared_ptr<const check_settings> settings_;
  std::vector<std::unique_ptr<check_probe>> probes_;
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> queue_;
  timer_type timer_;
  clock::time_point armed_for_ = clock::time_point::max();
  clock::duration slack_{};
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
