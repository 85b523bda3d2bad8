// gtest run SPMD under mpirun (the MPI test binaries): rank 0 prints the usual report; the other
// ranks print only their failures, tagged with the rank, so a failure anywhere is visible without
// one interleaved copy of the report per rank.
#pragma once

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

namespace dtensor::testing {

class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  // Noted here because gtest holds its lock during OnTestPartResult: calling
  // current_test_info() there deadlocks.
  void OnTestStart(const ::testing::TestInfo& test) override {
    test_ = std::string(test.test_suite_name()) + "." + test.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s failed at %s:%d\n%s\n", rank_, test_.c_str(),
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.message());
  }

 private:
  int rank_;
  std::string test_;
};

// On ranks other than 0, replaces gtest's report with a FailurePrinter.
inline void report_only_failures_off_rank_zero(int rank) {
  if (rank == 0) return;
  ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());
  listeners.Append(new FailurePrinter(rank));
}

}  // namespace dtensor::testing
