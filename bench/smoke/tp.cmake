# bench_tp on 2 MPI ranks.
include(${CMAKE_CURRENT_LIST_DIR}/run.cmake)
smoke_run(${MPIEXEC} --oversubscribe -np 2 ${BENCH} --repeats 1 --min-block-ms 1 --min-iters 1
          --block-model tiny --batch 1 --seq 8 --mlp-dim 16
          --speedup-model tiny --speedup-batch 1 --speedup-seq 8
          --param-models tiny --memory-model tiny --memory-batch 1 --memory-seq 8 --collectives-model tiny)
smoke_json(name bench)
if(NOT name STREQUAL "tp_vs_megatron")
  message(FATAL_ERROR "stdout is not bench_tp's JSON (bench = '${name}')\nstdout:\n${out}")
endif()
# 4 step cases (llama block, mlp; each without/with SP), 2 speedup variants, 1 parameter model,
# 3 activation configs (tp1, tp, tp_sp), 2 collective cases.
string(JSON steps LENGTH "${out}" step)
string(JSON variants LENGTH "${out}" speedup variants)
string(JSON params LENGTH "${out}" memory parameters)
string(JSON configs LENGTH "${out}" memory activations configs)
string(JSON collectives LENGTH "${out}" collectives)
# The headline figure of each baseline is present (its value is not checked).
foreach(baseline blocking async)
  string(JSON ratio GET "${out}" step 0 ratio ${baseline} median)
endforeach()
if(NOT "${steps}/${variants}/${params}/${configs}/${collectives}" STREQUAL "4/2/1/3/2")
  message(FATAL_ERROR "expected 4/2/1/3/2 records, got ${steps}/${variants}/${params}/${configs}/${collectives}")
endif()
message(STATUS "bench_tp smoke: JSON complete\n${err}")
