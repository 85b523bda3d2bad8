// Helpers shared by the demos.

#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include <c10/util/Exception.h>

// The demos' error report: a c10::Error (a bad option, a plan that does not fit the world size, a
// peer that died) becomes one line on stderr and exit status 1, instead of an uncaught exception's
// abort and C++ backtrace. Every rank runs the same checks, so a configuration error stops them
// all; the launcher (dtensor-run, mpirun) ends the others when one rank fails alone.
inline int report_errors(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what_without_backtrace());
    return 1;
  }
}

// CommDebugMode counts per unit (step, token), abbreviated: "ag 18 ar 13 rs 18", or "none".
inline std::string short_counts(const std::map<std::string, int64_t>& counts, int64_t units) {
  static const std::map<std::string, std::string> abbrev{{"all_gather", "ag"}, {"reduce_scatter", "rs"},
                                                         {"all_reduce", "ar"}, {"all_to_all", "a2a"},
                                                         {"broadcast", "bc"}, {"scatter", "sc"}};
  std::string s;
  for (const auto& [name, count] : counts)
    s += (s.empty() ? "" : " ") + abbrev.at(name) + " " + std::to_string(count / std::max<int64_t>(units, 1));
  return s.empty() ? "none" : s;
}
