# ---- resumable jobs (issue 15): SIGKILL at crash points, --resume on other rank/thread counts,
# byte-identical ends, refusals (tests/mpi/resume.sh).
foreach(c register register-rigid slices integrate eeg)
  add_test(NAME resume.${c} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/resume.sh ${c} ${SF_WORK}/resume_${c})
  set_tests_properties(resume.${c} PROPERTIES TIMEOUT 900 ENVIRONMENT "${SF_TEST_ENV}" LABELS resume)
endforeach()
