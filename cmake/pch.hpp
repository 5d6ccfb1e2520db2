// Precompiled header shared by all targets. <utility> must come before Asio: Boost
// 1.74's asio/awaitable.hpp uses std::exchange without including it.
#pragma once
#include <utility>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>
