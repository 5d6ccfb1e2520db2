# Writes a C++ source defining baton::lease::scripts::<name> for each lockd/scripts/<name>.lua,
# and re-runs the configure step when a script changes.
function(baton_embed_scripts output)
  set(definitions "")
  foreach(name IN LISTS ARGN)
    set(path ${CMAKE_CURRENT_SOURCE_DIR}/scripts/${name}.lua)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${path})
    file(READ ${path} source)
    string(APPEND definitions "const std::string_view ${name} = R\"baton_lua(${source})baton_lua\";\n")
  endforeach()
  file(CONFIGURE OUTPUT ${output} CONTENT
"// Generated from lockd/scripts/*.lua by cmake/EmbedScripts.cmake. Do not edit.
#include \"baton/lease/scripts.hpp\"

namespace baton::lease::scripts {
@definitions@
}  // namespace baton::lease::scripts
" @ONLY)
endfunction()
