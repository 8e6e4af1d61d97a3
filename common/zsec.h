/* Transport security for every ZeroMQ socket: CURVE (elliptic-curve
 * encryption of each connection) and, with a list of authorized client
 * keys, authentication of every peer through a ZAP handler. Off unless
 * BILLOW_CURVE_SECRET_KEY is set; off, connections are plain TCP, for
 * loopback or a private network only.
 *
 * Settings (keys in Z85, 40 characters; `billctl keygen` makes a pair):
 *   BILLOW_CURVE_SECRET_KEY   this process's secret key
 *   BILLOW_CURVE_SERVER_KEY   the public key of the services' sockets
 *                             (default: this process's own public key, so a
 *                             deployment can share one pair)
 *   BILLOW_CURVE_CLIENT_KEYS  a file of client public keys allowed to
 *                             connect, one per line (the first word; the
 *                             rest of the line and lines starting "# " are
 *                             comments);
 *                             the server's own key is always allowed.
 *                             Unset: any client that has the server key. */
#ifndef BW_ZSEC_H
#define BW_ZSEC_H

#include <ev.h>
#include <stdbool.h>

/* Reads the settings once; BW_EINVAL (logged) when a key or the key file
 * is unusable. The functions below call it themselves. */
int bw_zsec_init(void);
bool bw_zsec_on(void);
/* Before bind / connect: sets CURVE options when on. 0, BW_EINVAL for bad
 * settings, BW_EIO when the socket refuses them. */
int bw_zsec_server(void *sock);
int bw_zsec_client(void *sock);

/* The ZAP handler that checks client keys, driven by the loop; must start
 * before the server sockets of the same context accept connections. When
 * CURVE is off or every client is allowed it does nothing and *out is
 * NULL. 0 or a negative error. */
typedef struct bw_zap bw_zap_t;
int bw_zap_start(struct ev_loop *loop, void *zctx, bw_zap_t **out);
void bw_zap_stop(bw_zap_t **pz);

/* Writes a new key pair (Z85, 41 bytes each with the NUL): 0 or BW_EIO. */
int bw_zsec_keygen(char public_key[41], char secret_key[41]);

#endif
