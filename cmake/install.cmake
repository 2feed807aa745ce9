# Install rules: a layout that systemd and Debian expect.
#
# Programs, docs and man pages follow GNUInstallDirs; the configuration goes
# to CMAKE_INSTALL_FULL_SYSCONFDIR (/etc with the prefix /usr). systemd's own
# directories come from pkg-config's "systemd" module, so the unit lands
# where this distribution looks for units (/lib/systemd/system on Debian 12).
# Every directory is a cache variable an operator or packager can override.
# Configure with -DCMAKE_INSTALL_PREFIX=/usr for a system install: the daemon
# looks for /etc/iotdb-backupd by default, whatever the prefix.

# A directory from pkg-config (module, variable), else the fallback.
function(ib_pkg_dir out module variable fallback)
  pkg_get_variable(_dir ${module} ${variable})
  if(NOT _dir)
    message(STATUS "pkg-config ${module} has no ${variable}; using ${fallback}")
    set(_dir "${fallback}")
  endif()
  set(${out} "${_dir}" PARENT_SCOPE)
endfunction()

ib_pkg_dir(_ib_unitdir systemd systemdsystemunitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
ib_pkg_dir(_ib_sysusersdir systemd sysusersdir "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")
ib_pkg_dir(_ib_catalogdir systemd catalogdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/catalog")
ib_pkg_dir(_ib_completionsdir bash-completion completionsdir
           "${CMAKE_INSTALL_DATADIR}/bash-completion/completions")

set(IB_SYSTEMD_UNIT_DIR "${_ib_unitdir}" CACHE PATH "Where the systemd unit is installed")
set(IB_SYSUSERS_DIR "${_ib_sysusersdir}" CACHE PATH "Where the sysusers.d file is installed")
set(IB_CATALOG_DIR "${_ib_catalogdir}" CACHE PATH "Where the journal catalog is installed")
set(IB_BASH_COMPLETION_DIR "${_ib_completionsdir}" CACHE PATH
    "Where the bash completion is installed")
set(IB_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/iotdb-backupd" CACHE PATH
    "Configuration directory (iotdb-backupd.conf and tasks.d/)")

# The programs themselves are installed by the top-level CMakeLists.txt.

# The unit names the programs and the docs by absolute path: it is written at
# install time with the paths of this install (cmake/unit.cmake), so that
# `cmake --install build --prefix /usr` gets a unit for /usr.
set(_ib_unit_out "${CMAKE_BINARY_DIR}/systemd/iotdb-backupd.service")
install(CODE "
  set(IB_UNIT_SOURCE \"${PROJECT_SOURCE_DIR}/systemd/iotdb-backupd.service\")
  set(IB_UNIT_OUTPUT \"${_ib_unit_out}\")
  set(IB_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
  set(IB_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(IB_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/unit.cmake\")
")
install(FILES "${_ib_unit_out}" DESTINATION "${IB_SYSTEMD_UNIT_DIR}")

install(FILES ${PROJECT_SOURCE_DIR}/systemd/iotdb-backupd.sysusers DESTINATION "${IB_SYSUSERS_DIR}"
        RENAME iotdb-backupd.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/iotdb-backupd.catalog DESTINATION "${IB_CATALOG_DIR}")
install(FILES ${PROJECT_SOURCE_DIR}/conf/bash-completion/iotdb-backupctl DESTINATION "${IB_BASH_COMPLETION_DIR}")

# The default settings (a conffile in the .deb) and an empty tasks.d; the
# example tasks are documentation, never active tasks.
install(FILES ${PROJECT_SOURCE_DIR}/conf/iotdb-backupd.conf DESTINATION "${IB_CONFIG_DIR}")
install(DIRECTORY DESTINATION "${IB_CONFIG_DIR}/tasks.d")
install(FILES ${PROJECT_SOURCE_DIR}/conf/iotdb-backupd.conf DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/conf/tasks.d DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples"
        FILES_MATCHING PATTERN "*.json")
file(GLOB _ib_docs CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/*.md")
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${_ib_docs} DESTINATION "${CMAKE_INSTALL_DOCDIR}")

# Man pages, built from docs/man/*.scd with scdoc (compressed, as Debian
# ships them).
find_program(SCDOC scdoc)
find_program(GZIP gzip)
if(SCDOC AND GZIP)
  file(GLOB _ib_man_sources CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/docs/man/*.scd")
  set(_ib_man_pages "")
  foreach(_src ${_ib_man_sources})
    get_filename_component(_page "${_src}" NAME_WLE) # iotdb-backupd.8
    string(REGEX MATCH "[0-9]$" _section "${_page}")
    set(_out "${CMAKE_BINARY_DIR}/man/${_page}")
    add_custom_command(
      OUTPUT "${_out}" "${_out}.gz"
      COMMAND ${CMAKE_COMMAND} -DSCDOC=${SCDOC} -DGZIP=${GZIP} -DMAN_SOURCE=${_src} -DMAN_PAGE=${_out} -P
              "${CMAKE_SOURCE_DIR}/cmake/scdoc.cmake"
      DEPENDS "${_src}" "${CMAKE_SOURCE_DIR}/cmake/scdoc.cmake"
      COMMENT "Building man page ${_page}"
      VERBATIM)
    list(APPEND _ib_man_pages "${_out}")
    install(FILES "${_out}.gz" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${_section}")
  endforeach()
  add_custom_target(man ALL DEPENDS ${_ib_man_pages})
else()
  message(STATUS "scdoc or gzip not found: the man pages are not built or installed "
                 "(HINT: apt-get install scdoc)")
endif()

# /usr/share/doc/iotdb-backupd/copyright in Debian's machine-readable format
# (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/). The
# program is under the Apache License 2.0 (LICENSE); Debian keeps that text
# in /usr/share/common-licenses, so the file points there (policy 12.5).
set(_ib_copyright "${CMAKE_BINARY_DIR}/doc/copyright")
set(_ib_copyright_text
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: iotdb-backupd
Upstream-Contact: iotdb-backupd developers <iotdb-backupd@localhost>

Files: *
Copyright: 2026 iotdb-backupd developers
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the \"License\");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an \"AS IS\" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in \"/usr/share/common-licenses/Apache-2.0\".
")
file(CONFIGURE OUTPUT "${_ib_copyright}" CONTENT "${_ib_copyright_text}")
install(FILES "${_ib_copyright}" DESTINATION "${CMAKE_INSTALL_DOCDIR}")
