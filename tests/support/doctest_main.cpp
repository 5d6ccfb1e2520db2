#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  // spdlog creates its registry on first use. Created here, before any test starts a
  // thread, so that ThreadSanitizer does not take two threads' first log lines for a race
  // (it cannot see the guard of a static inside the uninstrumented libspdlog).
  spdlog::default_logger_raw();
  return doctest::Context(argc, argv).run();
}
