// The error catalogue: every error of SEMANTICS.md section 5, the code raising it (under src/) and
// the test asserting its type and a stable part of its message with EXPECT_THROW_MSG
// (tests/harness/expect.h), as "test binary (test_<dir>) Suite.Name".
// Python -> C++ types: RuntimeError -> c10::Error, ValueError -> c10::ValueError, TypeError ->
// c10::TypeError, NotImplementedError -> c10::NotImplementedError, KeyError -> c10::IndexError (c10
// has no KeyError), AssertionError on a bad argument -> c10::ValueError (a Shard dim out of range:
// c10::IndexError). init_device_mesh's RuntimeErrors are ValueErrors here, a subclass of c10::Error.
//
//   parallelize_module: no plan (UserWarning; here an empty plan)
//       parallel/api.cpp parallelize_module -> parallel ParallelErrors.StylesAndLossParallel
//   parallelize_module: bad plan type (TypeError)
//       n/a: ParallelizePlan and ParallelStyle are static types (a compile error)
//   parallelize_module: key matches no child (ValueError here: API.md asks for an error)
//       parallel/api.cpp apply_at -> parallel ParallelizeApi.UnmatchedKeyIsAnErrorNamingTheChildren
//   parallelize_module: mesh ndim > 1 (ValueError)
//       parallel/api.cpp check_tp_mesh -> parallel ParallelizeApi.Errors
//   parallelize_module: TP sub-mesh not innermost (RuntimeError, 2.3-2.8)
//       not raised (only PyTorch 2.3-2.8 did): styles act on the tp dim wherever it sits in the tensors' mesh
//       (parallel/style_common.cpp tp_view), and a sliced C++ mesh keeps no link to its parent
//   any API: no mesh given and no context (RuntimeError)
//       n/a: every C++ API takes the mesh as a required argument
//   ColwiseParallel: module not Linear/Embedding (NotImplementedError)
//       parallel/colwise.cpp apply -> parallel ParallelizeApi.Errors
//   RowwiseParallel: module not Linear/Embedding (NotImplementedError)
//       parallel/rowwise.cpp apply -> parallel ParallelizeApi.Errors
//   SequenceParallel: inputs[0] not a tensor (ValueError)
//       parallel/sequence.cpp apply (pre-hook) -> parallel ParallelErrors.StylesAndLossParallel
//   PrepareModuleInput: desired None with input_layouts (ValueError)
//       parallel/prepare_module.cpp validate -> parallel ParallelizeApi.Errors
//   PrepareModuleInput: layouts of different lengths (ValueError)
//       parallel/prepare_module.cpp validate -> parallel ParallelizeApi.Errors
//   PrepareModuleInput: kwarg layouts of different lengths
//       n/a: C++ forward has no keyword arguments
//   PrepareModuleInput: #inputs != #layouts (ValueError)
//       parallel/prepare_module.cpp apply (pre-hook) -> parallel ParallelizeApi.PrepareModuleInputRuntimeErrors
//   PrepareModuleInput: non-tensor with a layout (ValueError; hooks see only tensor arguments, so an undefined one)
//       parallel/prepare_module.cpp prepare -> parallel ParallelErrors.StylesAndLossParallel
//   PrepareModuleOutput: layouts of different lengths or missing (ValueError)
//       parallel/prepare_module.cpp validate -> parallel ParallelizeApi.Errors, ParallelErrors.StylesAndLossParallel
//   PrepareModuleOutput: #outputs != #layouts, or a missing output (ValueError)
//       parallel/prepare_module.cpp apply (hook), prepare -> parallel ParallelErrors.StylesAndLossParallel
//   distribute_module: called twice on a module (RuntimeError)
//       nn/distribute_module.cpp distribute_module -> parallel ParallelizeApi.Errors,
//       ParallelErrors.StylesAndLossParallel
//   distribute_module: hook arity (ValueError)
//       n/a: InputFn/OutputFn are typed std::functions (a compile error)
//   loss_parallel: mesh ndim != 1 (ValueError)
//       parallel/loss.cpp logits_spec -> parallel ParallelErrors.StylesAndLossParallel
//   loss_parallel: logits not sharded on the class dim, or plain (ValueError)
//       parallel/loss.cpp logits_spec -> parallel LossParallel.LogitsNotShardedOnTheClassDim,
//       ParallelErrors.StylesAndLossParallel
//   loss_parallel: target/weight DTensor with wrong placements (RuntimeError)
//       parallel/loss.cpp replicated_local -> parallel LossParallel.TargetWithWrongPlacements
//   loss_parallel: target not a tensor (TypeError)
//       n/a: the aten schemas type the target as Tensor, so no C++ call can pass another type
//       (parallel/loss.cpp replicated_local still raises c10::TypeError for a non-tensor argument)
//   loss_parallel: 2026 N-D variants
//       n/a: this port follows the 1-D era; N-D logits raise the 1-D ValueError
//   from_local: DTensor passed (RuntimeError)
//       tensor/api.cpp DTensor::from_local -> dtensor DTensorApi.Errors
//   from_local: only shape or only stride (RuntimeError)
//       tensor/api.cpp DTensor::from_local -> dtensor DTensorApi.Errors
//   from_local(run_check): metadata differs across ranks (ValueError)
//       tensor/api.cpp check_and_sync -> dtensor DTensorApi.FromLocalRunCheck
//   redistribute: no placements (RuntimeError)
//       tensor/api.cpp DTensor::redistribute -> dtensor DTensorApi.Errors, DTensorErrors.HintsAndUndefinedInputs
//   redistribute: to a different Partial (RuntimeError)
//       tensor/api.cpp DTensor::redistribute -> dtensor DTensorApi.Errors, DTensorErrors.HintsAndUndefinedInputs
//   redistribute: different mesh (NotImplementedError)
//       tensor/api.cpp DTensor::redistribute -> dtensor DTensorApi.Errors
//   redistribute internals: Shard -> Partial (RuntimeError)
//       redistribute/transforms.cpp check_transition -> dtensor Redistribute.PlannerErrors
//   distribute_tensor: non-leaf (RuntimeError)
//       tensor/api.cpp distribute_tensor -> dtensor DTensorApi.Errors
//   distribute_tensor: len(placements) != mesh.ndim (ValueError)
//       tensor/api.cpp default_placements -> dtensor DTensorApi.Errors
//   distribute_tensor: DTensor with another mesh or placements (ValueError)
//       tensor/api.cpp distribute_tensor -> dtensor DTensorApi.Errors
//   distribute_tensor: Partial placement (RuntimeError)
//       tensor/api.cpp distribute_tensor -> dtensor DTensorApi.Errors
//   placement helpers: shard dim out of range (IndexError)
//       placement/placement.cpp Placement::normalized -> dtensor DTensorApi.Errors
//   DeviceMesh: slicing without names (RuntimeError) / bad name (IndexError)
//       mesh/device_mesh.cpp operator[], mesh_dim_index -> mesh DeviceMesh.ErrorsNameTheProblem,
//       DeviceMeshErrors.BadArgumentsSayWhatWasExpected
//   DeviceMesh: mesh larger than the world (RuntimeError)
//       mesh/device_mesh.cpp DeviceMesh::DeviceMesh -> mesh DeviceMesh.ErrorsNameTheProblem
//   DeviceMesh: mesh not a CPU tensor (ValueError)
//       mesh/device_mesh.cpp DeviceMesh::DeviceMesh -> mesh DeviceMeshErrors.BadArgumentsSayWhatWasExpected
//   init_device_mesh: duplicate names, length mismatch, "cuda:0" (ValueError)
//       mesh/device_mesh.cpp check_names, check_device_type -> mesh DeviceMesh.ErrorsNameTheProblem
//   get_local_rank() / get_group() on an N-D mesh (RuntimeError)
//       mesh/device_mesh.cpp get_local_rank(), get_group() -> mesh DeviceMesh.ErrorsNameTheProblem,
//       DeviceMeshErrors.BadArgumentsSayWhatWasExpected
//   view ops (strict): flatten/split a sharded dim (RuntimeError)
//       ops/views.cpp -> ops ViewsStrict.ErrorsNameTheDimension
//   nll_loss: mean over an unevenly sharded target (ValueError)
//       ops/loss.cpp -> ops NnOpsErrors.NllLossMeanUnevenRows
//   random ops on a Partial DTensor (RuntimeError)
//       ops/random.cpp -> ops Random.RejectsPartialAndExplicitGenerators
//   beyond section 5: plain tensors mixed with DTensors (TypeError; names hookable holders, API.md 6)
//       dispatch/kernel.cpp check_plain_allowed -> ops TensorOps.PlainTensorsMixedWithDTensors, parallel
//       ParallelErrors.StylesAndLossParallel
//   beyond section 5: op without a sharding rule (NotImplementedError)
//       dispatch/propagate.cpp propagate -> dtensor DTensorErrors.OpWithoutARule
//   beyond section 5: DTensor methods on a handle holding no DTensor (TypeError)
//       tensor/api.cpp impl_of -> dtensor DTensorErrors.HandleWithoutADTensor
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::testing::run_world;

TEST(DTensorErrors, OpWithoutARule) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto d = distribute_tensor(at::rand({4, 6}), mesh, {Shard(0)});
    EXPECT_THROW_MSG(at::histc(d), c10::NotImplementedError, "dtensor: no sharding rule for aten::histc");
    EXPECT_THROW_MSG(at::histc(d), c10::NotImplementedError, "(inputs self: [S(0)] [4, 6] Float)");
    EXPECT_THROW_MSG(at::histc(d), c10::NotImplementedError, "register a rule with dtensor::ops::register_rule");
  });
}

TEST(DTensorErrors, HandleWithoutADTensor) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    DTensor empty;
    EXPECT_THROW_MSG(empty.placements(), c10::TypeError, "this dtensor::DTensor handle holds no tensor, not a DTensor");
    EXPECT_THROW_MSG(empty.device_mesh(), c10::TypeError, "create it with DTensor::from_local or distribute_tensor");
    EXPECT_THROW_MSG(empty.to_local(), c10::TypeError, "holds no tensor");
    EXPECT_THROW_MSG(empty.local_tensor(), c10::TypeError, "holds no tensor");
    EXPECT_THROW_MSG(empty.full_tensor(), c10::TypeError, "holds no tensor");
    EXPECT_THROW_MSG(empty.redistribute({Replicate()}), c10::TypeError, "holds no tensor");
    // A handle whose at::Tensor base was assigned a plain tensor.
    auto d = distribute_tensor(at::rand({4, 6}), mesh, {Shard(0)});
    static_cast<at::Tensor&>(d) = at::ones({2});
    EXPECT_THROW_MSG(d.to_local(), c10::TypeError, "holds a plain tensor of shape [2], not a DTensor");
  });
}

TEST(DTensorErrors, HintsAndUndefinedInputs) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    EXPECT_THROW_MSG(DTensor::from_local(at::Tensor(), mesh), c10::ValueError,
                     "from_local: the local tensor is undefined");
    EXPECT_THROW_MSG(distribute_tensor(at::Tensor(), mesh), c10::ValueError,
                     "distribute_tensor: the tensor is undefined");
    auto d = distribute_tensor(at::rand({4, 6}), mesh, {Shard(0)});
    EXPECT_THROW_MSG(d.redistribute(Placements{}), c10::Error,
                     "placements is needed for redistribute! Pass one Placement per mesh dim (1 here)");
    EXPECT_THROW_MSG(d.redistribute({Partial()}), c10::Error, "A Partial comes from ops");
    EXPECT_THROW_MSG(d.to_local(Placements{Replicate(), Replicate()}), c10::ValueError,
                     "`placements` must have the same length as `device_mesh.ndim`! Found placements length: 2");
  });
}

// Not an error: an empty grad_placements means the forward placements, as PyTorch's
// `grad_placements or spec.placements` (an empty list once became all-Replicate, whose gradient
// then had the wrong local shape).
TEST(DTensorErrors, EmptyGradPlacementsMeanTheForwardPlacements) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto x = distribute_tensor(at::rand({4, 6}), mesh, {Shard(0)});
    x.set_requires_grad(true);
    (x.to_local(Placements{}) * 3).sum().backward();
    DTensor grad(x.grad());
    EXPECT_EQ(grad.placements(), Placements{Shard(0)});
    EXPECT_TRUE(grad.full_tensor().equal(at::full({4, 6}, 3.0)));
  });
}
