# ---- `slabflow eeg` (issue 14): its kernels and the command end to end -------------------

# Upsampling and back in thread-shared work items: against the one-transform resampling, a
# plain truncated spectrum, the identity, and the same bytes for 1-3 threads.
add_executable(test_eeg_updown unit/test_eeg_updown.c)
target_link_libraries(test_eeg_updown PRIVATE sf_kernels PkgConfig::CUNIT OpenMP::OpenMP_C)
add_test(NAME unit.eeg_updown COMMAND test_eeg_updown)
set_tests_properties(unit.eeg_updown PROPERTIES TIMEOUT 120 LABELS unit)

# `slabflow eeg` end to end (tests/mpi/eeg.sh): quality against the synth truth, determinism
# over ranks and threads, a trigger channel, acquisition blocks, BrainVision input.
add_executable(sf_eeg_score tools/sf_eeg_score.c)
target_link_libraries(sf_eeg_score PRIVATE sf_io m)
foreach(c quality determinism trigchan blocks edge options edfout brainvision)
  add_test(NAME eeg.${c}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/eeg.sh ${c} ${SF_WORK}/eeg_${c} $<TARGET_FILE:sf_eeg_score>)
  set_tests_properties(eeg.${c} PROPERTIES TIMEOUT 600 ENVIRONMENT "${SF_TEST_ENV}")
endforeach()

# Bad input (issue 14 point 8, tests/bad/bad_eeg.sh): one clean error, exit 2, no hang, no
# output, inputs unchanged; at np 2, and some at np 1 and 3.
set(SF_BADEEG ${CMAKE_CURRENT_SOURCE_DIR}/bad/bad_eeg.sh)
foreach(c regex-nomatch no-annotations regex-invalid trigchan-missing trigchan-no-threshold
          trigchan-never too-few-epochs mixed-rates truncated not-edf missing-file
          unknown-channel unknown-exclude unknown-ref bv-truncated bv-truncated-half
          bv-missing-data out-is-in edf-out-is-in edf-out-is-out edf-out-dir-missing
          out-dir-missing upsample0 aas-threshold2)
  add_test(NAME bad.eeg.${c}
           COMMAND bash ${SF_BADEEG} ${c} ${SF_WORK}/badeeg-${c} $<TARGET_FILE:sf_eeg_score> 2)
endforeach()
foreach(c regex-nomatch too-few-epochs truncated unknown-channel)
  foreach(np 1 3)
    add_test(NAME bad.eeg.${c}.np${np}
             COMMAND bash ${SF_BADEEG} ${c} ${SF_WORK}/badeeg-${c}-${np} $<TARGET_FILE:sf_eeg_score> ${np})
  endforeach()
endforeach()
get_property(sf_badeeg_tests DIRECTORY PROPERTY TESTS)
list(FILTER sf_badeeg_tests INCLUDE REGEX "^bad\\.eeg\\.")
set_tests_properties(${sf_badeeg_tests} PROPERTIES TIMEOUT 180 ENVIRONMENT "${SF_TEST_ENV}")

# AAS kernels, each MATLAB-FACET decision named (specs/eeg.md decision 1).
add_executable(test_eeg_aas unit/test_eeg_aas.c)
target_link_libraries(test_eeg_aas PRIVATE sf_kernels PkgConfig::CUNIT m)
add_test(NAME unit.eeg_aas COMMAND test_eeg_aas)
set_tests_properties(unit.eeg_aas PROPERTIES TIMEOUT 60 LABELS unit)
