# Sanitizers (BATON_SANITIZE), for every target of the build, in a build directory of
# its own (docs/testing.md):
#   cmake -S . -B build-asan -G Ninja -DBATON_SANITIZE=address,undefined   # tests/run.sh does this
#   cmake -S . -B build-tsan -G Ninja -DBATON_SANITIZE=thread
# The flags go to every compile (the precompiled header included, so it stays usable)
# and every link. A UBSan report ends the process, like an ASan one, so that a test fails
# on it. The run-time options (leak checks, log files, suppressions) are tests/run.sh's.

if(NOT BATON_SANITIZE)
  return()
endif()

string(REPLACE "," ";" baton_sanitizers "${BATON_SANITIZE}")
foreach(sanitizer IN LISTS baton_sanitizers)
  if(NOT sanitizer MATCHES "^(address|undefined|thread)$")
    message(FATAL_ERROR "BATON_SANITIZE: unknown sanitizer '${sanitizer}' "
                        "(address,undefined or thread)")
  endif()
endforeach()
if("thread" IN_LIST baton_sanitizers AND "address" IN_LIST baton_sanitizers)
  message(FATAL_ERROR "BATON_SANITIZE: thread and address exclude each other; "
                      "one build directory each")
endif()
if(BATON_FUZZ)
  message(FATAL_ERROR "BATON_FUZZ brings its own sanitizers (cmake/Fuzz.cmake); "
                      "leave BATON_SANITIZE empty there")
endif()

set(baton_sanitizer_flags -fsanitize=${BATON_SANITIZE} -fno-omit-frame-pointer)
if("undefined" IN_LIST baton_sanitizers)
  # All of UBSan is fatal but signed overflow, which stays fatal only at run time
  # (UBSAN_OPTIONS=halt_on_error=1, as tests/run.sh sets it): only a recoverable check can
  # be suppressed, and cmake/ubsan-suppressions.txt names libstdc++'s regex compiler,
  # whose overflow on a huge {n} bound g++ has no -fsanitize-ignorelist to skip.
  list(APPEND baton_sanitizer_flags -fno-sanitize-recover=undefined
       -fsanitize-recover=signed-integer-overflow)
endif()
# GCC's manual: "sanitizers tend to increase the rate of false positive warnings, most
# notably those around -Wmaybe-uninitialized" (g++ 12 flags libstdc++'s <regex> here),
# and BATON_WERROR would turn them into errors.
list(APPEND baton_sanitizer_warnings -Wno-maybe-uninitialized)
if("thread" IN_LIST baton_sanitizers)
  # g++ 12 warns that TSan does not model std::atomic_thread_fence, which Asio's handler
  # invocation uses (std_fenced_block). Its scheduler also locks a mutex, which TSan sees.
  list(APPEND baton_sanitizer_warnings -Wno-tsan)
endif()
add_compile_options(${baton_sanitizer_flags} ${baton_sanitizer_warnings})
add_link_options(${baton_sanitizer_flags})
message(STATUS "baton: sanitizers ${BATON_SANITIZE}")
