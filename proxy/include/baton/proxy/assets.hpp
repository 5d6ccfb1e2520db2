// Files of proxy/assets/, embedded at build time (cmake/EmbedScripts.cmake): the admin
// listener serves them from memory, with no file to install and none to read at run time.
#pragma once

#include <string_view>

namespace baton::proxy::assets {

extern const std::string_view leases_html;  // the live lease page (admin_page.hpp)

}  // namespace baton::proxy::assets
