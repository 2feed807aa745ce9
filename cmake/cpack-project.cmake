# Run by cpack before it packages (CPACK_PROJECT_CONFIG_FILE): refuse to
# build a .deb from a tree whose layout a Debian system would not find.
if(CPACK_GENERATOR STREQUAL "DEB")
  if(NOT CPACK_IB_INSTALL_PREFIX STREQUAL "/usr" OR NOT CPACK_IB_CONFIG_DIR STREQUAL
                                                     "/etc/iotdb-backupd")
    message(FATAL_ERROR
      "iotdb-backupd: a .deb needs the prefix /usr and the configuration in /etc/iotdb-backupd, "
      "but this build has the prefix ${CPACK_IB_INSTALL_PREFIX} and the configuration in "
      "${CPACK_IB_CONFIG_DIR}. HINT: configure with -DCMAKE_INSTALL_PREFIX=/usr")
  endif()
  if(CPACK_IB_SANITIZE)
    message(FATAL_ERROR "iotdb-backupd: refusing to package a sanitizer build (IB_SANITIZE=ON)")
  endif()
endif()
