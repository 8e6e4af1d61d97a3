/* Error codes shared by every module: functions return 0 or a negative BW_E
 * code. bw_strerror names them for logs and replies. */
#ifndef BW_ERRORS_H
#define BW_ERRORS_H

enum {
    BW_OK = 0,
    BW_EINVAL = -1,   /* bad input */
    BW_ENOMEM = -2,
    BW_EDB = -3,      /* a database statement failed */
    BW_EUNAVAIL = -4, /* the database or a peer is unreachable */
    BW_ENOTFOUND = -5,
    BW_ECONFLICT = -6,
    BW_ETIMEOUT = -7,
    BW_EIO = -8,
    BW_ETOOBIG = -9,
    BW_EPROTO = -10,  /* a message that does not decode */
};

const char *bw_strerror(int code);

#endif
