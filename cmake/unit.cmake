# Run at install time (install(CODE) in cmake/install.cmake): write the unit
# with the absolute paths of this install, so that
# `cmake --install build --prefix DIR` gets a unit whose ExecStart= names the
# daemon it installed. The source unit names /usr/sbin, /usr/bin and
# /usr/share/doc, and is copied unchanged for the prefix /usr.
# Inputs: IB_UNIT_SOURCE, IB_UNIT_OUTPUT, IB_SBINDIR, IB_BINDIR, IB_DOCDIR
# (relative to CMAKE_INSTALL_PREFIX, or absolute).

foreach(_var IB_UNIT_SOURCE IB_UNIT_OUTPUT IB_SBINDIR IB_BINDIR IB_DOCDIR)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "unit.cmake: ${_var} is not set")
  endif()
endforeach()

function(ib_full_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

ib_full_dir(_sbindir "${IB_SBINDIR}")
ib_full_dir(_bindir "${IB_BINDIR}")
ib_full_dir(_docdir "${IB_DOCDIR}")
file(READ "${IB_UNIT_SOURCE}" _unit)
foreach(_pair "/usr/sbin/iotdb-backupd|${_sbindir}/iotdb-backupd"
              "/usr/bin/iotdb-backupctl|${_bindir}/iotdb-backupctl"
              "/usr/share/doc/iotdb-backupd|${_docdir}")
  string(REPLACE "|" ";" _pair "${_pair}")
  list(GET _pair 0 _from)
  list(GET _pair 1 _to)
  string(FIND "${_unit}" "${_from}" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "${IB_UNIT_SOURCE} does not mention ${_from}: update cmake/unit.cmake")
  endif()
  string(REPLACE "${_from}" "${_to}" _unit "${_unit}")
endforeach()
file(WRITE "${IB_UNIT_OUTPUT}.tmp" "${_unit}")
file(RENAME "${IB_UNIT_OUTPUT}.tmp" "${IB_UNIT_OUTPUT}")
