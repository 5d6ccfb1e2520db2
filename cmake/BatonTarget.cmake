# Compiler settings shared by every baton target.

# ccache refuses every compile that uses the precompiled header below ("Could not use
# precompiled header") unless told that the header's macros and __TIME__ need not be
# hashed and that a header newer than the compile is fine (Ninja builds it first).
# BASEDIR: paths under the source tree are hashed relative to it.
if(CMAKE_CXX_COMPILER_LAUNCHER MATCHES "ccache")
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
    CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
    CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} ${CMAKE_CXX_COMPILER_LAUNCHER})
endif()

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
