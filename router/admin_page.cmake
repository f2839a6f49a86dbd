# Embeds the admin dashboard (router/admin_page.html) into the binary: run as
#   cmake -DIN=page.html -DOUT=admin_page.c -P admin_page.cmake
# it writes a C file defining admin_page[] (the bytes, NUL-terminated for convenience) and
# admin_page_len (without the NUL), declared in router/admin.c. Run by the build, never by hand.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# One line of C per line of HTML, so that the generated file stays readable.
string(REPLACE "0x0a," "0x0a,\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
"/* Generated from router/admin_page.html by router/admin_page.cmake: do not edit. */\n"
"#include <stddef.h>\n"
"extern const unsigned char admin_page[];\n"
"extern const size_t admin_page_len;\n"
"const unsigned char admin_page[] = {\n${bytes}0x00\n};\n"
"const size_t admin_page_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
