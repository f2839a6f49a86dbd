# Install-time part of the install layout (CMakeLists.txt, "Install layout"), run by
# `cmake --install` after the variables SY_SRC, SY_BIN, SY_SYSCONFDIR, SY_SYSTEMD_UNITDIR,
# SY_SBINDIR and SY_DATADIR are set. CMAKE_INSTALL_PREFIX is the prefix of THIS install
# (--prefix wins over the configure-time one), so paths written into the files are the ones
# the installed daemon will see; DESTDIR is prepended by file(INSTALL) only.
#
# The operator's files in SYSCONFDIR are never overwritten: when switchyard.yaml or the
# logrotate snippet already exists (DESTDIR included) it is kept and a line says so. The
# shipped default is always installed as PREFIX/share/switchyard/switchyard.yaml, to diff
# against after an upgrade. Why not install it as switchyard.yaml.dist: the daemon and the
# unit read SYSCONFDIR/switchyard/switchyard.yaml, so a first install must put a working
# file there or the service could not start.

# sy_abs(OUT DIR): DIR made absolute against the install prefix.
function(sy_abs out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

# sy_install_keep(SRC DIR NAME): installs SRC as DIR/NAME unless that file exists.
function(sy_install_keep src dir name)
  if(EXISTS "$ENV{DESTDIR}${dir}/${name}")
    message(STATUS "Kept (exists, not overwritten): $ENV{DESTDIR}${dir}/${name}")
    return()
  endif()
  get_filename_component(srcname "${src}" NAME)
  if(NOT srcname STREQUAL name)
    set(staged "${SY_BIN}/install-staging/keep/${name}")
    configure_file("${src}" "${staged}" COPYONLY)
    set(src "${staged}")
  endif()
  file(INSTALL DESTINATION "${dir}" TYPE FILE FILES "${src}"
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endfunction()

sy_abs(sbindir "${SY_SBINDIR}")
sy_abs(datadir "${SY_DATADIR}")
sy_abs(unitdir "${SY_SYSTEMD_UNITDIR}")
set(SY_SBIN "${sbindir}")
set(SY_SHARE "${datadir}/switchyard")
set(SY_ETC "${SY_SYSCONFDIR}/switchyard")
set(stage "${SY_BIN}/install-staging")
configure_file("${SY_SRC}/conf.d/system/switchyard.yaml.in" "${stage}/switchyard.yaml" @ONLY)
configure_file("${SY_SRC}/conf.d/system/switchyard.service.in" "${stage}/switchyard.service" @ONLY)

file(INSTALL DESTINATION "${SY_SHARE}" TYPE FILE FILES "${stage}/switchyard.yaml")
file(INSTALL DESTINATION "${unitdir}" TYPE FILE FILES "${stage}/switchyard.service")
sy_install_keep("${stage}/switchyard.yaml" "${SY_ETC}" switchyard.yaml)
sy_install_keep("${SY_SRC}/conf.d/logrotate/switchyard" "${SY_SYSCONFDIR}/logrotate.d" switchyard)
# The drop-in folder the default configuration includes (empty).
file(MAKE_DIRECTORY "$ENV{DESTDIR}${SY_ETC}/conf.d")
