// Custom op handlers that take over an op's DTensor kernel while installed (loss_parallel swaps
// in vocabulary-parallel log_softmax/nll_loss). Checked before sharding propagation; free when none
// is installed.
#pragma once

#include <atomic>
#include <functional>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

namespace dtensor::detail {

using OpHandler = std::function<void(const c10::OperatorHandle& op, torch::jit::Stack* stack)>;

extern std::atomic<int> installed_handlers;

// Installs (or, with a null handler, removes) the handler of `op_name` ("aten::_log_softmax").
void set_op_handler(const std::string& op_name, OpHandler handler);
// The handler for `op`, or nullptr.
const OpHandler* find_op_handler(const c10::OperatorHandle& op);

}  // namespace dtensor::detail
