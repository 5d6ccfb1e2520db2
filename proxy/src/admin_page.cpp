#include "baton/proxy/admin_page.hpp"

#include "baton/proxy/assets.hpp"

#include <openssl/evp.h>

#include <array>

namespace baton::proxy {
namespace {

// 'sha256-<base64>' of one inline element's text, as CSP Level 2 names it.
std::string hash_source(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &digest_size, EVP_sha256(), nullptr);
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> base64{};
  const int size = EVP_EncodeBlock(base64.data(), digest.data(), static_cast<int>(digest_size));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(base64.data()), static_cast<std::size_t>(size)) + "'";
}

// The hashes of the text of every <tag>...</tag> in `html` (written without attributes).
std::string element_hashes(std::string_view html, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  std::string sources;
  for (auto at = html.find(open); at != std::string_view::npos; at = html.find(open, at)) {
    const auto begin = at + open.size();
    const auto end = html.find(close, begin);
    if (end == std::string_view::npos) break;
    sources.append(sources.empty() ? "" : " ").append(hash_source(html.substr(begin, end - begin)));
    at = end + close.size();
  }
  return sources.empty() ? std::string("'none'") : sources;
}

}  // namespace

std::string content_security_policy(std::string_view html) {
  return "default-src 'none'; script-src " + element_hashes(html, "script") + "; style-src " +
         element_hashes(html, "style") +
         "; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

AdminResponse leases_page(const AdminCall& call) {
  static const std::string policy = content_security_policy(assets::leases_html);
  AdminResponse response{http::status::ok, 11};
  response.set(http::field::content_type, "text/html; charset=utf-8");
  response.set(http::field::cache_control, "no-store");
  response.set("Content-Security-Policy", policy);
  response.set("X-Content-Type-Options", "nosniff");
  response.set(http::field::x_frame_options, "DENY");
  response.set("Referrer-Policy", "no-referrer");
  response.set("X-Request-Id", call.request_id);
  response.body() = std::string(assets::leases_html);
  response.prepare_payload();
  return response;
}

}  // namespace baton::proxy
