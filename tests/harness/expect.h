// Assertions on typed errors with a stable message fragment.
#pragma once

#include <string>

#include <gtest/gtest.h>

// Expects `stmt` to throw exactly an `error_type` (or subclass) whose message contains `fragment`.
#define EXPECT_THROW_MSG(stmt, error_type, fragment)                                        \
  do {                                                                                      \
    bool dtensor_caught_ = false;                                                           \
    try {                                                                                   \
      stmt;                                                                                 \
    } catch (const error_type& e) {                                                         \
      dtensor_caught_ = true;                                                               \
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)                    \
          << "message of " #error_type " lacks \"" << (fragment) << "\":\n" << e.what();    \
    } catch (const std::exception& e) {                                                     \
      ADD_FAILURE() << #stmt " threw another type than " #error_type ": " << e.what();     \
      dtensor_caught_ = true;                                                               \
    }                                                                                       \
    if (!dtensor_caught_) ADD_FAILURE() << #stmt " did not throw " #error_type;             \
  } while (0)
