// The Lua scripts of lockd/scripts/, embedded at build time: each lease transition is
// one script, one round trip.
#pragma once

#include <string_view>

namespace baton::lease::scripts {

extern const std::string_view acquire;
extern const std::string_view release;
extern const std::string_view renew;
extern const std::string_view leave;
extern const std::string_view inspect;
extern const std::string_view force_release;
extern const std::string_view list;

}  // namespace baton::lease::scripts
