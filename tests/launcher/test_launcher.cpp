// Tests of the dtensor-run launcher (tools/dtensor_run.cpp), black box: each test spawns the built
// launcher with small /bin/sh programs and checks its output, exit code and timing, and that no
// process outlives it.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Outcome of one launcher run.
struct Result {
  int exit_code = -1;  // -1 if the launcher died from a signal
  int signal = 0;
  std::string out;
  std::string err;
  double seconds = 0;

  std::vector<std::string> out_lines() const { return split_lines(out); }
  std::vector<std::string> err_lines() const { return split_lines(err); }

  static std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
    return lines;
  }
};

// Environment changes for the launcher: a value sets the variable, nullopt removes it.
using EnvChanges = std::map<std::string, std::optional<std::string>>;

std::vector<std::string> launcher_environment(const EnvChanges& changes) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string variable(*entry);
    if (changes.count(variable.substr(0, variable.find('='))) == 0) env.push_back(variable);
  }
  for (const auto& [key, value] : changes) {
    if (value) env.push_back(key + "=" + *value);
  }
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

// A running dtensor-run with captured stdout/stderr. wait() returns its Result; a launcher that
// hangs is SIGKILLed after `timeout` so a broken launcher cannot stall the suite.
class Launch {
 public:
  explicit Launch(std::vector<std::string> args, const EnvChanges& env = {}) {
    args.insert(args.begin(), DTENSOR_RUN_PATH);
    std::vector<std::string> env_strings = launcher_environment(env);
    std::vector<char*> argv = c_strings(args);
    std::vector<char*> envp = c_strings(env_strings);
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) std::abort();
    start_ = Clock::now();
    pid_ = ::fork();
    if (pid_ == 0) {
      // The launcher keeps ignoring signals ignored on entry, which they are when the test runs
      // as a background job; the signal tests need the interactive defaults.
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(126);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;
  ~Launch() {
    if (!waited_) wait();
  }

  pid_t pid() const { return pid_; }

  Result wait(std::chrono::seconds timeout = 30s) {
    Result result;
    const auto deadline = start_ + timeout;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      if (Clock::now() >= deadline) ::kill(pid_, SIGKILL);
      pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
      ::poll(fds, 2, 100);
      read_some(fds[0], out_fd_, result.out);
      read_some(fds[1], err_fd_, result.err);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    waited_ = true;
    result.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    return result;
  }

 private:
  static void read_some(const pollfd& pfd, int& fd, std::string& sink) {
    if (fd < 0 || pfd.revents == 0) return;
    char buffer[65536];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      sink.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      ::close(fd);
      fd = -1;
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool waited_ = false;
  Clock::time_point start_;
};

Result run(std::vector<std::string> args, const EnvChanges& env = {}) {
  return Launch(std::move(args), env).wait();
}

// A launcher command line running `script` with /bin/sh in every rank.
std::vector<std::string> sh(std::vector<std::string> options, const std::string& script) {
  options.insert(options.end(), {"/bin/sh", "-c", script});
  return options;
}

// True once `pid` no longer exists. A zombie counts as gone: orphaned grandchildren are reaped by
// PID 1, which may take a moment, but a zombie no longer runs.
bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || line.compare(paren, 3, ") Z") == 0;
}

bool eventually_gone(pid_t pid, std::chrono::milliseconds timeout = 3000ms) {
  const auto deadline = Clock::now() + timeout;
  while (!gone(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// "[rank R]: KEY=VALUE KEY=VALUE ..." lines, as printed by kEnvScript, keyed by R.
std::map<int, std::map<std::string, std::string>> parse_env_lines(
    const std::vector<std::string>& lines) {
  std::map<int, std::map<std::string, std::string>> by_rank;
  for (const std::string& line : lines) {
    int rank = -1;
    char rest[4096] = {};
    if (std::sscanf(line.c_str(), "[rank %d]: %4095[^\n]", &rank, rest) != 2) {
      ADD_FAILURE() << "unexpected line: " << line;
      continue;
    }
    std::istringstream pairs(rest);
    for (std::string pair; pairs >> pair;) {
      const auto eq = pair.find('=');
      by_rank[rank][pair.substr(0, eq)] = pair.substr(eq + 1);
    }
  }
  return by_rank;
}

const char* const kEnvScript =
    "echo RANK=$RANK LOCAL_RANK=$LOCAL_RANK WORLD_SIZE=$WORLD_SIZE"
    " LOCAL_WORLD_SIZE=$LOCAL_WORLD_SIZE GROUP_RANK=$GROUP_RANK ROLE_RANK=$ROLE_RANK"
    " ROLE_WORLD_SIZE=$ROLE_WORLD_SIZE MASTER_ADDR=$MASTER_ADDR MASTER_PORT=$MASTER_PORT"
    " OMP_NUM_THREADS=$OMP_NUM_THREADS AGENT_STORE=${TORCHELASTIC_USE_AGENT_STORE-unset}";

int usable_cores() {
  cpu_set_t set;
  return ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

// Provides a scratch directory for marker and PID files written by the ranks.
class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "dtensor-run-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Shell snippet: atomically writes "$$ $!" (the rank's shell and its last background job) to
  // <dir>/pid.$RANK, so a reader never sees a half-written file.
  std::string record_pids() const {
    return "echo $$ $! > " + dir_.string() + "/tmp.$RANK && mv " + dir_.string() + "/tmp.$RANK " +
           dir_.string() + "/pid.$RANK";
  }

  // Shell snippet: waits until the given ranks have recorded their PIDs.
  std::string await_pids(const std::vector<int>& ranks) const {
    std::string condition;
    for (int rank : ranks) {
      if (!condition.empty()) condition += " || ";
      condition += "[ ! -e " + dir_.string() + "/pid." + std::to_string(rank) + " ]";
    }
    return "while " + condition + "; do sleep 0.02; done";
  }

  // Polls (from the test) until `count` ranks have recorded their PIDs.
  bool await_pid_files(int count, std::chrono::milliseconds timeout = 10000ms) const {
    const auto deadline = Clock::now() + timeout;
    for (int rank = 0; rank < count; ++rank) {
      while (!fs::exists(dir_ / ("pid." + std::to_string(rank)))) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
      }
    }
    return true;
  }

  std::vector<pid_t> recorded_pids(int rank) const {
    std::ifstream file(dir_ / ("pid." + std::to_string(rank)));
    std::vector<pid_t> pids;
    for (pid_t pid; file >> pid;) pids.push_back(pid);
    return pids;
  }

  void expect_all_gone(const std::vector<int>& ranks) const {
    for (int rank : ranks) {
      const std::vector<pid_t> pids = recorded_pids(rank);
      EXPECT_FALSE(pids.empty()) << "rank " << rank << " recorded no PID";
      for (pid_t pid : pids)
        EXPECT_TRUE(eventually_gone(pid)) << "rank " << rank << " left pid " << pid;
    }
  }

  fs::path dir_;
};

// ---- environment contract -----------------------------------------------------------------------

TEST_F(LauncherTest, SingleNodeEnvironment) {
  const Result r =
      run(sh({"--nproc-per-node", "3"}, kEnvScript), {{"TORCHELASTIC_USE_AGENT_STORE", "True"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto env = parse_env_lines(r.out_lines());
  ASSERT_EQ(env.size(), 3u) << r.out;
  const std::string port = env.at(0).at("MASTER_PORT");
  ASSERT_FALSE(port.empty());
  EXPECT_GT(std::stoi(port), 0);
  EXPECT_LT(std::stoi(port), 65536);
  for (int rank = 0; rank < 3; ++rank) {
    const auto& vars = env.at(rank);
    EXPECT_EQ(vars.at("RANK"), std::to_string(rank));
    EXPECT_EQ(vars.at("LOCAL_RANK"), std::to_string(rank));
    EXPECT_EQ(vars.at("WORLD_SIZE"), "3");
    EXPECT_EQ(vars.at("LOCAL_WORLD_SIZE"), "3");
    EXPECT_EQ(vars.at("GROUP_RANK"), "0");
    EXPECT_EQ(vars.at("ROLE_RANK"), std::to_string(rank));
    EXPECT_EQ(vars.at("ROLE_WORLD_SIZE"), "3");
    EXPECT_EQ(vars.at("MASTER_ADDR"), "127.0.0.1");
    EXPECT_EQ(vars.at("MASTER_PORT"), port) << "all ranks must agree on the store's port";
    // Rank 0 of the program hosts the store; an agent store would not exist.
    EXPECT_EQ(vars.at("AGENT_STORE"), "unset");
  }
}

TEST_F(LauncherTest, ExplicitMasterPortIsUsed) {
  const Result r = run(sh({"--nproc-per-node", "2", "--master-port", "29123"}, kEnvScript));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto env = parse_env_lines(r.out_lines());
  ASSERT_EQ(env.size(), 2u) << r.out;
  for (const auto& [rank, vars] : env) EXPECT_EQ(vars.at("MASTER_PORT"), "29123");
}

TEST_F(LauncherTest, SecondNodeGetsUpperRanks) {
  const Result r = run(sh({"--nnodes", "2", "--node-rank", "1", "--master-addr", "10.1.2.3",
                           "--master-port", "29555", "--nproc-per-node", "3"},
                          kEnvScript));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto env = parse_env_lines(r.out_lines());
  ASSERT_EQ(env.size(), 3u) << r.out;
  for (int local_rank = 0; local_rank < 3; ++local_rank) {
    const int rank = 3 + local_rank;
    ASSERT_EQ(env.count(rank), 1u) << "missing rank " << rank << " in\n" << r.out;
    const auto& vars = env.at(rank);
    EXPECT_EQ(vars.at("RANK"), std::to_string(rank));
    EXPECT_EQ(vars.at("LOCAL_RANK"), std::to_string(local_rank));
    EXPECT_EQ(vars.at("WORLD_SIZE"), "6");
    EXPECT_EQ(vars.at("LOCAL_WORLD_SIZE"), "3");
    EXPECT_EQ(vars.at("GROUP_RANK"), "1");
    EXPECT_EQ(vars.at("ROLE_RANK"), std::to_string(rank));
    EXPECT_EQ(vars.at("ROLE_WORLD_SIZE"), "6");
    EXPECT_EQ(vars.at("MASTER_ADDR"), "10.1.2.3");
    EXPECT_EQ(vars.at("MASTER_PORT"), "29555");
  }
}

TEST_F(LauncherTest, OmpNumThreadsDefaultsToCoresPerRank) {
  for (int ranks : {1, 3}) {
    const Result r = run(sh({"--nproc-per-node", std::to_string(ranks)}, kEnvScript),
                         {{"OMP_NUM_THREADS", std::nullopt}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string expected = std::to_string(std::max(1, usable_cores() / ranks));
    for (const auto& [rank, vars] : parse_env_lines(r.out_lines())) {
      EXPECT_EQ(vars.at("OMP_NUM_THREADS"), expected) << "rank " << rank << " of " << ranks;
    }
  }
}

TEST_F(LauncherTest, OmpNumThreadsKeptWhenSet) {
  const Result r = run(sh({"--nproc-per-node", "2"}, kEnvScript), {{"OMP_NUM_THREADS", "7"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto env = parse_env_lines(r.out_lines());
  ASSERT_EQ(env.size(), 2u);
  for (const auto& [rank, vars] : env) EXPECT_EQ(vars.at("OMP_NUM_THREADS"), "7");
}

TEST_F(LauncherTest, ArgumentsAfterProgramPassThrough) {
  const std::string script = "printf '%s|' \"$@\"; echo";
  for (bool separator : {false, true}) {
    std::vector<std::string> args = {"--nproc-per-node", "1"};
    if (separator) args.push_back("--");
    args.insert(args.end(), {"sh", "-c", script, "sh", "--foo", "-h", "--", "--nproc-per-node"});
    const Result r = run(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "[rank 0]: --foo|-h|--|--nproc-per-node|\n") << "separator=" << separator;
  }
}

// ---- output -------------------------------------------------------------------------------------

TEST_F(LauncherTest, OutputLinesArePrefixedPerStream) {
  const Result r = run(
      sh({"--nproc-per-node", "2"}, "echo out-$RANK; echo err-$RANK >&2; printf partial-$RANK"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int rank = 0; rank < 2; ++rank) {
    const std::string prefix = "[rank " + std::to_string(rank) + "]: ";
    const auto out = r.out_lines();
    const auto err = r.err_lines();
    const auto out_line = std::find(out.begin(), out.end(), prefix + "out-" + std::to_string(rank));
    const auto partial =
        std::find(out.begin(), out.end(), prefix + "partial-" + std::to_string(rank));
    EXPECT_NE(out_line, out.end()) << r.out;
    EXPECT_NE(partial, out.end()) << "a final line without newline must still be printed\n"
                                  << r.out;
    EXPECT_LT(out_line, partial);
    EXPECT_NE(std::find(err.begin(), err.end(), prefix + "err-" + std::to_string(rank)), err.end())
        << r.err;
  }
  EXPECT_EQ(r.out_lines().size(), 4u) << r.out;
  EXPECT_EQ(r.out.find("err-"), std::string::npos) << "stderr leaked into stdout";
  EXPECT_EQ(r.err.find("out-"), std::string::npos) << "stdout leaked into stderr";
  EXPECT_EQ(r.out.back(), '\n');
}

TEST_F(LauncherTest, NoPrefixPrintsLinesVerbatim) {
  const Result r = run(sh({"--nproc-per-node", "1", "--no-prefix"},
                          "echo out-line; echo err-line >&2; printf tail"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "out-line\ntail\n");
  EXPECT_EQ(r.err, "err-line\n");
}

// Lines longer than a pipe's atomic write size, from several ranks at once, arrive whole.
TEST_F(LauncherTest, LongLinesFromConcurrentRanksDoNotInterleave) {
  constexpr int kRanks = 3;
  constexpr int kLines = 40;
  constexpr int kLength = 6000;
  const std::string script = "s=$(printf '%0" + std::to_string(kLength) +
                             "d' 0 | tr 0 $RANK); i=0; while [ $i -lt " + std::to_string(kLines) +
                             " ]; do echo $s; i=$((i+1)); done";
  const Result r = run(sh({"--nproc-per-node", std::to_string(kRanks)}, script));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = r.out_lines();
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(kRanks * kLines));
  for (const std::string& line : lines) {
    int rank = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "[rank %d]: ", &rank), 1) << line.substr(0, 80);
    const std::string prefix = "[rank " + std::to_string(rank) + "]: ";
    EXPECT_EQ(line, prefix + std::string(kLength, static_cast<char>('0' + rank)))
        << "mangled line starting with " << line.substr(0, 80);
  }
}

// ---- exit codes and failure handling ------------------------------------------------------------

TEST_F(LauncherTest, SuccessWhenAllRanksSucceedEvenIfOneFinishesEarly) {
  const Result r =
      run(sh({"--nproc-per-node", "2"}, "if [ $RANK = 1 ]; then sleep 0.3; echo late; fi"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[rank 1]: late\n") << "an early successful exit must not stop the others";
  EXPECT_EQ(r.err, "");
}

TEST_F(LauncherTest, FailingRankStopsSiblingsAndPropagatesExitCode) {
  // Ranks 0 and 2 sleep in a background job of their shell (a grandchild of the launcher); rank 1
  // fails once both recorded their PIDs. SIGTERM must reach shells and sleeps alike at once, long
  // before the default 5 s grace period ends.
  const std::string script = "if [ $RANK = 1 ]; then " + await_pids({0, 2}) +
                             "; echo failing >&2; exit 7; fi; sleep 100 & " + record_pids() +
                             "; wait";
  const Result r = run(sh({"--nproc-per-node", "3"}, script));
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_LT(r.seconds, 4.0) << "siblings must be stopped by SIGTERM, not the SIGKILL deadline";
  EXPECT_NE(r.err.find("[rank 1]: failing"), std::string::npos) << r.err;
  const auto err = r.err_lines();
  ASSERT_FALSE(err.empty());
  EXPECT_NE(err.back().find("rank 1"), std::string::npos) << err.back();
  EXPECT_NE(err.back().find("code 7"), std::string::npos) << err.back();
  expect_all_gone({0, 2});
}

TEST_F(LauncherTest, RankIgnoringSigtermIsKilledAfterGracePeriod) {
  const std::string script = "if [ $RANK = 1 ]; then " + await_pids({0}) +
                             "; exit 3; fi; trap '' TERM; sleep 100 & " + record_pids() +
                             "; while :; do wait; done";
  const Result r = run(sh({"--nproc-per-node", "2", "--grace-period", "1"}, script));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_GE(r.seconds, 1.0) << "SIGKILL must wait for the grace period";
  EXPECT_LT(r.seconds, 20.0);
  expect_all_gone({0});
}

TEST_F(LauncherTest, BackgroundJobsOfSucceededRanksDoNotOutliveTheLauncher) {
  // The background sleep ignores SIGTERM and its rank succeeds, so only the final SIGKILL of the
  // ranks' process groups can stop it.
  const Result r = run(sh({"--nproc-per-node", "2"},
                          "(trap '' TERM; exec sleep 100) & " + record_pids() + "; echo done"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(r.seconds, 4.0) << "a leftover holding the output pipes must not delay the launcher";
  EXPECT_NE(r.out.find("[rank 1]: done"), std::string::npos) << r.out;
  expect_all_gone({0, 1});
}

TEST_F(LauncherTest, RankKilledBySignalGives128PlusSignal) {
  const Result r =
      run(sh({"--nproc-per-node", "2"}, "if [ $RANK = 0 ]; then kill -USR1 $$; fi; sleep 100"));
  EXPECT_EQ(r.exit_code, 128 + SIGUSR1) << r.err;
  EXPECT_LT(r.seconds, 20.0);
  const auto err = r.err_lines();
  ASSERT_FALSE(err.empty());
  EXPECT_NE(err.back().find("rank 0"), std::string::npos) << err.back();
  EXPECT_NE(err.back().find("SIGUSR1"), std::string::npos) << err.back();
}

// ---- signals ------------------------------------------------------------------------------------

TEST_F(LauncherTest, SigtermIsForwardedToRanks) {
  const std::string script =
      "trap 'echo got-term; exit 0' TERM; sleep 100 & " + record_pids() + "; wait";
  Launch launch(sh({"--nproc-per-node", "2"}, script));
  ASSERT_TRUE(await_pid_files(2));
  ASSERT_EQ(::kill(launch.pid(), SIGTERM), 0);
  const Result r = launch.wait();
  EXPECT_NE(r.exit_code, 0) << "an interrupted job is not a success";
  EXPECT_EQ(r.signal, 0) << "the launcher must shut down, not die";
  EXPECT_LT(r.seconds, 4.0);
  EXPECT_NE(r.out.find("[rank 0]: got-term"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[rank 1]: got-term"), std::string::npos) << r.out;
  expect_all_gone({0, 1});
}

TEST_F(LauncherTest, SigintIsForwardedToRanks) {
  Launch launch(sh({"--nproc-per-node", "2"}, "sleep 100 & " + record_pids() + "; wait"));
  ASSERT_TRUE(await_pid_files(2));
  ASSERT_EQ(::kill(launch.pid(), SIGINT), 0);
  const Result r = launch.wait();
  EXPECT_EQ(r.exit_code, 128 + SIGINT) << r.err;
  EXPECT_LT(r.seconds, 4.0);
  expect_all_gone({0, 1});
}

TEST_F(LauncherTest, RanksDieWithKilledLauncher) {
  Launch launch(sh({"--nproc-per-node", "2"}, record_pids() + "; exec sleep 100"));
  ASSERT_TRUE(await_pid_files(2));
  ASSERT_EQ(::kill(launch.pid(), SIGKILL), 0);
  const Result r = launch.wait();
  EXPECT_EQ(r.signal, SIGKILL);
  expect_all_gone({0, 1});  // via PR_SET_PDEATHSIG
}

// ---- usage errors -------------------------------------------------------------------------------

void expect_usage_error(const Result& r, const std::string& mentioned) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(mentioned), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_LT(r.seconds, 5.0);
}

TEST_F(LauncherTest, MissingNprocPerNode) {
  expect_usage_error(run({"/bin/true"}), "--nproc-per-node");
}

TEST_F(LauncherTest, NprocPerNodeBelowOne) {
  expect_usage_error(run({"--nproc-per-node", "0", "/bin/true"}), "--nproc-per-node");
}

TEST_F(LauncherTest, MissingProgram) {
  expect_usage_error(run({"--nproc-per-node", "2"}), "PROGRAM");
}

TEST_F(LauncherTest, UnknownOption) {
  expect_usage_error(run({"--nproc-per-node", "1", "--bogus", "/bin/true"}), "--bogus");
}

TEST_F(LauncherTest, ProgramNotFound) {
  const Result r = run({"--nproc-per-node", "2", "no-such-program-for-dtensor-run"});
  expect_usage_error(r,
                     "cannot execute no-such-program-for-dtensor-run: No such file or directory");
}

TEST_F(LauncherTest, ProgramNotExecutable) {
  const fs::path script = dir_ / "not-executable";
  std::ofstream(script) << "#!/bin/sh\n";
  const Result r = run({"--nproc-per-node", "1", script.string()});
  expect_usage_error(r, "cannot execute " + script.string() + ": Permission denied");
}

TEST_F(LauncherTest, MultiNodeNeedsMasterAddressAndPort) {
  expect_usage_error(run({"--nnodes", "2", "--nproc-per-node", "1", "/bin/true"}), "--master-addr");
  expect_usage_error(
      run({"--nnodes", "2", "--master-addr", "10.0.0.1", "--nproc-per-node", "1", "/bin/true"}),
      "--master-port");
}

TEST_F(LauncherTest, NodeRankOutOfRange) {
  expect_usage_error(run({"--nnodes", "2", "--node-rank", "2", "--master-addr", "10.0.0.1",
                          "--master-port", "29500", "--nproc-per-node", "1", "/bin/true"}),
                     "--node-rank");
}

TEST_F(LauncherTest, HelpDescribesTheContract) {
  const Result r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word :
       {"--nproc-per-node", "--nnodes", "--node-rank", "--master-addr", "--master-port",
        "--grace-period", "--no-prefix", "PROGRAM", "RANK", "SIGTERM", "[rank R]"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word;
  }
}

}  // namespace
