#include "baton/proxy/admin_server.hpp"

#include "baton/core/listener.hpp"
#include "baton/core/timed_socket.hpp"
#include "baton/proxy/admin_api.hpp"
#include "baton/redis/client.hpp"

#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <stdexcept>
#include <thread>
#include <unordered_set>

namespace baton::proxy {
namespace {

using namespace std::chrono_literals;

// Admin requests are a request line and a few fields, without a body.
constexpr std::size_t max_header_bytes = 8 * 1024;  // larger: 431
constexpr auto request_timeout = 10s;                // the whole head; slower: 408
constexpr auto send_timeout = 10s;                   // a client that stops reading
constexpr auto idle_timeout = 60s;                   // keep-alive between requests
// Each readiness check; both together stay below the 1 s of a default Kubernetes probe.
constexpr core::Duration check_timeout = 400ms;
// After stop(): how long responses in flight may take before the loop ends anyway.
constexpr auto stop_grace = 2s;

std::string address_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

// Like core::open_listener, without SO_REUSEPORT: one admin listener per port.
TcpAcceptor open_admin_listener(net::io_context& io, const core::HostPort& listen) {
  const std::string where = "admin.listen " + listen.host + ":" + std::to_string(listen.port) + ": ";
  try {
    const tcp::endpoint endpoint = core::listen_endpoint(listen);
    TcpAcceptor acceptor(io);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    return acceptor;
  } catch (const std::exception& error) {
    throw std::runtime_error(where + error.what());
  }
}

redis::ClientOptions ping_options(const core::Config& config) {
  redis::ClientOptions options;
  options.url = config.redis.url;
  options.connect_timeout = config.redis.connect_timeout;
  options.command_timeout = std::min(config.redis.command_timeout, check_timeout);
  options.name = "baton-admin:" + config.instance_id;
  return options;
}

}  // namespace

class AdminServer::Impl final : public AdminBackend {
public:
  Impl(const core::Config& config, std::vector<tcp::endpoint> engine, lease::LeaseStoreFactory& stores,
       const core::metrics::Registry& metrics, std::function<void()> on_forced_release);
  ~Impl() override;

  void run();
  void stop() {
    net::post(io_, [this] { begin_stop(); });
  }
  void set_tokens(std::vector<core::AdminToken> tokens) { auth_.set_tokens(std::move(tokens)); }
  void set_draining() { draining_.store(true, std::memory_order_relaxed); }
  tcp::endpoint local_endpoint() const { return endpoint_; }

  // AdminBackend
  const std::string& instance_id() const override { return instance_id_; }
  lease::LeaseStore& leases() override { return *store_; }
  std::string lease_store_problem() override;
  Awaitable<std::vector<DependencyCheck>> check_dependencies() override;
  std::string metrics_text() override { return metrics_.prometheus_text(); }
  bool draining() const override { return draining_.load(std::memory_order_relaxed); }
  void start_drain() override;
  void lease_force_released() override {
    if (on_forced_release_) on_forced_release_();
  }
  StreamSlots& stream_slots() override { return stream_slots_; }

private:
  class Connection;

  // Destroys the coroutines still waiting before the members they refer to (the lease
  // store, the connections' registry): ~io_context would do it only after them.
  class Context : public net::io_context {
  public:
    Context() : net::io_context(1) {}
    using net::io_context::shutdown;
  };

  Awaitable<void> accept_loop();
  static Awaitable<void> serve(Impl& server, TcpSocket socket);
  Awaitable<std::string> redis_problem();
  Awaitable<std::string> engine_problem();
  void begin_stop();
  void stop_when_quiet();

  Context io_;
  TcpAcceptor acceptor_;
  tcp::endpoint endpoint_;
  std::string instance_id_;
  std::vector<tcp::endpoint> engine_;
  core::Duration engine_timeout_;
  bool redis_decides_readiness_;  // false with on_backend_down: fail_open
  const core::metrics::Registry& metrics_;
  std::function<void()> on_forced_release_;
  lease::LeaseStorePtr store_;
  std::unique_ptr<redis::Client> redis_;  // readiness; null with the memory backend
  AdminAuth auth_;
  AdminApi api_;
  StreamSlots stream_slots_{max_lease_streams};
  std::atomic<bool> draining_{false};
  std::unordered_set<Connection*> connections_;
  SteadyTimer stop_deadline_;
  bool stopping_ = false;
};

// One client connection: requests one after another (keep-alive), each head read within
// size and time limits, answered by the API.
class AdminServer::Impl::Connection {
public:
  Connection(Impl& server, TcpSocket socket) : server_(server), stream_(std::move(socket)) {
    beast::error_code error;
    const auto peer = stream_.socket().remote_endpoint(error);
    peer_ = error ? std::string("unknown") : address_text(peer);
    server_.connections_.insert(this);
  }
  ~Connection() {
    server_.connections_.erase(this);
    server_.stop_when_quiet();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Awaitable<void> run() {
    while (co_await request_arrives()) {
      if (!co_await answer_request()) break;
    }
    beast::error_code ignored;
    stream_.socket().shutdown(net::socket_base::shutdown_send, ignored);
    stream_.close();
  }

  // stop(): a connection waiting for its next request ends now, and a stream ends soon.
  void close_if_idle() {
    if (idle_) stream_.socket().cancel();
    if (streaming_ != nullptr) streaming_->stop();
  }

private:
  // False when the connection ends (idle timeout, the peer closed, or stop()) first.
  Awaitable<bool> request_arrives() {
    if (buffer_.size() > 0) co_return true;  // pipelined
    if (server_.stopping_) co_return false;
    idle_ = true;
    stream_.expires_after(idle_timeout);
    beast::error_code error;
    const auto received =
        co_await stream_.async_read_some(buffer_.prepare(512), net::redirect_error(use_awaitable, error));
    buffer_.commit(received);
    idle_ = false;
    co_return !error && !server_.stopping_;
  }

  // False when the connection must close.
  Awaitable<bool> answer_request() {
    // The head only: admin requests carry no body, and one that announces a body is
    // refused below rather than read.
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
    stream_.expires_after(request_timeout);
    beast::error_code error;
    co_await http::async_read_header(stream_, buffer_, parser, net::redirect_error(use_awaitable, error));
    error = stream_.outcome(error);
    if (error) {
      if (error == http::error::end_of_stream || error == net::error::eof) co_return false;
      AdminResponse refusal = unreadable(error);
      co_await send(std::move(refusal), false);
      co_return false;
    }
    const auto& head = parser.get();
    const bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
    if (has_body) {
      AdminResponse refusal =
          server_.api_.unreadable(http::status::payload_too_large, "body_not_accepted", "admin requests take no body");
      co_await send(std::move(refusal), false);
      co_return false;
    }

    AdminRequest request;
    request.method = head.method();
    request.target = std::string(head.target());
    request.authorization = std::string(head[http::field::authorization]);
    request.accept = std::string(head[http::field::accept]);
    request.fetch_site = std::string(head["Sec-Fetch-Site"]);
    request.host = std::string(head[http::field::host]);
    request.peer = peer_;
    // The API bounds its own time (store commands and checks have timeouts).
    stream_.expires_never();
    AdminReply reply = co_await server_.api_.handle(std::move(request));
    if (reply.stream) {
      co_await send_stream(std::move(reply));
      co_return false;
    }
    const bool keep_alive = head.keep_alive() && !server_.stopping_;
    co_return co_await send(std::move(reply.response), keep_alive) && keep_alive;
  }

  // The head, then the stream's writes as chunks, then the last chunk; the connection
  // closes after it. Meanwhile a read watches for the client going away.
  Awaitable<void> send_stream(AdminReply reply) {
    http::response<http::empty_body> head(std::move(reply.response.base()));
    head.keep_alive(false);
    head.chunked(true);
    http::response_serializer<http::empty_body> serializer(head);
    stream_.expires_after(send_timeout);
    beast::error_code error;
    co_await http::async_write_header(stream_, serializer, net::redirect_error(use_awaitable, error));
    stream_.expires_never();
    if (error) co_return;

    AdminStream& body = *reply.stream;
    if (server_.stopping_) body.stop();
    streaming_ = &body;
    const auto executor = co_await net::this_coro::executor;
    SteadyTimer watcher_done(executor, SteadyTimer::time_point::max());
    bool watching = true;
    net::co_spawn(executor, watch_peer(*this, body), [&watching, &watcher_done](std::exception_ptr) {
      watching = false;
      watcher_done.cancel();
    });
    ChunkSink sink(*this);
    co_await body.run(sink);
    streaming_ = nullptr;
    if (sink.open) {
      stream_.expires_after(send_timeout);
      co_await net::async_write(stream_, http::make_chunk_last(), net::redirect_error(use_awaitable, error));
      stream_.expires_never();
    }
    // Ends the watcher's read; its frame refers to this connection, so wait for it.
    stream_.socket().cancel(error);
    while (watching) co_await watcher_done.async_wait(net::redirect_error(use_awaitable, error));
  }

  // A client of a stream sends nothing more: any read that completes (the end of the
  // connection, an error, or bytes it should not send) ends the stream.
  static Awaitable<void> watch_peer(Connection& self, AdminStream& body) {
    std::array<char, 64> scratch;
    beast::error_code error;
    co_await self.stream_.socket().async_read_some(net::buffer(scratch), net::redirect_error(use_awaitable, error));
    body.stop();
  }

  class ChunkSink final : public AdminStreamSink {
  public:
    explicit ChunkSink(Connection& connection) : connection_(connection) {}

    Awaitable<bool> write(std::string bytes) override {
      if (!open) co_return false;
      connection_.stream_.expires_after(send_timeout);
      beast::error_code error;
      co_await net::async_write(connection_.stream_, http::make_chunk(net::buffer(bytes)),
                                net::redirect_error(use_awaitable, error));
      // No deadline between writes: the watcher's read must not time out.
      connection_.stream_.expires_never();
      open = !error;
      co_return open;
    }

    bool open = true;  // no write failed

  private:
    Connection& connection_;
  };

  AdminResponse unreadable(const beast::error_code& error) {
    if (error == beast::error::timeout)
      return server_.api_.unreadable(http::status::request_timeout, "request_timeout",
                                     "the request head did not arrive in time");
    if (error == http::error::header_limit || error == http::error::buffer_overflow)
      return server_.api_.unreadable(http::status::request_header_fields_too_large, "header_too_large",
                                     "the request head is larger than 8 KiB");
    return server_.api_.unreadable(http::status::bad_request, "bad_request", "the request is not valid HTTP/1.1");
  }

  Awaitable<bool> send(AdminResponse response, bool keep_alive) {
    response.keep_alive(keep_alive);
    response.prepare_payload();
    stream_.expires_after(send_timeout);
    beast::error_code error;
    co_await http::async_write(stream_, response, net::redirect_error(use_awaitable, error));
    co_return !error;
  }

  Impl& server_;
  core::TimedSocket stream_;
  beast::flat_buffer buffer_{2 * max_header_bytes};  // a head, and the start of a pipelined one
  std::string peer_;
  bool idle_ = false;
  AdminStream* streaming_ = nullptr;  // while a stream runs
};

AdminServer::Impl::Impl(const core::Config& config, std::vector<tcp::endpoint> engine,
                        lease::LeaseStoreFactory& stores, const core::metrics::Registry& metrics,
                        std::function<void()> on_forced_release)
    : acceptor_(open_admin_listener(io_, config.admin.listen)),
      endpoint_(acceptor_.local_endpoint()),
      instance_id_(config.instance_id),
      engine_(std::move(engine)),
      engine_timeout_(std::min(config.upstream.connect_timeout, check_timeout)),
      redis_decides_readiness_(config.lease.on_backend_down == core::BackendDownPolicy::fail_closed),
      metrics_(metrics),
      on_forced_release_(std::move(on_forced_release)),
      store_(stores.create(io_.get_executor())),
      auth_(config.admin.tokens),
      api_(*this, auth_, endpoint_.address().is_loopback()),
      stop_deadline_(io_) {
  if (config.lease.backend == core::LeaseBackend::redis) {
    redis_ = std::make_unique<redis::Client>(io_.get_executor(), ping_options(config));
    redis_->start();
  }
}

AdminServer::Impl::~Impl() { io_.shutdown(); }

void AdminServer::Impl::run() {
  net::co_spawn(io_, accept_loop(), core::log_unexpected_exception);
  io_.run();
}

Awaitable<void> AdminServer::Impl::accept_loop() {
  co_await core::accept_connections(
      acceptor_,
      [this](TcpSocket socket) {
        net::co_spawn(io_, serve(*this, std::move(socket)), core::log_unexpected_exception);
      },
      "admin");
}

Awaitable<void> AdminServer::Impl::serve(Impl& server, TcpSocket socket) {
  Connection connection(server, std::move(socket));
  co_await connection.run();
}

void AdminServer::Impl::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  // close_if_idle ends a connection's wait; it leaves the set as it unwinds.
  const std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (auto* connection : open) connection->close_if_idle();
  stop_deadline_.expires_after(stop_grace);
  stop_deadline_.async_wait([this](beast::error_code error) {
    if (!error) io_.stop();
  });
  stop_when_quiet();
}

// The lease store and the Redis client keep the loop busy for ever, so a stopped server
// ends its loop itself once no response is in flight.
void AdminServer::Impl::stop_when_quiet() {
  if (stopping_ && connections_.empty()) io_.stop();
}

std::string AdminServer::Impl::lease_store_problem() {
  if (redis_ && !redis_->connected()) return "redis: not connected";
  return {};
}

Awaitable<std::vector<DependencyCheck>> AdminServer::Impl::check_dependencies() {
  std::vector<DependencyCheck> checks;
  if (redis_) {
    std::string problem = co_await redis_problem();
    checks.push_back({"redis", std::move(problem), redis_decides_readiness_});
  }
  std::string problem = co_await engine_problem();
  checks.push_back({"engine", std::move(problem)});
  co_return checks;
}

Awaitable<std::string> AdminServer::Impl::redis_problem() {
  std::vector<std::string> ping{"PING"};
  const redis::Result result = co_await redis_->command(std::move(ping));
  if (result.error) co_return "no answer to PING: " + result.error.message();
  co_return std::string();
}

Awaitable<std::string> AdminServer::Impl::engine_problem() {
  TcpStream stream(io_.get_executor());
  stream.expires_after(engine_timeout_);
  beast::error_code error;
  co_await stream.async_connect(engine_, net::redirect_error(use_awaitable, error));
  if (!error) co_return std::string();
  const std::string where = engine_.empty() ? std::string("the engine") : address_text(engine_.front());
  co_return "no connection to " + where + ": " + error.message();
}

// The drain is SIGTERM's, sent to the process itself: one drain, whichever way it starts.
// Only the first: a second SIGTERM would end the requests in flight at once. The flag is
// set here too, so that /readyz turns at once.
void AdminServer::Impl::start_drain() {
  if (draining_.exchange(true)) return;
  ::kill(::getpid(), SIGTERM);
}

AdminServer::AdminServer(const core::Config& config, std::vector<tcp::endpoint> engine,
                         lease::LeaseStoreFactory& stores, const core::metrics::Registry& metrics,
                         std::function<void()> on_forced_release)
    : impl_(std::make_unique<Impl>(config, std::move(engine), stores, metrics, std::move(on_forced_release))) {}

AdminServer::~AdminServer() {
  stop();
  join();
}

void AdminServer::start() {
  if (thread_.joinable()) return;
  const auto endpoint = impl_->local_endpoint();
  spdlog::info("admin endpoint on {}; a bearer token is needed for {}", address_text(endpoint),
               endpoint.address().is_loopback() ? "state changes (POST, DELETE)" : "every request");
  thread_ = std::thread([this] { impl_->run(); });
}

void AdminServer::stop() { impl_->stop(); }

void AdminServer::join() {
  if (thread_.joinable()) thread_.join();
}

void AdminServer::set_tokens(std::vector<core::AdminToken> tokens) { impl_->set_tokens(std::move(tokens)); }

void AdminServer::set_draining() { impl_->set_draining(); }

tcp::endpoint AdminServer::local_endpoint() const { return impl_->local_endpoint(); }

}  // namespace baton::proxy
