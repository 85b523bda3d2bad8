// dtensor-cpp: DTensor and Tensor Parallelism for C++ (libtorch).
// The umbrella header: everything in the public API (see API.md).
#pragma once

#include <dtensor/comm.h>
#include <dtensor/device_mesh.h>
#include <dtensor/runtime.h>
#include <dtensor/debug/comm_debug_mode.h>
#include <dtensor/debug/visualize.h>
#include <dtensor/ops/rule.h>
#include <dtensor/placement.h>
#include <dtensor/random.h>
#include <dtensor/spec.h>
#include <dtensor/tensor.h>
#include <dtensor/distribute_module.h>
#include <dtensor/nn/clip_grad.h>
#include <dtensor/nn/hooks.h>
#include <dtensor/nn/layers.h>
#include <dtensor/nn/module_holder.h>
#include <dtensor/nn/parameters.h>
#include <dtensor/parallel/api.h>
#include <dtensor/parallel/style.h>
#include <dtensor/parallel/loss.h>
#include <dtensor/parallel/data_parallel.h>
