# strata_add_plugin(<target> SOURCES <files>... [LINK <targets>...] [OUTPUT_DIRECTORY <dir>] [INSTALL])
#
# Builds a Strata plugin library: a MODULE linked to Strata::sdk, compiled with hidden
# visibility and linked with a version script, so the only exported symbol is the entry
# point strata_plugin_negotiate. The file is named strata-<target>.so.
# A global property, so the function works from any directory of the including project.
set_property(GLOBAL PROPERTY STRATA_PLUGIN_VERSION_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/strata_plugin.map")

function(strata_add_plugin target)
  cmake_parse_arguments(ARG "INSTALL" "OUTPUT_DIRECTORY" "SOURCES;LINK" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "strata_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE Strata::sdk ${ARG_LINK})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "strata-${target}"
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  get_property(version_script GLOBAL PROPERTY STRATA_PLUGIN_VERSION_SCRIPT)
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${version_script}")
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${version_script}"
    "LINKER:--no-undefined")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  if(ARG_INSTALL)
    if(NOT DEFINED STRATA_PLUGIN_INSTALL_DIR)
      set(STRATA_PLUGIN_INSTALL_DIR lib/strata/plugins)
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${STRATA_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
