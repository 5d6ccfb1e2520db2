// Carries out one decision of the API against a worker's lease store: the only place
// where the daemon calls the store. Counts each result and turns it into a reply.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/lease/lease_store.hpp"
#include "daemon_metrics.hpp"
#include "http_api.hpp"

#include <optional>

namespace baton::lockd {

struct Outcome {
  Reply reply;
  // A lease granted by this call. The caller learns its token only from the reply, so a
  // reply that cannot be delivered means the lease must be released at once.
  std::optional<lease::Lease> granted;
};

Awaitable<Outcome> carry_out(Decision decision, lease::LeaseStore& store, DaemonMetrics& metrics);

}  // namespace baton::lockd
