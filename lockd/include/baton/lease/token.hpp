// Lease tokens, shared by the stores.
#pragma once

#include <cstddef>
#include <string>

namespace baton::lease {

inline constexpr std::size_t lease_token_size = 32;

// A fresh token: 128 random bits as 32 lower-case hex characters.
//
// A token is a capability (baton-lockd hands it to clients, who renew and release with
// it), so it must not be guessable from tokens seen before: the bits come from the
// kernel's CSPRNG, read in batches into a per-thread buffer so that a token costs no
// system call and no lock.
std::string make_lease_token();

}  // namespace baton::lease
