# Registered by tests/CMakeLists.txt; see the scripts it names.

# HDF5 inputs that lie or change, and valid ones stored unusually (bad_h5input.sh): for
# `register` and for `slices`; a dataset whose chunks were never written at every rank count.
set(SF_H5IN ${CMAKE_CURRENT_SOURCE_DIR}/bad/bad_h5input.sh)
foreach(c userblock vds external external-short vds-missing vds-short)
  add_test(NAME bad.input.${c} COMMAND bash ${SF_H5IN} ${c} ${SF_WORK}/badin-${c} 2 register)
  add_test(NAME bad.input.slices-${c}
           COMMAND bash ${SF_H5IN} ${c} ${SF_WORK}/badin-slices-${c} 2 slices)
endforeach()
add_test(NAME bad.input.vds.np3 COMMAND bash ${SF_H5IN} vds ${SF_WORK}/badin-vds3 3 register)
foreach(np 1 2 3 4)
  add_test(NAME bad.input.fill.np${np}
           COMMAND bash ${SF_H5IN} fill ${SF_WORK}/badin-fill${np} ${np} register)
endforeach()
add_test(NAME bad.input.slices-fill COMMAND bash ${SF_H5IN} fill ${SF_WORK}/badin-slices-fill 3 slices)
add_test(NAME bad.input.truncated-running
         COMMAND bash ${SF_H5IN} truncated-running ${SF_WORK}/badin-truncated-running 2 register)
set_tests_properties(bad.input.fill.np1 bad.input.fill.np2 bad.input.fill.np3 bad.input.fill.np4
                     PROPERTIES TIMEOUT 180)
add_test(NAME bad.input.slices-truncated-running
         COMMAND bash ${SF_H5IN} truncated-running ${SF_WORK}/badin-slices-truncated-running 2 slices)
add_test(NAME bad.input.ref-vds-missing
         COMMAND bash ${SF_H5IN} ref-vds-missing ${SF_WORK}/badin-ref-vds-missing 2 register)
