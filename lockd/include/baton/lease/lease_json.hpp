// Leases as JSON: the one rendering that baton-lockd's API and baton-proxy's admin
// endpoint share, so that operators read the same fields from both. Pure.
#pragma once

#include "baton/lease/lease_store.hpp"

#include <string>
#include <string_view>

namespace baton::lease {

// {"<id_name>", "instance", "request_id" (null when unknown), "route", "fence", "age_ms",
// "remaining_ms", "waiters"}. `id_name` names the session field: baton-lockd's callers
// know it as "key", baton-proxy's operators as "session".
std::string lease_info_json(const LeaseInfo& info, std::string_view id_name);

// {"leases": [lease_info_json, ...], "next_cursor": the cursor, or null at the end}.
std::string lease_page_json(const LeasePage& page, std::string_view id_name);

}  // namespace baton::lease
