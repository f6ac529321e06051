# Registered by tests/CMakeLists.txt: what the fuzzers (tests/fuzz) found, through slabflow
# (bad_fuzz.sh); the harnesses rerun the saved inputs themselves in the fuzz build.
foreach(c cli-range-negative vhdr-marker-line)
  add_test(NAME bad.fuzz.${c}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bad/bad_fuzz.sh ${c} ${SF_WORK}/badfuzz-${c})
  set_tests_properties(bad.fuzz.${c} PROPERTIES TIMEOUT 120)
endforeach()
