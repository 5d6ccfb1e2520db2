#include "connector.hpp"

#include <spdlog/spdlog.h>

#include <random>

namespace baton::redis {
namespace {

std::shared_ptr<net::ssl::context> make_tls_context(const ClientOptions& options) {
  auto context = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  if (!options.tls_ca_file.empty())
    context->load_verify_file(options.tls_ca_file);
  else
    context->set_default_verify_paths();
  if (!options.tls_cert_file.empty()) {
    context->use_certificate_chain_file(options.tls_cert_file);
    context->use_private_key_file(options.tls_key_file.empty() ? options.tls_cert_file : options.tls_key_file,
                                  net::ssl::context::pem);
  }
  return context;
}

}  // namespace

Connector::Connector(Executor executor, const ClientOptions& options, std::string role)
    : executor_(executor),
      options_(options),
      role_(std::move(role)),
      tls_(options.url.tls ? make_tls_context(options) : nullptr),
      backoff_(options.backoff_min, options.backoff_max, std::random_device{}()),
      sleep_(executor),
      first_attempt_ended_(executor) {
  first_attempt_ended_.expires_after(options_.connect_timeout);
}

Awaitable<void> Connector::first_attempt() {
  if (attempted_) co_return;
  beast::error_code ignored;
  co_await first_attempt_ended_.async_wait(net::redirect_error(use_awaitable, ignored));
}

Awaitable<std::shared_ptr<Link>> Connector::connect() {
  for (;;) {
    if (!first_attempt_) {
      sleep_.expires_after(backoff_.next());
      beast::error_code ignored;
      co_await sleep_.async_wait(net::redirect_error(use_awaitable, ignored));
    }
    first_attempt_ = false;
    if (stopped_) co_return nullptr;

    attempt_ = std::make_shared<Link>(executor_, options_, tls_);
    const auto link = attempt_;
    const auto error = co_await link->open();
    attempt_.reset();
    attempted_ = true;
    first_attempt_ended_.cancel();
    if (stopped_) {
      link->close();
      co_return nullptr;
    }
    if (!error) {
      spdlog::info("redis {} connection to {} is up{}", role_, link->address(),
                   failed_attempts_ > 0 ? fmt::format(" after {} failed attempts", failed_attempts_) : "");
      backoff_.reset();
      last_error_ = {};
      last_logged_.clear();
      failed_attempts_ = 0;
      co_return link;
    }
    report_failure(*link, error);
  }
}

void Connector::report_failure(const Link& link, std::error_code error) {
  last_error_ = error;
  ++failed_attempts_;
  if (link.failure() == last_logged_) {
    spdlog::debug("redis {} connection to {} failed again: {}", role_, link.address(), link.failure());
    return;
  }
  last_logged_ = link.failure();
  const auto level = error == Error::auth ? spdlog::level::err : spdlog::level::warn;
  spdlog::log(level, "redis {} connection to {} failed, retrying with backoff: {}", role_,
              link.address(), link.failure());
}

void Connector::lost(const Link& link) {
  if (stopped_) return;
  spdlog::warn("redis {} connection to {} lost, reconnecting: {}", role_, link.address(), link.failure());
}

void Connector::stop() {
  stopped_ = true;
  sleep_.cancel();
  if (attempt_) attempt_->close();
}

std::error_code Connector::unavailable() const {
  return last_error_ == Error::auth ? last_error_ : std::error_code(Error::unreachable);
}

void spawn_loop(Executor executor, Awaitable<void> loop, std::string what) {
  net::co_spawn(executor, std::move(loop), [what = std::move(what)](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      spdlog::critical("{} ended by an exception: {}", what, error.what());
    }
  });
}

}  // namespace baton::redis
