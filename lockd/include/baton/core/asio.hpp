// The one way baton code includes Asio and Beast. Boost 1.74's asio/awaitable.hpp uses
// std::exchange without including <utility>, so it has to come first.
#pragma once
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace baton {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
}  // namespace baton
