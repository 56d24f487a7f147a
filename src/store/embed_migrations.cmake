# Generates a C++ file holding every migrations/<dialect>/NNNN_*.sql as a string.
# Inputs: SOURCE_DIR (the store module), OUTPUT (the .cpp to write).
file(GLOB files RELATIVE "${SOURCE_DIR}/migrations" "${SOURCE_DIR}/migrations/*/*.sql")
list(SORT files)
set(body "")
foreach(file IN LISTS files)
  file(READ "${SOURCE_DIR}/migrations/${file}" sql)
  string(REGEX MATCH "^([a-z]+)/([0-9]+)_([^.]+)\\.sql$" _ "${file}")
  math(EXPR version "${CMAKE_MATCH_2}")  # "0010" -> 10 (a leading zero would read as octal in C++)
  set(body "${body}    {\"${CMAKE_MATCH_1}\", ${version}, \"${CMAKE_MATCH_3}\", R\"beta500sql(${sql})beta500sql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from src/store/migrations by embed_migrations.cmake. Do not edit.\n#include \"store/migrations.h\"\n\nnamespace beta500::store {\n\nconst std::vector<Migration>& AllMigrations() {\n    static const std::vector<Migration> kMigrations = {\n${body}    };\n    return kMigrations;\n}\n\n}  // namespace beta500::store\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
