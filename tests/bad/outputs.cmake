# Output safety (tests/bad/bad_output.sh): an output never replaces an input, one output
# belongs to one job, a full disk stops every rank count with exit 3 and one message.
set(SF_BADOUT ${CMAKE_CURRENT_SOURCE_DIR}/bad/bad_output.sh)
foreach(c reg-partial-is-input reg-out-is-reference reg-out-links-to-input reg-partial-hardlink
          slices-out-is-volume slices-out-is-h5-volume slices-out-is-manifest slices-out-is-label
          slices-partial-is-image second-run stale-lock disk-filled-by-others no-size-fs)
  add_test(NAME bad.output.${c} COMMAND bash ${SF_BADOUT} ${c} ${SF_WORK}/badout-${c} 2)
endforeach()
foreach(c disk-small-register disk-small-slices disk-fills-register disk-fills-slices)
  foreach(np 1 2 3 4)
    add_test(NAME bad.output.${c}.np${np} COMMAND bash ${SF_BADOUT} ${c} ${SF_WORK}/badout-${c}-${np} ${np})
  endforeach()
endforeach()
add_test(NAME bad.output.disk-stall COMMAND bash ${SF_BADOUT} disk-stall ${SF_WORK}/badout-stall 2)
get_property(sf_badout_tests DIRECTORY PROPERTY TESTS)
list(FILTER sf_badout_tests INCLUDE REGEX "^bad\\.output\\.")
set_tests_properties(${sf_badout_tests} PROPERTIES SKIP_RETURN_CODE 77)

# The bounded agreement that stops a job stuck in a collective write.
add_executable(test_agree_within mpi/agree_within.c)
target_link_libraries(test_agree_within PRIVATE sf_mpi)
add_test(NAME mpi.agree_within
         COMMAND bash -c "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 --oversubscribe --bind-to none $<TARGET_FILE:test_agree_within>")
