#include "baton/redis/error.hpp"

#include <string>

namespace baton::redis {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "redis"; }

  std::string message(int value) const override {
    switch (static_cast<Error>(value)) {
      case Error::unreachable: return "Redis unreachable";
      case Error::timeout: return "Redis command timed out";
      case Error::script: return "Redis script error";
      case Error::protocol: return "Redis protocol error";
      case Error::auth: return "Redis refused the credentials or database";
      case Error::server: return "Redis error reply";
    }
    return "unknown Redis error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace baton::redis
