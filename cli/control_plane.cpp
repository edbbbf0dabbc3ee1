#include "cli/control_plane.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/all.hpp>

#include "actors/basp_handoff.hpp"
#include "cli/rendezvous.hpp"
#include "log/log.hpp"
#include "net/tls_context.hpp"

namespace balance::cli {

namespace {

bool split_host_port(const std::string& text, std::string& host,
                     uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return false;
  host = text.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto p = parse_port(text.substr(colon + 1));
  if (!p || host.empty())
    return false;
  port = *p;
  return true;
}

bool is_loopback(const endpoint& ep) {
  return (!ep.v6 && ep.bytes[0] == 127)
         || (ep.v6 && ep.address_text() == "::1");
}

} // namespace

std::optional<endpoint> remote_control_endpoint(const options& opts,
                                                std::string& error) {
  if (opts.control_listen.empty())
    return std::nullopt;
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(opts.control_listen, host, port)) {
    error = "invalid --control-listen '" + opts.control_listen
            + "' (want addr:port)";
    return std::nullopt;
  }
  auto ep = resolve_host(host, family::any, error);
  if (!ep) {
    error = "--control-listen " + opts.control_listen + ": " + error;
    return std::nullopt;
  }
  ep->port = port;
  if (!opts.tls.any() && !opts.insecure_control && !is_loopback(*ep)) {
    error = "--control-listen " + opts.control_listen
            + " is not loopback: give --tls-cert/--tls-key/--tls-ca "
              "(mutual TLS) or say --insecure-control";
    return std::nullopt;
  }
  return ep;
}

control_plane::control_plane(caf::actor_system& sys, control_config config)
  : sys_(sys), config_(std::move(config)) {
  auto then = std::move(config_.on_killed);
  // New clients must not find a dying instance; the kill reply itself
  // still travels over the open connection, so the gate stays up.
  config_.on_killed = [this, then] {
    closed_ = true;
    if (!rendezvous_path_.empty() && !handed_over_) {
      ::unlink(rendezvous_path_.c_str());
      ::unlink(socket_path_for(rendezvous_path_).c_str());
    }
    if (then)
      then();
  };
}

control_plane::~control_plane() {
  close();
}

void control_plane::spawn_actors() {
  auto down = std::make_shared<std::atomic<bool>>(false);
  auto ctl = sys_.spawn<caf::detached>(control, config_);
  ctl->attach_functor([down](const caf::error&) { *down = true; });
  control_actor front;
  if (tls_) {
    front = sys_.spawn(control_front, ctl, config_.secret);
    front->attach_functor([down](const caf::error&) { *down = true; });
  }
  std::lock_guard<std::mutex> guard{mutex_};
  control_ = ctl;
  tls_front_ = front;
  interface_ = sys_.message_types(ctl);
  control_down_ = down;
}

void control_plane::restore_actors() {
  std::lock_guard<std::mutex> guard{restore_mutex_};
  if (control_down_ && *control_down_) {
    log::notice("control actor terminated: starting a new one");
    spawn_actors();
  }
}

bool control_plane::hand_off(int fd, net::control_door door) {
  // A peer that ended the control actor (an exit it cannot trap) must not
  // leave the next client talking to a dead actor.
  restore_actors();
  caf::strong_actor_ptr whom;
  std::set<std::string> interface;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    whom = caf::actor_cast<caf::strong_actor_ptr>(
      door == net::control_door::tls ? tls_front_ : control_);
    interface = interface_;
  }
  return basp_accept(sys_, fd, static_cast<uint16_t>(door), whom, interface);
}

std::string control_plane::open(const options& opts,
                                const std::string& rendezvous_path,
                                inherited_doors inherited) {
  rendezvous_path_ = rendezvous_path;
  std::string error;
  auto remote = remote_control_endpoint(opts, error);
  if (!error.empty())
    return error;
  std::shared_ptr<asio::ssl::context> tls;
  if (remote && opts.tls.any()) {
    auto files = opts.tls; // absolute already (main validated them)
    tls = net::make_tls_context(files, net::tls_role::server, error);
    if (!tls)
      return error;
  }
  tls_ = tls != nullptr;
  {
    std::lock_guard<std::mutex> guard{restore_mutex_};
    spawn_actors();
  }
  gate_ = std::make_unique<net::control_gate>(
    config_.secret,
    [this](int fd, net::control_door door) { return hand_off(fd, door); });
  auto socket_path = socket_path_for(rendezvous_path);
  if (inherited.local >= 0
        ? !gate_->adopt_local(inherited.local, socket_path, error)
        : !gate_->listen_local(socket_path, error))
    return error;
  if (remote && inherited.tcp >= 0) {
    if (!gate_->adopt_tcp(inherited.tcp, tls, error))
      return error;
  } else if (remote && !gate_->listen_tcp(*remote, tls, error)) {
    return "cannot listen for control on " + opts.control_listen + ": " + error;
  } else if (!remote && inherited.tcp >= 0) {
    ::close(inherited.tcp); // handed over, but not asked for any more
  }
  gate_->start();
  if (!write_file(error))
    return error;
  log::debug("control on " + socket_path_for(rendezvous_path)
             + (remote ? " and " + remote->to_string()
                           + (tls_ ? " (mutual TLS)" : " (secret)")
                       : std::string())
             + ", control file " + rendezvous_path);
  return {};
}

bool control_plane::write_file(std::string& error) {
  rendezvous rv{static_cast<int>(::getpid()), socket_path_for(rendezvous_path_),
                config_.secret};
  return write_rendezvous(rendezvous_path_, rv, error);
}

inherited_doors control_plane::duplicate_doors() {
  inherited_doors doors;
  if (!gate_)
    return doors;
  for (auto& [kind, fd] : gate_->duplicate_doors()) {
    int& slot = kind == net::control_door::local ? doors.local : doors.tcp;
    if (slot < 0)
      slot = fd;
    else
      ::close(fd);
  }
  return doors;
}

void control_plane::reclaim_file() {
  std::string error;
  if (!handed_over_ && !closed_ && !write_file(error))
    log::error("cannot rewrite the control file: " + error);
}

void control_plane::hand_over() {
  handed_over_ = true;
  closed_ = true; // the watchdog leaves the file and the socket alone
  if (gate_)
    gate_->hand_over();
}

bool control_plane::watch() {
  if (handed_over_) {
    // Still answering the shells that were in when the upgrade came.
    restore_actors();
    basp_forget_departed_nodes(sys_);
    return true;
  }
  if (closed_)
    return true;
  restore_actors();
  basp_forget_departed_nodes(sys_);
  struct stat st {};
  if (::lstat(rendezvous_path_.c_str(), &st) != 0) {
    // A cleaner of /tmp, or an operator's rm: put the directory, the file
    // and the socket back, so the instance stays controllable.
    std::string error;
    auto slash = rendezvous_path_.rfind('/');
    auto name = rendezvous_path_.substr(slash + 1);
    auto again = prepare_rendezvous_path(name, error);
    if (!again || *again != rendezvous_path_ || !write_file(error)) {
      log::error("cannot restore the control file " + rendezvous_path_ + ": "
                 + error);
      return false;
    }
    log::notice("control file " + rendezvous_path_
                + " was removed: re-created");
  }
  return gate_ ? gate_->restore_local() : true;
}

control_actor control_plane::control_handle() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return control_;
}

void control_plane::close() {
  closed_ = true;
  if (!rendezvous_path_.empty() && !handed_over_)
    ::unlink(rendezvous_path_.c_str());
  if (gate_)
    gate_->stop();
}

} // namespace balance::cli
