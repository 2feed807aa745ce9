# Build one man page: scdoc < MAN_SOURCE > MAN_PAGE, and MAN_PAGE.gz (gzip -9n: no name or
# time stamp, so the package is reproducible). Both are written to temporary
# names and renamed, so an interrupted build never leaves half a page.
# Usage: cmake -DSCDOC=... -DGZIP=... -DMAN_SOURCE=page.8.scd -DMAN_PAGE=build/man/page.8 -P scdoc.cmake

foreach(_var SCDOC GZIP MAN_SOURCE MAN_PAGE)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "scdoc.cmake: ${_var} is not set")
  endif()
endforeach()

get_filename_component(_dir "${MAN_PAGE}" DIRECTORY)
file(MAKE_DIRECTORY "${_dir}")
execute_process(COMMAND "${SCDOC}" INPUT_FILE "${MAN_SOURCE}" OUTPUT_FILE "${MAN_PAGE}.tmp"
                ERROR_VARIABLE _err RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  file(REMOVE "${MAN_PAGE}.tmp")
  message(FATAL_ERROR "scdoc failed on ${MAN_SOURCE}: ${_err}")
endif()
execute_process(COMMAND "${GZIP}" -9 -n -c INPUT_FILE "${MAN_PAGE}.tmp" OUTPUT_FILE "${MAN_PAGE}.gz.tmp"
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  file(REMOVE "${MAN_PAGE}.tmp" "${MAN_PAGE}.gz.tmp")
  message(FATAL_ERROR "gzip failed on the man page ${MAN_PAGE}")
endif()
file(RENAME "${MAN_PAGE}.tmp" "${MAN_PAGE}")
file(RENAME "${MAN_PAGE}.gz.tmp" "${MAN_PAGE}.gz")
