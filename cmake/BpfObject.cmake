# bpf_object(NAME SOURCES a.bpf.c [b.bpf.c ...] [INCLUDES dir ...])
#
# Compiles each source with clang for the BPF target, links the objects into
# one with `bpftool gen object`, generates `NAME.skel.h` into the build tree
# and exposes an INTERFACE target `NAME_skel` that carries the skeleton's
# include directory and libbpf. Nothing is written into the source tree.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "leakscope: no vmlinux.h for ${CMAKE_SYSTEM_PROCESSOR}")
endif()

function(bpf_object NAME)
  cmake_parse_arguments(ARG "" "" "SOURCES;INCLUDES;DEPENDS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "bpf_object(${NAME}): SOURCES is required")
  endif()

  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf/${NAME})
  set(include_flags
      -I${PROJECT_SOURCE_DIR}/vmlinux/${BPF_TARGET_ARCH}
      -I${PROJECT_SOURCE_DIR}/bpf)
  # The multiarch directory last: libbpf's usdt.bpf.h includes
  # <linux/errno.h>, whose <asm/errno.h> lives there on Debian.
  if(CMAKE_LIBRARY_ARCHITECTURE)
    list(APPEND include_flags -idirafter /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
  endif()
  foreach(dir IN LISTS ARG_INCLUDES)
    list(APPEND include_flags -I${dir})
  endforeach()

  set(objects)
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(base ${src} NAME_WE)
    get_filename_component(abs ${src} ABSOLUTE)
    set(obj ${out_dir}/${base}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${BPF_TARGET_ARCH}
              -Wall -Werror ${include_flags} -c ${abs} -o ${obj}
      DEPENDS ${abs} ${ARG_DEPENDS}
      IMPLICIT_DEPENDS C ${abs}
      COMMENT "BPF ${NAME}: compiling ${base}.bpf.c"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()

  set(linked ${out_dir}/${NAME}.bpf.o)
  set(skel ${out_dir}/${NAME}.skel.h)
  add_custom_command(
    OUTPUT ${linked} ${skel}
    COMMAND ${BPFTOOL} gen object ${linked} ${objects}
    COMMAND ${BPFTOOL} gen skeleton ${linked} name ${NAME} > ${skel}
    DEPENDS ${objects}
    COMMENT "BPF ${NAME}: linking and generating skeleton"
    VERBATIM)
  add_custom_target(${NAME}_bpf DEPENDS ${skel})

  add_library(${NAME}_skel INTERFACE)
  add_dependencies(${NAME}_skel ${NAME}_bpf)
  target_include_directories(${NAME}_skel INTERFACE ${out_dir} ${PROJECT_SOURCE_DIR}/bpf)
  target_link_libraries(${NAME}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
