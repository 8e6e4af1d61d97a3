/* CURVE for every ZeroMQ socket, and the ZAP handler that checks client
 * keys (RFC 27, ZeroMQ Authentication Protocol). */
#define _POSIX_C_SOURCE 200809L
#include "zsec.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "zwatch.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define KEY_Z85 40
#define KEY_BIN 32

static struct {
    int rc; /* of the one-time set-up */
    bool on;
    char secret[KEY_Z85 + 1], public_key[KEY_Z85 + 1], server[KEY_Z85 + 1];
    uint8_t server_bin[KEY_BIN];
    uint8_t (*clients)[KEY_BIN]; /* NULL: every client allowed */
    size_t nclients;
} zs;
static pthread_once_t zs_once = PTHREAD_ONCE_INIT;

/* A Z85 key of 40 characters decoding to 32 bytes. */
static bool key_ok(const char *z85, uint8_t bin[KEY_BIN])
{
    return z85 && strlen(z85) == KEY_Z85 && zmq_z85_decode(bin, z85) != NULL;
}

static int load_client_keys(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        bw_log(BW_ERROR, "cannot read BILLOW_CURVE_CLIENT_KEYS", "path", BW_S(path), NULL);
        return BW_EINVAL;
    }
    char line[512];
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        /* The key is the first word; what follows it is a note. Z85 uses
         * '#', so a first word starting with '#' is a comment only when it
         * is not key-sized ("# alice's laptop"). */
        char *s = line + strspn(line, " \t\r\n");
        s[strcspn(s, " \t\r\n")] = '\0';
        if (!*s || (*s == '#' && strlen(s) != KEY_Z85))
            continue;
        if (zs.nclients == cap) {
            cap = cap ? cap * 2 : 16;
            void *k = realloc(zs.clients, cap * KEY_BIN);
            if (!k) {
                rc = BW_ENOMEM;
                break;
            }
            zs.clients = k;
        }
        if (!key_ok(s, zs.clients[zs.nclients])) {
            bw_log(BW_ERROR, "bad key in BILLOW_CURVE_CLIENT_KEYS: expected 40 Z85 characters",
                   "path", BW_S(path), "line", BW_I(lineno), NULL);
            rc = BW_EINVAL;
            break;
        }
        zs.nclients++;
    }
    fclose(f);
    if (rc == 0 && !zs.clients) /* an empty file: only the server key */
        zs.clients = malloc(KEY_BIN);
    return rc == 0 && !zs.clients ? BW_ENOMEM : rc;
}

static void setup(void)
{
    const char *secret = bw_env_str("BILLOW_CURVE_SECRET_KEY", NULL);
    if (!secret)
        return; /* off */
    uint8_t bin[KEY_BIN];
    if (!key_ok(secret, bin)) {
        bw_log(BW_ERROR, "BILLOW_CURVE_SECRET_KEY: expected 40 Z85 characters (billctl keygen)", NULL);
        zs.rc = BW_EINVAL;
        return;
    }
    memcpy(zs.secret, secret, KEY_Z85 + 1);
    if (zmq_curve_public(zs.public_key, zs.secret) != 0) {
        zs.rc = BW_EINVAL;
        return;
    }
    const char *server = bw_env_str("BILLOW_CURVE_SERVER_KEY", zs.public_key);
    if (!key_ok(server, zs.server_bin)) {
        bw_log(BW_ERROR, "BILLOW_CURVE_SERVER_KEY: expected 40 Z85 characters", NULL);
        zs.rc = BW_EINVAL;
        return;
    }
    memcpy(zs.server, server, KEY_Z85 + 1);
    const char *path = bw_env_str("BILLOW_CURVE_CLIENT_KEYS", NULL);
    if (path && (zs.rc = load_client_keys(path)) < 0)
        return;
    zs.on = true;
}

int bw_zsec_init(void)
{
    pthread_once(&zs_once, setup);
    return zs.rc;
}

bool bw_zsec_on(void)
{
    return bw_zsec_init() == 0 && zs.on;
}

int bw_zsec_server(void *sock)
{
    int rc = bw_zsec_init();
    if (rc < 0 || !zs.on)
        return rc;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, zs.secret, KEY_Z85) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "billow", 6) != 0)
        return BW_EIO;
    return 0;
}

int bw_zsec_client(void *sock)
{
    int rc = bw_zsec_init();
    if (rc < 0 || !zs.on)
        return rc;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, zs.server, KEY_Z85) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, zs.public_key, KEY_Z85) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, zs.secret, KEY_Z85) != 0)
        return BW_EIO;
    return 0;
}

int bw_zsec_keygen(char public_key[41], char secret_key[41])
{
    return zmq_curve_keypair(public_key, secret_key) == 0 ? 0 : BW_EIO;
}

/* --- ZAP handler ------------------------------------------------------------ */

struct bw_zap {
    void *sock;
    bw_zwatch_t watch;
};

static bool allowed(const uint8_t *key, size_t len)
{
    if (len != KEY_BIN)
        return false;
    if (memcmp(key, zs.server_bin, KEY_BIN) == 0)
        return true; /* the services themselves, sharing the server pair */
    for (size_t i = 0; i < zs.nclients; i++)
        if (memcmp(key, zs.clients[i], KEY_BIN) == 0)
            return true;
    return false;
}

/* Reads one request (all its frames); frames[] hold the first eight. */
static int recv_request(void *sock, zmq_msg_t frames[8], int *n)
{
    *n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return *n ? BW_EIO : 0;
        }
        int more = zmq_msg_more(&m);
        if (*n < 8)
            frames[(*n)++] = m;
        else
            zmq_msg_close(&m);
        if (!more)
            return 1;
    }
}

static void send_str(void *sock, const void *p, size_t len, bool more)
{
    zmq_send(sock, p, len, more ? ZMQ_SNDMORE : 0);
}

static void zap_cb(bw_zwatch_t *w, int revents, void *arg)
{
    (void)w;
    (void)revents;
    bw_zap_t *z = arg;
    for (;;) {
        zmq_msg_t f[8];
        int n = 0;
        int rc = recv_request(z->sock, f, &n);
        if (rc <= 0) {
            for (int i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            return;
        }
        /* version, request id, domain, address, identity, mechanism,
         * credentials (the client's public key for CURVE). */
        bool ok = n >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
                  allowed(zmq_msg_data(&f[6]), zmq_msg_size(&f[6]));
        if (!ok) {
            char addr[64] = "";
            if (n >= 4)
                snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]), (const char *)zmq_msg_data(&f[3]));
            bw_log(BW_WARN, "connection refused: client key not authorized", "address", BW_S(addr), NULL);
        }
        send_str(z->sock, "1.0", 3, true);
        if (n >= 2)
            send_str(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), true);
        else
            send_str(z->sock, "", 0, true);
        send_str(z->sock, ok ? "200" : "400", 3, true);
        send_str(z->sock, ok ? "OK" : "client key not authorized", ok ? 2 : 25, true);
        send_str(z->sock, "", 0, true); /* user id */
        send_str(z->sock, "", 0, false); /* metadata */
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
}

int bw_zap_start(struct ev_loop *loop, void *zctx, bw_zap_t **out)
{
    *out = NULL;
    int rc = bw_zsec_init();
    if (rc < 0 || !zs.on || !zs.clients)
        return rc;
    bw_zap_t *z = calloc(1, sizeof *z);
    if (!z)
        return BW_ENOMEM;
    z->sock = zmq_socket(zctx, ZMQ_REP);
    int zero = 0;
    if (!z->sock || zmq_setsockopt(z->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_bind(z->sock, "inproc://zeromq.zap.01") != 0 ||
        bw_zwatch_init(&z->watch, loop, z->sock, ZMQ_POLLIN, zap_cb, z) < 0) {
        bw_log(BW_ERROR, "cannot start the ZAP handler", "error", BW_S(zmq_strerror(zmq_errno())), NULL);
        if (z->sock)
            zmq_close(z->sock);
        free(z);
        return BW_EIO;
    }
    bw_zwatch_start(&z->watch);
    *out = z;
    return 0;
}

void bw_zap_stop(bw_zap_t **pz)
{
    if (!pz || !*pz)
        return;
    bw_zap_t *z = *pz;
    bw_zwatch_stop(&z->watch);
    zmq_close(z->sock);
    free(z);
    *pz = NULL;
}
