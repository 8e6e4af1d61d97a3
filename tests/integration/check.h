/* The check of the C integration tests: prints "ok  WHAT" or "FAIL WHAT"
 * (the condition is evaluated once) and counts failures; a test ends with
 * `return failures ? 1 : 0`. */
#ifndef BW_TEST_CHECK_H
#define BW_TEST_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        int ok_ = (cond);                                                                          \
        printf("%s %s\n", ok_ ? "ok  " : "FAIL", what);                                            \
        if (!ok_)                                                                                  \
            failures++;                                                                            \
    } while (0)

#endif
