# Shared by the bench smoke checks (cmake -P scripts, registered in bench/CMakeLists.txt). They run
# a benchmark with tiny sizes and one repeat and check its exit code and the shape of its JSON,
# never the timings, so a benchmark cannot rot unnoticed.

# Runs the command; fails on a non-zero exit. Leaves stdout in `out` and stderr in `err`.
macro(smoke_run)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "${command}\nexited with ${rc}\nstdout:\n${out}\nstderr:\n${err}")
  endif()
endmacro()

# var = the JSON member at the given path of stdout; fails when stdout is not that JSON.
macro(smoke_json var)
  string(JSON ${var} ERROR_VARIABLE json_error GET "${out}" ${ARGN})
  if(json_error)
    message(FATAL_ERROR "stdout is not the expected JSON: ${json_error}\nstdout:\n${out}")
  endif()
endmacro()
