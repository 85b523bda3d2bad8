// Precompiled for every library translation unit (see src/CMakeLists.txt). Only headers that
// most files need: each one here is parsed once per build instead of once per file.
#pragma once
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/nn/module.h>
