/* JSON-line logging on stderr (DESIGN.md §5). One object per line: time,
 * level, service, msg, then fields. Messages are short and lower-case; detail
 * goes in fields. Fields are passed as key, type, value triples built with
 * the BW_S / BW_I / BW_F macros and terminated by NULL:
 *
 *     bw_log(BW_WARN, "could not insert invoice", "account", BW_S(id),
 *            "pg_error", BW_S(err), NULL);
 */
#ifndef BW_LOG_H
#define BW_LOG_H

typedef enum { BW_DEBUG = 0, BW_INFO, BW_WARN, BW_ERROR } bw_log_level_t;

#define BW_S(v) 's', (const char *)(v)
#define BW_I(v) 'i', (long long)(v)
#define BW_F(v) 'f', (double)(v)

/* Names the process in every line ("rating", "billctl", ...). */
void bw_log_init(const char *service);
/* Lines below this level are dropped; BILLOW_LOG_LEVEL sets it at init. */
void bw_log_set_level(bw_log_level_t level);
void bw_log(bw_log_level_t level, const char *msg, ...);

#endif
