# `cpack -G DEB`: the Debian package iotdb-backupd.
#
# Build it from a tree configured for the system layout:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr
#   cmake --build build -j2 && (cd build && cpack -G DEB)
# cpack refuses other prefixes (cmake/cpack-project.cmake): the unit, the
# configuration directory and the maintainer scripts assume /usr and /etc.
#
# The maintainer scripts (packaging/deb/) create the service user, reload
# systemd's view of the units and never enable, start or restart the service:
# the operator decides when it runs (see packaging/deb/postinst).

set(CPACK_PACKAGE_NAME "iotdb-backupd")
set(CPACK_PACKAGE_VENDOR "iotdb-backupd developers")
set(CPACK_PACKAGE_CONTACT "iotdb-backupd developers <iotdb-backupd@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "backup scheduler daemon for Apache IoTDB")
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; CPack indents these
# lines and turns the empty one into the " ." paragraph break.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "iotdb-backupd backs up the data of selected Apache IoTDB databases,
periodically or on demand, to a local directory or to a remote HDFS
cluster (WebHDFS), keeps a fixed number of self-contained copies as
snapshots and restores them. It runs as the systemd service
iotdb-backupd and is driven with iotdb-backupctl.

Installing the package neither enables nor starts the service: add task
files to /etc/iotdb-backupd/tasks.d, then enable it with
systemctl enable --now iotdb-backupd.")
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
# Absolute destinations (/etc, the systemd directories) go below the staging
# directory too.
set(CPACK_SET_DESTDIR ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # iotdb-backupd_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Library dependencies from the binaries (dpkg-shlibdeps, package dpkg-dev);
# systemd for systemd-sysusers and the unit.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")

# conffiles: the settings file, so that dpkg keeps an operator's changes on
# upgrades and asks before replacing them. tasks.d holds the operator's own
# files, which dpkg never touches.
set(_ib_deb_dir "${CMAKE_BINARY_DIR}/deb")
file(MAKE_DIRECTORY "${_ib_deb_dir}")
file(WRITE "${_ib_deb_dir}/conffiles.tmp" "${IB_CONFIG_DIR}/iotdb-backupd.conf\n")
file(COPY_FILE "${_ib_deb_dir}/conffiles.tmp" "${_ib_deb_dir}/conffiles" ONLY_IF_DIFFERENT)
file(REMOVE "${_ib_deb_dir}/conffiles.tmp")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_ib_deb_dir}/conffiles;${PROJECT_SOURCE_DIR}/packaging/deb/postinst;${PROJECT_SOURCE_DIR}/packaging/deb/prerm;${PROJECT_SOURCE_DIR}/packaging/deb/postrm"
)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

# Checked when cpack runs, not at configure time: a build for another prefix
# is fine, only packaging it is not.
set(CPACK_PROJECT_CONFIG_FILE "${PROJECT_SOURCE_DIR}/cmake/cpack-project.cmake")
set(CPACK_IB_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_IB_CONFIG_DIR "${IB_CONFIG_DIR}")
set(CPACK_IB_SANITIZE "${IB_SANITIZE}")

include(CPack)
