/* Checks on the free text customers and operators type into tickets: valid
 * UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), a
 * bounded size, and no control characters that could corrupt a terminal or
 * a log (tab and line breaks are allowed where a field may span lines).
 * Pure functions, unit-tested in tests/unit/feedback_test.c. */
#ifndef FB_TEXT_H
#define FB_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#define FB_TEXT_MAX 8192

/* True when s[0..len) is well-formed UTF-8. */
bool fb_utf8_valid(const char *s, size_t len);
/* Number of code points in a valid UTF-8 string. */
size_t fb_utf8_len(const char *s);

/* Validates a text field: 1..max bytes (0 when empty is allowed and
 * `required` is false), valid UTF-8, no control characters but \t \n \r when
 * multiline. Returns 0, or BW_EINVAL with "name: reason" in err. */
int fb_text_check(const char *name, const char *s, size_t max, bool required, bool multiline,
                  char *err, size_t errlen);

#endif
