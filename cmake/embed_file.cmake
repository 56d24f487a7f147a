# Generates a C++ file defining `std::string_view NAME()` that returns the bytes of INPUT.
# Inputs: INPUT, OUTPUT, NAME (a qualified function name), HEADER (to include).
file(READ "${INPUT}" content)
string(REGEX MATCH "^(.*)::([^:]+)$" _ "${NAME}")
set(namespace "${CMAKE_MATCH_1}")
set(function "${CMAKE_MATCH_2}")
file(WRITE "${OUTPUT}.tmp" "// Generated from ${INPUT} by embed_file.cmake. Do not edit.\n#include \"${HEADER}\"\n\nnamespace ${namespace} {\n\nstd::string_view ${function}() {\n    static constexpr std::string_view kContent = R\"beta500embed(${content})beta500embed\";\n    return kContent;\n}\n\n}  // namespace ${namespace}\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
