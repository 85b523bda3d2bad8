// Process-group runtime: joins the processes started by a launcher into one world.
//
// Rank and world size come from the launcher's environment, first match wins:
//   torchrun / dtensor-run  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
//   Open MPI (mpirun)        OMPI_COMM_WORLD_RANK/_SIZE/_LOCAL_RANK/_LOCAL_SIZE
//   MPICH / Intel MPI (PMI)  PMI_RANK, PMI_SIZE
//   Slurm (srun)             SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE
// With none of them: a world of one process.
//
// Backends: "gloo" rendezvous through a c10d TCPStore at MASTER_ADDR:MASTER_PORT hosted by rank 0
// (or by the torchrun agent when TORCHELASTIC_USE_AGENT_STORE=True: every rank is then a client)
// and honours GLOO_SOCKET_IFNAME; "mpi" uses dtensor's own MPI process group (mpirun only);
// "nccl" needs a libtorch built with CUDA.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

namespace dtensor {

struct InitOptions {
  std::string backend;  // "gloo" | "mpi" | "nccl"; empty: $DTENSOR_BACKEND, else "mpi" when
                        // launched by mpirun, else "gloo"
  std::chrono::milliseconds timeout = std::chrono::minutes(10);  // every collective and rendezvous
};

void init_process_group(const InitOptions& options = {});
bool is_initialized();
int get_rank();
int get_world_size();
void destroy_process_group();

// ---- beyond PyTorch's surface --------------------------------------------------------------
const std::string& get_backend();
std::chrono::milliseconds get_timeout();
int get_local_rank();
int get_local_world_size();
// The world's process group.
c10::intrusive_ptr<c10d::ProcessGroup> world_group();
// A process group over `ranks` (distinct global ranks; group rank i is ranks[i]). Collective over
// the whole world: every process calls it with the same arguments in the same order. Returns null
// on processes not in `ranks`. Groups are cached by rank list, so meshes built twice share them.
c10::intrusive_ptr<c10d::ProcessGroup> new_group(const std::vector<int>& ranks);

}  // namespace dtensor
