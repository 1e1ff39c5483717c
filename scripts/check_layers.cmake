# The layer check: fails when a file of src/<FOLDER>/ includes a header from a folder of
# src/ that FOLDER's library does not link, directly or through the folders it links
# (MAY). CMakeLists.txt's oa_folder() runs it before the folder's library compiles, so
# a wrong include fails the build, with the line that made it:
#   cmake -DSRC=<repo>/src -DFOLDER=observe -DMAY=base,net -DSTAMP=<file> -P check_layers.cmake
cmake_minimum_required(VERSION 3.20)  # a script sets the policies itself

foreach(var SRC FOLDER STAMP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_layers.cmake: -D${var}= is required")
  endif()
endforeach()

string(REPLACE "," ";" MAY "${MAY}")
file(GLOB files ${SRC}/${FOLDER}/*.h ${SRC}/${FOLDER}/*.cc ${SRC}/${FOLDER}/*.in)
set(wrong "")
foreach(file IN LISTS files)
  file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"[a-z_0-9]+/")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([a-z_0-9]+)/.*$" "\\1" used "${line}")
    if(IS_DIRECTORY ${SRC}/${used} AND NOT used STREQUAL FOLDER AND NOT used IN_LIST MAY)
      file(RELATIVE_PATH shown ${SRC}/.. ${file})
      string(STRIP "${line}" line)
      string(APPEND wrong "\n  ${shown}: ${line}")
    endif()
  endforeach()
endforeach()
if(wrong)
  string(REPLACE ";" ", " may "${MAY}")
  if(may STREQUAL "")
    set(may "no other folder")
  endif()
  message(FATAL_ERROR "layers: src/${FOLDER}/ may include ${may} "
                      "(CMakeLists.txt, oa_folder ${FOLDER}); these do not:${wrong}")
endif()
file(TOUCH ${STAMP})
