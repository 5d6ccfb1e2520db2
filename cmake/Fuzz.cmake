# Fuzzing (tests/fuzz): libFuzzer binaries with BATON_FUZZ, corpus replays always.
#
# BATON_FUZZ needs clang and a build directory of its own:
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DBATON_FUZZ=ON
# Every target of that build is compiled with AddressSanitizer and UBSan (any report is
# fatal) and with libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link), so
# that the fuzzers are guided by coverage of baton's libraries, not of the harness only;
# the fuzzers alone link libFuzzer (-fsanitize=fuzzer).

if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # Boost 1.74's Asio enables co_await for clang only when <experimental/coroutine>
  # exists, which libstdc++ does not ship; clang 14 has C++20 coroutines and libstdc++'s
  # <coroutine>, which Asio's std-coroutine detection already picks up.
  add_compile_definitions(BOOST_ASIO_HAS_CO_AWAIT=1)
endif()

if(BATON_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "BATON_FUZZ needs clang for libFuzzer, in a build directory of its own:\n"
                        "  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DBATON_FUZZ=ON")
  endif()
  # Without UBSan's "function" check: with it, clang 14 fails on coroutines ("Cannot
  # represent a difference across sections").
  set(baton_sanitizers -fsanitize=address,undefined -fno-sanitize=function -fno-sanitize-recover=all
                       -fno-omit-frame-pointer)
  # -UNDEBUG: Boost's asserts (Beast's parser checks its own state) stay on in every
  # build type. The ignorelist names third-party code whose known reports would stop
  # every run; it goes by its older flag, -fsanitize-blacklist, the one ccache 4.7 knows,
  # so that ccache hashes its content and a changed list recompiles.
  add_compile_options(${baton_sanitizers} -fsanitize=fuzzer-no-link -UNDEBUG
                      -fsanitize-blacklist=${PROJECT_SOURCE_DIR}/tests/fuzz/sanitizer-ignorelist.txt)
  add_link_options(${baton_sanitizers})
  add_custom_target(baton-fuzzers)
endif()

# The targets of one kind compile with the same flags: the first one builds the
# precompiled header, the others reuse it (five copies of it cost minutes on two cores).
function(baton_fuzz_share_pch target owner_property)
  get_property(owner GLOBAL PROPERTY ${owner_property})
  if(owner)
    set_property(TARGET ${target} PROPERTY PRECOMPILE_HEADERS)  # no value: unset
    target_precompile_headers(${target} REUSE_FROM ${owner})
  else()
    set_property(GLOBAL PROPERTY ${owner_property} ${target})
  endif()
endfunction()

# baton_fuzz_target(<name> LIBRARIES <library>...) for tests/fuzz/<name>_fuzz.cpp, which
# defines LLVMFuzzerTestOneInput:
# - baton-fuzz-replay-<name>: the target with replay_main.cpp, and the ctest
#   "fuzz corpus: <name>" (label unit) that feeds it every file of corpus/<name>;
# - with BATON_FUZZ, baton-fuzz-<name>: the libFuzzer binary (part of baton-fuzzers).
function(baton_fuzz_target name)
  cmake_parse_arguments(PARSE_ARGV 1 FUZZ "" "" "LIBRARIES")
  set(source ${CMAKE_CURRENT_SOURCE_DIR}/${name}_fuzz.cpp)
  set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/corpus/${name})

  add_executable(baton-fuzz-replay-${name} ${source} ${CMAKE_CURRENT_SOURCE_DIR}/replay_main.cpp)
  target_link_libraries(baton-fuzz-replay-${name} PRIVATE ${FUZZ_LIBRARIES})
  target_include_directories(baton-fuzz-replay-${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  baton_target_defaults(baton-fuzz-replay-${name})
  baton_fuzz_share_pch(baton-fuzz-replay-${name} BATON_FUZZ_REPLAY_PCH)
  add_test(NAME "fuzz corpus: ${name}" COMMAND baton-fuzz-replay-${name} ${corpus})
  set_tests_properties("fuzz corpus: ${name}" PROPERTIES LABELS unit TIMEOUT 120)

  if(BATON_FUZZ)
    add_executable(baton-fuzz-${name} ${source})
    target_link_libraries(baton-fuzz-${name} PRIVATE ${FUZZ_LIBRARIES})
    target_include_directories(baton-fuzz-${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    baton_target_defaults(baton-fuzz-${name})
    baton_fuzz_share_pch(baton-fuzz-${name} BATON_FUZZ_FUZZER_PCH)
    target_compile_options(baton-fuzz-${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(baton-fuzz-${name} PRIVATE -fsanitize=fuzzer)
    add_dependencies(baton-fuzzers baton-fuzz-${name})
  endif()
endfunction()
