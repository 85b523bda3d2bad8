#include "runtime/launch_env.h"

#include <cstdlib>
#include <string>

#include <c10/util/Exception.h>

namespace dtensor::detail {
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

int parse_int(const char* name, const std::string& value, int min_value) {
  size_t used = 0;
  long parsed = 0;
  try {
    parsed = std::stol(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  TORCH_CHECK(used == value.size() && parsed >= min_value && parsed <= INT32_MAX,
              "environment variable ", name, "='", value, "' is not an integer >= ", min_value);
  return static_cast<int>(parsed);
}

std::optional<int> env_int(const char* name, int min_value) {
  auto v = env(name);
  if (!v) return std::nullopt;
  return parse_int(name, *v, min_value);
}

// Slurm writes tasks-per-node as "4" or "4(x2),3"; the first entry is this node's on uniform jobs.
std::optional<int> slurm_tasks_per_node() {
  auto v = env("SLURM_NTASKS_PER_NODE");
  if (!v) v = env("SLURM_TASKS_PER_NODE");
  if (!v) return std::nullopt;
  auto end = v->find_first_not_of("0123456789");
  return parse_int("SLURM_TASKS_PER_NODE", v->substr(0, end), 1);
}

bool fill_from(LaunchEnv& e, const char* launcher, const char* rank_var, const char* size_var,
               const char* local_rank_var, const char* local_size_var) {
  auto rank = env_int(rank_var, 0);
  auto size = env_int(size_var, 1);
  if (!rank && !size) return false;
  TORCH_CHECK(rank && size, "launcher environment is incomplete: ", rank_var, " and ", size_var,
              " must both be set (found only ", rank ? rank_var : size_var, ")");
  e.launcher = launcher;
  e.rank = *rank;
  e.world_size = *size;
  e.local_rank = local_rank_var ? env_int(local_rank_var, 0).value_or(e.rank) : e.rank;
  e.local_world_size =
      local_size_var ? env_int(local_size_var, 1).value_or(e.world_size) : e.world_size;
  return true;
}

}  // namespace

LaunchEnv read_launch_env() {
  LaunchEnv e;
  e.launcher = "none";
  bool found =
      fill_from(e, "torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE") ||
      fill_from(e, "mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE") ||
      fill_from(e, "pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS") ||
      fill_from(e, "slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr);
  if (found && e.launcher == "slurm") e.local_world_size = slurm_tasks_per_node().value_or(1);
  TORCH_CHECK(e.rank < e.world_size, "rank ", e.rank, " is not below the world size ",
              e.world_size, " (launcher: ", e.launcher,
              "); check RANK/WORLD_SIZE or the launcher's equivalents");
  TORCH_CHECK(e.local_rank < e.local_world_size, "local rank ", e.local_rank,
              " is not below the local world size ", e.local_world_size, " (launcher: ",
              e.launcher, ")");
  e.master_addr = env("MASTER_ADDR");
  if (auto port = env("MASTER_PORT")) {
    int p = parse_int("MASTER_PORT", *port, 1);
    TORCH_CHECK(p <= 65535, "environment variable MASTER_PORT='", *port,
                "' is not a TCP port (1-65535)");
    e.master_port = p;
  }
  e.agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  return e;
}

}  // namespace dtensor::detail
