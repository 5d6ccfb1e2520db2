#include "baton/proxy/request_record.hpp"

namespace baton::proxy {

std::string_view to_string(LeaseDecision decision) noexcept {
  switch (decision) {
    case LeaseDecision::none: return "none";
    case LeaseDecision::acquired: return "acquired";
    case LeaseDecision::waited: return "waited";
    case LeaseDecision::busy: return "busy";
    case LeaseDecision::too_many_waiters: return "too_many_waiters";
    case LeaseDecision::bypassed: return "bypassed";
    case LeaseDecision::fail_open: return "fail_open";
    case LeaseDecision::backend_down: return "backend_down";
  }
  return "none";
}

std::string_view to_string(LeaseEnding ending) noexcept {
  switch (ending) {
    case LeaseEnding::none: return "none";
    case LeaseEnding::done: return "done";
    case LeaseEnding::end: return "end";
    case LeaseEnding::client_gone: return "client_gone";
    case LeaseEnding::error: return "error";
    case LeaseEnding::lost: return "lost";
    case LeaseEnding::max_hold: return "max_hold";
  }
  return "none";
}

}  // namespace baton::proxy
