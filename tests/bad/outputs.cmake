# Registered by tests/CMakeLists.txt; see the scripts it names.
