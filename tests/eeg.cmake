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
