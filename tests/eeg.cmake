# ---- `slabflow eeg` (issue 14): its kernels and the command end to end -------------------

# Upsampling and back in thread-shared work items: against the one-transform resampling, a
# plain truncated spectrum, the identity, and the same bytes for 1-3 threads.
add_executable(test_eeg_updown unit/test_eeg_updown.c)
target_link_libraries(test_eeg_updown PRIVATE sf_kernels PkgConfig::CUNIT OpenMP::OpenMP_C)
add_test(NAME unit.eeg_updown COMMAND test_eeg_updown)
set_tests_properties(unit.eeg_updown PROPERTIES TIMEOUT 120 LABELS unit)
