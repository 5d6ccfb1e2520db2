# Compiler settings shared by every baton target.
function(baton_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wno-missing-field-initializers
    # g++ 12 misreads the sized operator delete of Asio coroutine frames.
    -Wno-mismatched-new-delete)
  if(BATON_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # One precompiled header for the whole project: Asio, Beast, spdlog and the standard
  # library are most of every translation unit's compile time.
  target_precompile_headers(${target} PRIVATE ${PROJECT_SOURCE_DIR}/cmake/pch.hpp)
  target_compile_definitions(${target} PRIVATE
    BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW
    BATON_VERSION="${PROJECT_VERSION}")
endfunction()
