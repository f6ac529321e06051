# `slabflow integrate`: against pyFAI 0.21.3, the same bytes for any rank and thread count and
# any storage of the frames, and one clean error for every bad input (tests/mpi/integrate_*.sh,
# tests/bad/bad_integrate.sh).
set(SF_IT_DIR ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME integrate.pyfai COMMAND bash ${SF_IT_DIR}/mpi/integrate_pyfai.sh ${SF_WORK}/integrate_pyfai)
set_tests_properties(integrate.pyfai PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)

# The same bytes at np 1..4 x 1..2 threads as the np 1, 1-thread baseline, which the setup
# also compares with the none, gzip and shuffle+gzip (H5Dread) stores of the frames.
set(SF_IT_SAME ${SF_IT_DIR}/mpi/integrate_same.sh)
add_test(NAME integrate.same.setup COMMAND bash ${SF_IT_SAME} setup ${SF_WORK}/integrate_same)
set_tests_properties(integrate.same.setup PROPERTIES FIXTURES_SETUP integrate_same SKIP_RETURN_CODE 77)
foreach(np 1 2 3 4)
  foreach(th 1 2)
    if(np EQUAL 1 AND th EQUAL 1)
      continue()
    endif()
    add_test(NAME integrate.same.np${np}.t${th} COMMAND bash ${SF_IT_SAME} check ${SF_WORK}/integrate_same ${np} ${th})
    set_tests_properties(integrate.same.np${np}.t${th} PROPERTIES FIXTURES_REQUIRED integrate_same SKIP_RETURN_CODE 77)
  endforeach()
endforeach()

# Bad input: one clean error, no output, inputs unchanged.
set(SF_BADIT ${SF_IT_DIR}/bad/bad_integrate.sh)
foreach(c poni-malformed poni-incomplete poni-missing-file poni-shape mask-shape dark-shape
          flat-missing-ds 2d bins0 radial-range unit no-poni corrupt-chunk)
  add_test(NAME bad.integrate.${c} COMMAND bash ${SF_BADIT} ${c} ${SF_WORK}/badit-${c} 2)
endforeach()
foreach(c poni-shape mask-shape corrupt-chunk)
  foreach(np 1 3)
    add_test(NAME bad.integrate.${c}.np${np} COMMAND bash ${SF_BADIT} ${c} ${SF_WORK}/badit-${c}-${np} ${np})
  endforeach()
endforeach()

get_property(sf_it_tests DIRECTORY PROPERTY TESTS)
list(FILTER sf_it_tests INCLUDE REGEX "^(integrate\\.(pyfai|same)|bad\\.integrate\\.)")
set_tests_properties(${sf_it_tests} PROPERTIES ENVIRONMENT "${SF_TEST_ENV}")
foreach(t ${sf_it_tests})
  get_test_property(${t} TIMEOUT to)
  if(NOT to)
    set_tests_properties(${t} PROPERTIES TIMEOUT 180)
  endif()
  get_test_property(${t} SKIP_RETURN_CODE sk)
  if(NOT sk)
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endforeach()
