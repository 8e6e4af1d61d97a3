/* Names for the BW_E codes. */
#include "errors.h"

const char *bw_strerror(int code)
{
    switch (code) {
    case BW_OK: return "ok";
    case BW_EINVAL: return "invalid input";
    case BW_ENOMEM: return "out of memory";
    case BW_EDB: return "database error";
    case BW_EUNAVAIL: return "unavailable";
    case BW_ENOTFOUND: return "not found";
    case BW_ECONFLICT: return "conflict";
    case BW_ETIMEOUT: return "timed out";
    case BW_EIO: return "i/o error";
    case BW_ETOOBIG: return "too large";
    case BW_EPROTO: return "malformed message";
    default: return "unknown error";
    }
}
