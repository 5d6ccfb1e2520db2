#include "baton/proxy/admin_page.hpp"

#include "baton/proxy/assets.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <regex>

namespace baton::proxy {
namespace {

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++count;
  return count;
}

}  // namespace

TEST_SUITE("admin page") {
  TEST_CASE("the policy names each inline script and style by its SHA-256, and allows nothing else") {
    // printf 'alert(1)' | openssl dgst -sha256 -binary | base64
    CHECK(content_security_policy("<p><script>alert(1)</script><style>p{}</style></p>") ==
          "default-src 'none'; script-src 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='; "
          "style-src 'sha256-gG2yISYereRMiG2lMXrbiUgi0Ubw9p7QCeWcroOvy9Y='; connect-src 'self'; img-src data:; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    CHECK(content_security_policy("<p>no script</p>").find("script-src 'none'") != std::string::npos);
  }

  TEST_CASE("the page is served with its policy and the headers that keep it from being misused") {
    AdminCall call;
    call.request_id = "req-1";
    const AdminResponse page = leases_page(call);
    CHECK(page.result() == http::status::ok);
    CHECK(page[http::field::content_type] == "text/html; charset=utf-8");
    CHECK(page[http::field::cache_control] == "no-store");
    CHECK(page["X-Content-Type-Options"] == "nosniff");
    CHECK(page[http::field::x_frame_options] == "DENY");
    CHECK(page["Referrer-Policy"] == "no-referrer");
    CHECK(page["X-Request-Id"] == "req-1");
    CHECK(page["Content-Security-Policy"] == content_security_policy(assets::leases_html));
    CHECK(page.body() == assets::leases_html);
  }

  TEST_CASE("the page fits its policy: one inline script and style, no handlers or style attributes, ASCII") {
    const std::string_view html = assets::leases_html;
    CHECK(occurrences(html, "<script>") == 1);
    CHECK(occurrences(html, "<style>") == 1);
    CHECK(occurrences(html, "<script ") == 0);  // a src= would load from elsewhere
    CHECK(occurrences(html, "<link rel=\"stylesheet\"") == 0);
    // A hash-based policy blocks inline event handlers and style attributes.
    const std::string text(html);
    CHECK_FALSE(std::regex_search(text, std::regex(R"(<[^>]*\son[a-z]+\s*=)", std::regex::icase)));
    CHECK_FALSE(std::regex_search(text, std::regex(R"(<[^>]*\sstyle\s*=)", std::regex::icase)));
    // Data reaches the DOM as text only.
    CHECK(occurrences(html, "innerHTML") == 0);
    CHECK(occurrences(html, "outerHTML") == 0);
    CHECK(occurrences(html, "insertAdjacentHTML") == 0);
    CHECK(occurrences(html, "document.write") == 0);
    // Hashes are of bytes: an ASCII page hashes the same however it is decoded.
    CHECK(std::all_of(html.begin(), html.end(), [](char c) { return c == '\n' || (c >= ' ' && c < 0x7f); }));
    // Nothing from another origin.
    CHECK(occurrences(html, "http://") == 0);
    CHECK(occurrences(html, "https://") == 0);
  }
}

}  // namespace baton::proxy
