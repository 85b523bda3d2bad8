// The demos' error report: a c10::Error (a bad option, a plan that does not fit the world size, a
// peer that died) becomes one line on stderr and exit status 1, instead of an uncaught exception's
// abort and C++ backtrace. Every rank runs the same checks, so a configuration error stops them
// all; the launcher (dtensor-run, mpirun) ends the others when one rank fails alone.
#pragma once

#include <cstdio>
#include <functional>

#include <c10/util/Exception.h>

inline int report_errors(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what_without_backtrace());
    return 1;
  }
}
