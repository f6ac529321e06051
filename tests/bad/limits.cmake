# Registered by tests/CMakeLists.txt; see the scripts it names.
# Limits: absurd sizes refused before allocation with the memory they would need (exit 4), or
# by the output's disk check (exit 3) where only the output is absurd; small defects of the
# command line and of slices inputs (exit 2). tests/bad/bad_limits.sh checks each outcome.
add_executable(test_limits unit/test_limits.c)
target_link_libraries(test_limits PRIVATE sf_pipelines PkgConfig::CUNIT)
add_test(NAME unit.limits COMMAND test_limits)
set_tests_properties(unit.limits PROPERTIES TIMEOUT 60 LABELS unit)

set(SF_LIMITS ${CMAKE_CURRENT_SOURCE_DIR}/bad/bad_limits.sh)
foreach(c frames-1e9 frame-huge buffer-size slice-huge slices-deep slices-buffer-size)
  foreach(np 1 2)
    add_test(NAME bad.limits.${c}.np${np} COMMAND bash ${SF_LIMITS} ${c} ${SF_WORK}/limits-${c}-${np} ${np})
    set_tests_properties(bad.limits.${c}.np${np} PROPERTIES TIMEOUT 180)
  endforeach()
endforeach()
# A rank count that leaves ranks without frames or slices.
add_test(NAME bad.limits.frame-huge.np3 COMMAND bash ${SF_LIMITS} frame-huge ${SF_WORK}/limits-frame-huge-3 3)
add_test(NAME bad.limits.slices-deep.np3 COMMAND bash ${SF_LIMITS} slices-deep ${SF_WORK}/limits-slices-deep-3 3)

foreach(c register-missing-value register-missing-output slices-missing-value
          synth-video-missing-value synth-volumes-missing-value seed-hex label-dangling
          scl-inter-inf name-collision name-collision-dir)
  add_test(NAME bad.cli.${c} COMMAND bash ${SF_LIMITS} ${c} ${SF_WORK}/cli-${c} 2)
endforeach()
add_test(NAME bad.cli.seed-decimal COMMAND bash ${SF_LIMITS} seed-decimal ${SF_WORK}/cli-seed-decimal)
