// GET /leases with Accept: text/html: the live page of leases, one self-contained
// document (proxy/assets/leases.html) with its script and style inline, no other asset and
// nothing from another origin. Its script reads the lease stream (lease_stream.hpp) and
// sends force releases (DELETE /leases/{sid}) with the token the operator types.
#pragma once

#include "baton/proxy/admin_api.hpp"

#include <string>
#include <string_view>

namespace baton::proxy {

// The page, with Content-Security-Policy (content_security_policy), Cache-Control:
// no-store, X-Content-Type-Options: nosniff, X-Frame-Options: DENY (no clickjacking of
// its buttons) and Referrer-Policy: no-referrer.
AdminResponse leases_page(const AdminCall& call);

// A policy that lets `html` run its own inline <script> and <style> elements, named by
// their SHA-256 (so that injected markup could run nothing), fetch from its own origin,
// show a data: favicon, and nothing else; no framing, no forms, no <base>.
std::string content_security_policy(std::string_view html);

}  // namespace baton::proxy
