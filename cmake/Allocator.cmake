# The malloc of baton-proxy and baton-lockd (BATON_MALLOC): jemalloc by default, as
# Redis does. glibc's malloc serves blocks over 1 KiB from its slow, locked path, and
# most coroutine frames of a leased request are that large (Asio 1.74 recycles one frame
# per thread); jemalloc keeps them in per-thread caches. docs/BENCHMARKS.md has the
# figures. Sanitizer and fuzz builds keep the system malloc, which their run-times
# replace.
set(BATON_MALLOC "jemalloc" CACHE STRING "malloc of baton-proxy and baton-lockd: jemalloc or system")
set_property(CACHE BATON_MALLOC PROPERTY STRINGS jemalloc system)

if(NOT BATON_MALLOC MATCHES "^(jemalloc|system)$")
  message(FATAL_ERROR "BATON_MALLOC: '${BATON_MALLOC}' is neither jemalloc nor system")
endif()
if(BATON_SANITIZE OR BATON_FUZZ)
  set(baton_malloc system)
else()
  set(baton_malloc ${BATON_MALLOC})
endif()

if(baton_malloc STREQUAL "jemalloc")
  find_library(BATON_JEMALLOC_LIBRARY jemalloc)
  if(NOT BATON_JEMALLOC_LIBRARY)
    message(FATAL_ERROR "BATON_MALLOC=jemalloc: libjemalloc not found. Install Debian's "
                        "libjemalloc-dev (deploy/install-deps.sh does), or configure with "
                        "-DBATON_MALLOC=system")
  endif()
endif()

# Links a program to the chosen malloc. Only programs: a library that brought its own
# malloc would impose it on whoever links it.
function(baton_program_malloc target)
  if(baton_malloc STREQUAL "jemalloc")
    target_link_libraries(${target} PRIVATE ${BATON_JEMALLOC_LIBRARY})
  endif()
endfunction()
