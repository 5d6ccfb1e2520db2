// baton-proxy's admin listener (admin.listen): HTTP/1.1 with keep-alive, on a thread
// and io_context of its own, so that neither a busy worker delays an operator nor an
// operator a worker. The API is admin_api.hpp; this is its socket side: small bounded
// requests with a timeout on every read and write, streamed responses (admin_stream.hpp:
// chunked, ended when the client leaves or the server stops), its own lease store from
// the server's factory, and the readiness checks (a Redis PING, a TCP connection to the
// engine).
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/core/metrics.hpp"
#include "baton/lease/store_factory.hpp"

#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace baton::proxy {

class AdminServer {
public:
  // Binds admin.listen now, so that a port in use fails the start with a message naming
  // admin.listen (std::runtime_error). Without SO_REUSEPORT: a second process on the
  // same admin port must fail rather than share it. `engine`: the resolved upstream,
  // for readiness. `metrics` must outlive the server; GET /metrics renders it.
  // `on_forced_release` runs on the admin thread after each DELETE /leases/{sid} that
  // ended a lease (to count it).
  AdminServer(const core::Config& config, std::vector<tcp::endpoint> engine,
              lease::LeaseStoreFactory& stores, const core::metrics::Registry& metrics,
              std::function<void()> on_forced_release = {});
  // Stops and joins the thread if the caller has not.
  ~AdminServer();

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Starts serving on the admin thread.
  void start();

  // Thread-safe: stop accepting, let responses in flight finish (briefly), then end the
  // thread. join() waits for that.
  void stop();
  void join();

  // Thread-safe: the bearer tokens of requests from now on (a configuration reload).
  void set_tokens(std::vector<core::AdminToken> tokens);

  // Thread-safe: GET /readyz answers 503 from now on; everything else keeps working.
  void set_draining();

  // Where it listens (admin.listen, with the port the kernel chose for port 0).
  tcp::endpoint local_endpoint() const;

private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace baton::proxy
