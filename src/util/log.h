// Rank-prefixed logging through c10. Only rank 0 logs unless DTENSOR_LOG_RANKS=all, so a world of
// many processes prints each message once.
#pragma once

#include <string>

#include <c10/util/Exception.h>
#include <c10/util/Logging.h>
#include <c10/util/StringUtil.h>

namespace dtensor::detail {
// "[rank 3] " once the world is known, "" before.
std::string rank_prefix();
// True on rank 0, or on every rank with DTENSOR_LOG_RANKS=all.
bool log_enabled_here();
}  // namespace dtensor::detail

#define DTENSOR_LOG_INFO(...)                                                         \
  do {                                                                                \
    if (::dtensor::detail::log_enabled_here())                                        \
      LOG(INFO) << ::dtensor::detail::rank_prefix() << ::c10::str(__VA_ARGS__);       \
  } while (0)

#define DTENSOR_WARN(...)                                                             \
  do {                                                                                \
    if (::dtensor::detail::log_enabled_here())                                        \
      TORCH_WARN(::dtensor::detail::rank_prefix(), __VA_ARGS__);                      \
  } while (0)
