/* UTF-8 and text-field validation for tickets (see text.h). */
#include "feedback/text.h"

#include "errors.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decodes one code point at s (n bytes left); returns its length, or 0 when
 * the sequence is malformed. */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t min, c;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, min = 0x80, c = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, min = 0x800, c = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

bool fb_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = decode(p + i, len - i, &cp);
        if (k == 0 || cp == 0)
            return false;
        i += k;
    }
    return true;
}

size_t fb_utf8_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

int fb_text_check(const char *name, const char *s, size_t max, bool required, bool multiline,
                  char *err, size_t errlen)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0) {
        if (!required)
            return 0;
        snprintf(err, errlen, "%s: required, must not be empty", name);
        return BW_EINVAL;
    }
    if (len > max) {
        snprintf(err, errlen, "%s: too long (%zu bytes, at most %zu)", name, len, max);
        return BW_EINVAL;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    bool visible = false;
    while (i < len) {
        uint32_t cp;
        size_t k = decode(p + i, len - i, &cp);
        if (k == 0) {
            snprintf(err, errlen, "%s: not valid UTF-8 (at byte %zu)", name, i);
            return BW_EINVAL;
        }
        bool ws = cp == '\t' || cp == '\n' || cp == '\r';
        if ((cp < 0x20 && !(ws && multiline)) || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) ||
            cp == 0x2028 || cp == 0x2029) {
            snprintf(err, errlen, "%s: control character U+%04X not allowed (at byte %zu)",
                     name, (unsigned)cp, i);
            return BW_EINVAL;
        }
        if (!ws && cp != ' ' && cp != 0x3000)
            visible = true;
        i += k;
    }
    if (!visible) {
        snprintf(err, errlen, "%s: must not be blank", name);
        return BW_EINVAL;
    }
    return 0;
}
