// dtensor-run: starts K local copies of a program with torchrun's environment contract (RANK,
// WORLD_SIZE, MASTER_ADDR, ...), like `torchrun --no-python`. The launcher hosts no store: rank 0
// of the program hosts the rendezvous TCPStore on MASTER_ADDR:MASTER_PORT.
//
// Process model. Every rank runs in its own process group, so signals reach the whole tree a rank
// may spawn (e.g. a shell wrapper and its children). Exited ranks are observed with waitid(WNOWAIT)
// and only reaped at the very end: the zombie keeps its PID, and with it the process group ID,
// reserved, so kill(-pgid, ...) can never hit an unrelated process that recycled the ID.
//
// Event loop. SIGCHLD, SIGINT and SIGTERM are blocked and read from a signalfd, so a single poll()
// handles them together with the ranks' output pipes, with no asynchronous signal handlers.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kUsageExitCode = 2;
constexpr int kExecFailedExitCode = 127;  // the shell's "command not found"
constexpr std::size_t kReadChunk = 64 * 1024;
// A "line" that never ends (progress bars, binary data) is emitted once it reaches this size, so
// buffering it cannot exhaust memory.
constexpr std::size_t kMaxPendingLine = 64 * 1024;

struct Config {
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: pick a free port (single node only)
  int nproc_per_node = 0;
  double grace_period_seconds = 5.0;
  bool no_prefix = false;
  std::vector<std::string> command;  // PROGRAM ARGS...
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// ---- command line -------------------------------------------------------------------------------

// CLI11 prints "Usage: dtensor-run [OPTIONS]"; PROGRAM and its arguments come from the arguments
// CLI11 leaves over (prefix_command), so they must be added by hand.
class UsageFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string usage = CLI::Formatter::make_usage(app, std::move(name));
    usage.insert(usage.find_last_not_of('\n') + 1, " PROGRAM [ARGS...]");
    return usage;
  }
};

// Like CLI::PositiveNumber and friends, but with a readable message (theirs spells out DBL_MAX).
CLI::Validator at_least(int minimum) {
  const std::string bound = std::to_string(minimum);
  return CLI::Validator(
      [minimum, bound](const std::string& input) {
        char* end = nullptr;
        const double value = std::strtod(input.c_str(), &end);
        return end != input.c_str() && *end == '\0' && value >= minimum
                   ? std::string()
                   : "must be at least " + bound;
      },
      ">=" + bound);
}

void define_options(CLI::App& app, Config& config) {
  app.description(
      "Start K copies of PROGRAM on this node (via PATH) with torchrun's environment: RANK,\n"
      "LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, GROUP_WORLD_SIZE, ROLE_RANK,\n"
      "ROLE_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, and OMP_NUM_THREADS=max(1, cores/K) unless\n"
      "already set. Rank 0 of PROGRAM hosts the rendezvous store; the launcher hosts none.");
  app.footer(
      "Arguments after PROGRAM are passed to it untouched ('--' may precede PROGRAM).\n"
      "Each line a rank writes is printed as '[rank R]: line' on the launcher's stdout/stderr.\n"
      "SIGINT and SIGTERM are forwarded to all ranks. When a rank exits non-zero or dies from a\n"
      "signal, the others get SIGTERM, then SIGKILL after the grace period, and dtensor-run exits\n"
      "with the first failing rank's code (128+N for signal N). Usage errors, including a\n"
      "PROGRAM that cannot be executed, exit with code 2.");
  app.formatter(std::make_shared<UsageFormatter>());
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    return "dtensor-run: " + CLI::FailureMessage::simple(a, e);
  });
  // Stop at the first positional argument: it is PROGRAM, and everything after it belongs to it.
  app.prefix_command();

  app.add_option("--nproc-per-node", config.nproc_per_node, "ranks (processes) to start here (K)")
      ->required()
      ->check(at_least(1));
  app.add_option("--nnodes", config.nnodes, "number of nodes N (default 1)")->check(at_least(1));
  app.add_option("--node-rank", config.node_rank, "rank of this node, in [0, N) (default 0)")
      ->check(at_least(0));
  app.add_option("--master-addr", config.master_addr,
                 "address of rank 0 (required if N > 1; default 127.0.0.1)");
  app.add_option("--master-port", config.master_port,
                 "port of rank 0's store (required if N > 1; default: a free port)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--grace-period", config.grace_period_seconds,
                 "seconds between SIGTERM and SIGKILL when stopping ranks (default 5)")
      ->check(at_least(0));
  app.add_flag("--no-prefix", config.no_prefix, "do not prefix output lines with the rank");
}

// Checks what CLI11 cannot express: PROGRAM presence and constraints between options.
void finish_config(const CLI::App& app, Config& config) {
  config.command = app.remaining();
  if (!config.command.empty() && config.command.front() == "--") {
    config.command.erase(config.command.begin());
  } else if (!config.command.empty() && config.command.front().rfind('-', 0) == 0) {
    // prefix_command() leaves unknown options in remaining(); without "--" this is a typo, not
    // a program name.
    throw CLI::ValidationError(config.command.front(), "unknown option");
  }
  if (config.command.empty()) throw CLI::ValidationError("PROGRAM", "missing");
  if (config.node_rank >= config.nnodes) {
    throw CLI::ValidationError("--node-rank",
                               "must be in [0, " + std::to_string(config.nnodes) + ")");
  }
  if (config.nnodes > 1 && (app.count("--master-addr") == 0 || app.count("--master-port") == 0)) {
    throw CLI::ValidationError("--master-addr and --master-port are required when --nnodes > 1");
  }
}

// ---- small system helpers -----------------------------------------------------------------------

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read_end;
  Fd write_end;
};

// CLOEXEC: no rank may inherit its siblings' pipes, or a stray write end would keep the launcher
// from ever seeing EOF on them.
Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return {Fd(fds[0]), Fd(fds[1])};
}

void write_all(int fd, const std::string& data) {
  std::size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n >= 0) {
      written += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN) {
      // The launcher's own stdout may have been inherited in non-blocking mode.
      pollfd pfd{fd, POLLOUT, 0};
      ::poll(&pfd, 1, -1);
    } else if (errno != EINTR) {
      return;  // nowhere to report a broken stdout/stderr; the ranks keep running
    }
  }
}

// Binds port 0 on the loopback interface and returns the port the kernel chose. The port is free
// again when rank 0 binds it; the window in between is the same one torchrun accepts.
int pick_free_port() {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.is_open()) throw_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    throw_errno("choosing a free port");
  }
  return ntohs(addr.sin_port);
}

// Cores this process may run on (respects taskset/cgroup cpusets, unlike the machine total).
int usable_cores() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::string signal_name(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(signal);
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

// ---- environment --------------------------------------------------------------------------------

// The environment shared by all ranks of this node: the launcher's own, minus anything the
// contract overrides, plus the contract's node-wide variables. Rank-specific ones come later.
std::vector<std::string> node_environment(const Config& config, int master_port) {
  const int world_size = config.nnodes * config.nproc_per_node;
  std::vector<std::pair<std::string, std::string>> contract = {
      {"WORLD_SIZE", std::to_string(world_size)},
      {"LOCAL_WORLD_SIZE", std::to_string(config.nproc_per_node)},
      {"GROUP_RANK", std::to_string(config.node_rank)},
      {"GROUP_WORLD_SIZE", std::to_string(config.nnodes)},
      {"ROLE_WORLD_SIZE", std::to_string(world_size)},
      {"MASTER_ADDR", config.master_addr},
      {"MASTER_PORT", std::to_string(master_port)},
  };
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    contract.emplace_back("OMP_NUM_THREADS",
                          std::to_string(std::max(1, usable_cores() / config.nproc_per_node)));
  }
  // Set per rank by rank_environment; dropped here so inherited values cannot shadow them.
  std::vector<std::string> dropped = {"RANK", "LOCAL_RANK", "ROLE_RANK",
                                      // Inherited from an enclosing torchrun, it would make rank 0
                                      // expect an agent store that does not exist and hang.
                                      "TORCHELASTIC_USE_AGENT_STORE"};
  for (const auto& [key, value] : contract) dropped.push_back(key);

  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string variable(*entry);
    std::string key = variable.substr(0, variable.find('='));
    if (std::find(dropped.begin(), dropped.end(), key) == dropped.end()) {
      env.push_back(std::move(variable));
    }
  }
  for (const auto& [key, value] : contract) env.push_back(key + "=" + value);
  return env;
}

std::vector<std::string> rank_environment(std::vector<std::string> env, int rank, int local_rank) {
  env.push_back("RANK=" + std::to_string(rank));
  env.push_back("LOCAL_RANK=" + std::to_string(local_rank));
  env.push_back("ROLE_RANK=" + std::to_string(rank));
  return env;
}

// ---- output relay -------------------------------------------------------------------------------

// Relays one child stream (stdout or stderr) to the launcher's matching stream line by line, each
// line prefixed with "[rank R]: ". Complete lines are written with one write(2) from this single
// threaded process, so lines of different ranks never interleave mid-line.
class LineRelay {
 public:
  LineRelay(Fd source, int sink, std::string prefix)
      : source_(std::move(source)), sink_(sink), prefix_(std::move(prefix)) {
    // Non-blocking so that the final drain after the ranks exited cannot hang on a pipe still held
    // open by a leftover grandchild.
    ::fcntl(source_.get(), F_SETFL, ::fcntl(source_.get(), F_GETFL) | O_NONBLOCK);
  }

  bool is_open() const { return source_.is_open(); }
  int fd() const { return source_.get(); }

  // Reads one chunk and relays the complete lines in it; at EOF, relays the final partial line and
  // closes the source. Returns false when nothing was read (no data available now, or EOF).
  bool pump() {
    char buffer[kReadChunk];
    ssize_t n = ::read(source_.get(), buffer, sizeof buffer);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    if (n <= 0) {
      if (!pending_.empty()) write_all(sink_, prefix_ + pending_ + '\n');
      pending_.clear();
      source_.reset();
      return false;
    }
    pending_.append(buffer, static_cast<std::size_t>(n));
    relay_complete_lines();
    return true;
  }

  void drain() {
    while (is_open() && pump()) {
    }
  }

 private:
  void relay_complete_lines() {
    std::string out;
    std::size_t start = 0;
    for (std::size_t end; (end = pending_.find('\n', start)) != std::string::npos;
         start = end + 1) {
      out += prefix_;
      out.append(pending_, start, end + 1 - start);
    }
    pending_.erase(0, start);
    if (pending_.size() >= kMaxPendingLine) {
      out += prefix_ + pending_ + '\n';
      pending_.clear();
    }
    if (!out.empty()) write_all(sink_, out);
  }

  Fd source_;
  int sink_;
  std::string prefix_;
  std::string pending_;
};

// ---- ranks --------------------------------------------------------------------------------------

struct Termination {
  bool by_signal = false;
  int value = 0;  // exit code, or signal number

  static Termination from(const siginfo_t& info) {
    return {info.si_code != CLD_EXITED, info.si_status};
  }
  bool failed() const { return by_signal || value != 0; }
  int exit_code() const { return by_signal ? 128 + value : value; }
  std::string describe() const {
    return by_signal ? "was killed by " + signal_name(value)
                     : "exited with code " + std::to_string(value);
  }
};

struct Rank {
  int rank = 0;
  pid_t pid = -1;  // also the ID of the rank's process group
  std::optional<Termination> termination;
  LineRelay out;
  LineRelay err;

  bool running() const { return !termination.has_value(); }
};

// Everything a forked child needs, prepared before fork() so the child only makes system calls.
struct ChildSetup {
  pid_t launcher;
  const sigset_t* original_mask;
  int stdout_fd;
  int stderr_fd;
  int exec_status_fd;  // CLOEXEC: closed by a successful exec, receives errno otherwise
  char** argv;
  char** envp;
};

[[noreturn]] void exec_child(const ChildSetup& setup) {
  ::setpgid(0, 0);
  // Die with the launcher even if it is SIGKILLed; the getppid() check closes the race with a
  // launcher that died before prctl().
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != setup.launcher) ::_exit(kExecFailedExitCode);
  if (::dup2(setup.stdout_fd, STDOUT_FILENO) >= 0 && ::dup2(setup.stderr_fd, STDERR_FILENO) >= 0 &&
      ::sigprocmask(SIG_SETMASK, setup.original_mask, nullptr) == 0) {
    ::execvpe(setup.argv[0], setup.argv, setup.envp);
  }
  const int error = errno;
  [[maybe_unused]] ssize_t ignored = ::write(setup.exec_status_fd, &error, sizeof error);
  ::_exit(kExecFailedExitCode);
}

// ---- launcher -----------------------------------------------------------------------------------

class Launcher {
 public:
  explicit Launcher(Config config) : config_(std::move(config)) {}

  int run() {
    block_signals();
    const int port = config_.master_port != 0 ? config_.master_port : pick_free_port();
    const std::vector<std::string> env = node_environment(config_, port);
    ranks_.reserve(static_cast<std::size_t>(config_.nproc_per_node));
    for (int local_rank = 0; local_rank < config_.nproc_per_node; ++local_rank) {
      if (const int error = start_rank(local_rank, env); error != 0) {
        std::cerr << "dtensor-run: cannot execute " << config_.command.front() << ": "
                  << std::strerror(error) << std::endl;
        kill_and_reap();
        return kUsageExitCode;
      }
    }
    supervise();
    return finish();
  }

 private:
  // SIGCHLD, SIGINT and SIGTERM become events on signalfd_ (see the top of the file); children
  // restore the original mask before exec.
  void block_signals() {
    sigset_t handled;
    ::sigemptyset(&handled);
    ::sigaddset(&handled, SIGCHLD);
    for (int signal : {SIGINT, SIGTERM}) {
      // Like a shell, keep ignoring what was ignored on entry (nohup, `&` in a script): the ranks
      // inherit the SIG_IGN, so forwarding would only start a shutdown they ignore.
      struct sigaction current {};
      ::sigaction(signal, nullptr, &current);
      if (current.sa_handler != SIG_IGN) ::sigaddset(&handled, signal);
    }
    if (::sigprocmask(SIG_BLOCK, &handled, &original_mask_) != 0) throw_errno("sigprocmask");
    // An inherited SIG_IGN for SIGCHLD would make the kernel reap the ranks behind our back.
    ::signal(SIGCHLD, SIG_DFL);
    signalfd_ = Fd(::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signalfd_.is_open()) throw_errno("signalfd");
  }

  // Forks and execs one rank. Returns 0, or the errno of a failed exec (the rank then exits 127).
  int start_rank(int local_rank, const std::vector<std::string>& node_env) {
    const int rank = config_.node_rank * config_.nproc_per_node + local_rank;
    std::vector<std::string> argv_strings = config_.command;
    std::vector<std::string> env_strings = rank_environment(node_env, rank, local_rank);
    std::vector<char*> argv = c_strings(argv_strings);
    std::vector<char*> envp = c_strings(env_strings);
    Pipe out = make_pipe();
    Pipe err = make_pipe();
    Pipe exec_status = make_pipe();

    const ChildSetup setup{::getpid(),
                           &original_mask_,
                           out.write_end.get(),
                           err.write_end.get(),
                           exec_status.write_end.get(),
                           argv.data(),
                           envp.data()};
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) exec_child(setup);
    // The child does this too; doing it here as well means a signal sent to the group right away
    // cannot miss the child because it has not run yet.
    ::setpgid(pid, pid);

    const std::string prefix = config_.no_prefix ? "" : "[rank " + std::to_string(rank) + "]: ";
    ranks_.push_back(Rank{rank, pid, std::nullopt,
                          LineRelay(std::move(out.read_end), STDOUT_FILENO, prefix),
                          LineRelay(std::move(err.read_end), STDERR_FILENO, prefix)});
    exec_status.write_end.reset();  // so that read() sees EOF once the child's exec succeeded
    int error = 0;
    ssize_t n;
    do {
      n = ::read(exec_status.read_end.get(), &error, sizeof error);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(sizeof error) ? error : 0;
  }

  // Relays output and reacts to signals and rank exits until every rank has exited.
  void supervise() {
    std::vector<pollfd> fds;
    std::vector<LineRelay*> relays;  // relays[i] owns fds[i + 1]
    while (std::any_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return r.running(); })) {
      fds.assign(1, pollfd{signalfd_.get(), POLLIN, 0});
      relays.clear();
      for (Rank& r : ranks_) {
        for (LineRelay* relay : {&r.out, &r.err}) {
          if (!relay->is_open()) continue;
          fds.push_back(pollfd{relay->fd(), POLLIN, 0});
          relays.push_back(relay);
        }
      }
      if (::poll(fds.data(), fds.size(), poll_timeout_ms()) < 0 && errno != EINTR)
        throw_errno("poll");
      if (fds[0].revents != 0) handle_signals();
      for (std::size_t i = 0; i < relays.size(); ++i) {
        if (fds[i + 1].revents != 0) relays[i]->pump();
      }
      observe_exits();
      if (kill_deadline_ && Clock::now() >= *kill_deadline_) {
        signal_all(SIGKILL);
        kill_deadline_.reset();
      }
    }
  }

  int poll_timeout_ms() const {
    if (!kill_deadline_) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*kill_deadline_ - Clock::now());
    return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, INT_MAX));
  }

  void handle_signals() {
    signalfd_siginfo info;
    while (::read(signalfd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      const int signal = static_cast<int>(info.ssi_signo);
      if (signal == SIGCHLD) continue;  // observe_exits() runs after every wake-up anyway
      if (!interrupted_by_) interrupted_by_ = signal;
      signal_all(signal);
      start_shutdown();
    }
  }

  // Records ranks that exited, without reaping them (see the top of the file).
  void observe_exits() {
    for (std::size_t i = 0; i < ranks_.size(); ++i) {
      Rank& r = ranks_[i];
      if (!r.running()) continue;
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(r.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid == 0) {
        continue;
      }
      r.termination = Termination::from(info);
      if (r.termination->failed() && !first_failure_) {
        first_failure_ = i;
        signal_all(SIGTERM);
        start_shutdown();
      }
    }
  }

  void start_shutdown() {
    if (!shutting_down_) {
      shutting_down_ = true;
      kill_deadline_ =
          Clock::now() + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(config_.grace_period_seconds));
    }
  }

  void signal_all(int signal) {
    for (const Rank& r : ranks_) ::kill(-r.pid, signal);
  }

  // Relays the last output, reaps the ranks and reports the outcome.
  int finish() {
    for (Rank& r : ranks_) {
      r.out.drain();
      r.err.drain();
    }
    kill_and_reap();
    std::string summary;
    if (interrupted_by_) summary = "interrupted by " + signal_name(*interrupted_by_);
    if (first_failure_) {
      const Rank& r = ranks_[*first_failure_];
      if (!summary.empty()) summary += "; ";
      summary += "rank " + std::to_string(r.rank) + " (first to fail) " + r.termination->describe();
    }
    if (!summary.empty()) std::cerr << "dtensor-run: " << summary << std::endl;
    if (first_failure_) return ranks_[*first_failure_].termination->exit_code();
    return interrupted_by_ ? 128 + *interrupted_by_ : 0;
  }

  // Kills whatever is left in the ranks' process groups (background jobs of a shell wrapper, say,
  // must not outlive the job), then reaps the ranks, which releases their process group IDs.
  void kill_and_reap() {
    signal_all(SIGKILL);
    for (const Rank& r : ranks_) {
      while (::waitpid(r.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }

  Config config_;
  sigset_t original_mask_{};
  Fd signalfd_;
  std::vector<Rank> ranks_;
  std::optional<std::size_t> first_failure_;
  std::optional<int> interrupted_by_;
  bool shutting_down_ = false;
  std::optional<Clock::time_point> kill_deadline_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"", "dtensor-run"};
  Config config;
  define_options(app, config);
  try {
    app.parse(argc, argv);
    finish_config(app, config);
  } catch (const CLI::ParseError& e) {
    // --help arrives as a ParseError with exit code 0; every other one is a usage error.
    return app.exit(e) == 0 ? 0 : kUsageExitCode;
  }
  try {
    return Launcher(std::move(config)).run();
  } catch (const std::exception& e) {
    std::cerr << "dtensor-run: " << e.what() << std::endl;
    return 1;
  }
}
