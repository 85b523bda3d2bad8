# bench_dispatch on 2 Gloo ranks through dtensor-run.
include(${CMAKE_CURRENT_LIST_DIR}/run.cmake)
smoke_run(${LAUNCHER} --nproc-per-node 2 --no-prefix ${BENCH} --repeats 1 --min-block-ms 1
          --steps 2 --params 4 --adamw-shapes 8x8)
smoke_json(world world_size)
string(JSON ops LENGTH "${out}" ops)
string(JSON adamw LENGTH "${out}" adamw)
string(JSON hit_rate ERROR_VARIABLE json_error GET "${out}" cache hit_rate)
# 8 op cases, 1 AdamW shape, a cache record
if(NOT world EQUAL 2 OR NOT ops EQUAL 8 OR NOT adamw EQUAL 1 OR json_error)
  message(FATAL_ERROR "expected world_size 2, 8 ops, 1 adamw record and cache.hit_rate; got "
                      "${world}, ${ops}, ${adamw}, ${json_error}\nstdout:\n${out}")
endif()
message(STATUS "bench_dispatch smoke: ${ops} ops, ${adamw} adamw record, cache hit rate ${hit_rate}")
