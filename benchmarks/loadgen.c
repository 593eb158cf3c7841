/*
 * loadgen: the wsgate benchmarks' load generator, one thread on epoll.
 *
 * A minimal WebSocket and HTTP/1.1 client written for measuring, not for general use:
 * it sends masked text frames, reads unmasked server frames (answering pings), and sends
 * keep-alive POSTs with Content-Length bodies. The benchmark runner compiles it with the
 * system C compiler and pins it to its own core (taskset), so the server under test gets
 * the other core to itself. One process spends a few microseconds of CPU per round trip,
 * a fraction of what the Python servers it measures spend.
 *
 * Modes (--mode):
 *   echo       C connections, each keeping one message of --size bytes in flight.
 *   handshake  C workers, each opening a connection, upgrading, closing, again.
 *   life       C workers, each living a whole connection, again and again: connect,
 *              upgrade, send one message and check that it comes back unchanged, send a
 *              close frame and wait for the server's, close. A wrong reply, a close
 *              without the server's close frame, or a life that takes longer than
 *              --life-timeout is a failure, counted apart in the JSON.
 *   idle       open C connections, print "ready", hold them until stdin says "close".
 *   post       R WebSocket receivers learn their connectionId ("whoami" route), then
 *              P keep-alive HTTP clients each keep one POST @connections in flight.
 *   fanout     C receivers; the first sends {"action":"fanout"}; time until every
 *              receiver got a frame, for --rounds rounds.
 *
 * Options: --port, --host (127.0.0.1), --path (the upgrade's request target, with its
 * query), --conns, --size (message bytes, 100), --warmup and --duration (seconds),
 * --max-done (end the window after N results), --sources K (spread connections over the
 * source addresses 127.0.0.1..K, each with its own ephemeral ports), --opening (upgrades
 * in flight while opening), --action (route of the echo message), --receivers,
 * --posters, --post-prefix and --post-port (post mode: POSTs to another server than the
 * receivers', e.g. another node of one API), --rounds (fan-out), --hold (idle mode),
 * --life-timeout (life mode, seconds).
 *
 * Every mode is bounded in time: --connect-timeout for opening, --warmup + --duration
 * for measuring, --hold for idle mode, --round-timeout per fan-out round.
 *
 * While measuring it prints "mark start" and "mark end" lines (so the runner can sample
 * the server's CPU time over exactly the window), then one JSON object on the last line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum mode { M_ECHO, M_HANDSHAKE, M_IDLE, M_POST, M_FANOUT, M_LIFE };
enum state { S_FREE, S_CONNECTING, S_UPGRADING, S_OPEN, S_CLOSING, S_HTTP };
enum role { R_WS, R_HTTP };

typedef struct {
    int fd;
    int idx;
    enum state state;
    enum role role;
    char *rbuf;
    size_t rlen, rcap;
    char *wbuf; /* bytes not yet written (rare: only after EAGAIN) */
    size_t wlen, wcap;
    uint64_t t_sent;   /* when the message, POST, handshake or life in flight started */
    int in_flight;
    int target;        /* post mode: index of the receiver this client posts to */
    int got;           /* fan-out: frames received in this round */
    char id[64];       /* post mode: the receiver's connectionId */
} conn_t;

typedef struct {
    uint64_t *v;
    size_t n, cap;
} samples_t;

/* ---- options ---------------------------------------------------------------------- */

static enum mode opt_mode = M_ECHO;
static const char *opt_host = "127.0.0.1";
static int opt_port = 8080;
static int opt_post_port = 0; /* post mode: the POSTs' port, when not --port */
static const char *opt_path = "/";
static int opt_conns = 1;
static double opt_warmup = 1.0, opt_duration = 3.0, opt_hold = 120.0;
static double opt_connect_timeout = 60.0, opt_round_timeout = 60.0;
/* Life mode: a life takes milliseconds; one over a second is hung. Shorter than the
 * runner's windows (2 s and more), so that a server that never answers shows up as
 * failures there rather than as a quiet zero. */
static double opt_life_timeout = 1.0;
static int opt_size = 100;
static int opt_sources = 1;
static int opt_opening = 64; /* handshakes in flight while opening many connections */
static const char *opt_action = "echo";
static int opt_receivers = 1, opt_posters = 16;
static const char *opt_post_prefix = "/@connections/";
static int opt_rounds = 3;
static long opt_max_done = 0; /* end the window early after this many (0: never) */

/* ---- state ------------------------------------------------------------------------ */

static int epfd;
static conn_t *conns;
static int nconns;
static struct sockaddr_in dst, post_dst; /* the WebSocket and the POST targets */
static uint64_t upgrades_sent;
static unsigned char *echo_frame;
static size_t echo_frame_len;
static char echo_msg[4096]; /* the message's text, to check what comes back (life mode) */
static size_t echo_msg_len;
static samples_t lat, lat2, rounds_s;
static uint64_t t_start, t_end; /* measuring window, ns; 0 until set */
static int measuring, stopped;
static long n_done, n_errors, n_connect_errors, n_upgrade_errors, n_closed_early;
static long n_open, n_failed_open;
static long n_bad_replies, n_missing_close, n_stalled; /* life mode's failures */
static long n_in_window_bytes;
static int opening_in_flight, next_to_open;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void push(samples_t *s, uint64_t v) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        if (cap > 200000000) return; /* bounded: 1.6 GB of samples at most */
        uint64_t *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) return;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(samples_t *s, double p) {
    if (!s->n) return 0;
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return (double)s->v[i] / 1000.0; /* microseconds */
}

/* ---- sockets ---------------------------------------------------------------------- */

static void mod_events(conn_t *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) die("epoll_ctl mod");
}

static void close_conn(conn_t *c, int reset) {
    if (c->fd >= 0) {
        if (reset) {
            struct linger l = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = S_FREE;
    c->rlen = 0;
    c->wlen = 0;
    c->in_flight = 0;
}

static int start_connect(conn_t *c, enum role role) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        n_connect_errors++;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt_sources > 1) {
        /* Several loopback source addresses: each has its own ephemeral port range. */
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(c->idx % opt_sources));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            close(fd);
            n_connect_errors++;
            return -1;
        }
    }
    c->fd = fd;
    c->role = role;
    c->rlen = c->wlen = 0;
    c->in_flight = 0;
    c->got = 0;
    c->t_sent = now_ns();
    if (!c->rbuf) {
        c->rcap = 512;
        c->rbuf = malloc(c->rcap);
        if (!c->rbuf) die("malloc");
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) die("epoll_ctl add");
    c->state = S_CONNECTING;
    const struct sockaddr_in *to = role == R_HTTP ? &post_dst : &dst;
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
        close_conn(c, 0);
        n_connect_errors++;
        return -1;
    }
    return 0;
}

/* Write everything or queue the rest for EPOLLOUT; -1 when the connection failed. */
static int send_bytes(conn_t *c, const void *data, size_t len) {
    if (c->wlen) { /* already backed up: keep order */
        if (c->wlen + len > c->wcap) {
            c->wcap = (c->wlen + len) * 2;
            c->wbuf = realloc(c->wbuf, c->wcap);
            if (!c->wbuf) die("realloc");
        }
        memcpy(c->wbuf + c->wlen, data, len);
        c->wlen += len;
        return 0;
    }
    ssize_t w = write(c->fd, data, len);
    if (w < 0) {
        if (errno != EAGAIN) return -1;
        w = 0;
    }
    if ((size_t)w < len) {
        size_t rest = len - (size_t)w;
        if (rest > c->wcap) {
            c->wcap = rest * 2;
            c->wbuf = realloc(c->wbuf, c->wcap);
            if (!c->wbuf) die("realloc");
        }
        memcpy(c->wbuf, (const char *)data + w, rest);
        c->wlen = rest;
        mod_events(c, EPOLLIN | EPOLLOUT);
    }
    return 0;
}

static int flush_pending(conn_t *c) {
    while (c->wlen) {
        ssize_t w = write(c->fd, c->wbuf, c->wlen);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        memmove(c->wbuf, c->wbuf + w, c->wlen - (size_t)w);
        c->wlen -= (size_t)w;
    }
    mod_events(c, EPOLLIN);
    return 0;
}

/* ---- WebSocket frames ------------------------------------------------------------- */

static const unsigned char MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

/* A masked client frame for ``payload`` in ``out`` (len + 14 bytes); returns its size. */
static size_t build_frame(unsigned char *out, int opcode, const char *payload, size_t len) {
    size_t h = 0;
    out[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        out[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        out[h++] = 0x80 | 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memcpy(out + h, MASK, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) out[h + i] = (unsigned char)payload[i] ^ MASK[i & 3];
    return h + len;
}

static int send_text(conn_t *c, const char *payload, size_t len) {
    unsigned char buf[4096];
    if (len + 14 > sizeof buf) return -1;
    return send_bytes(c, buf, build_frame(buf, 1, payload, len));
}

static int send_close(conn_t *c) {
    unsigned char buf[16];
    const char code[2] = {0x03, (char)0xe8}; /* 1000 */
    return send_bytes(c, buf, build_frame(buf, 8, code, 2));
}

/* A JSON text message of exactly ``size`` bytes: {"action":"A","data":"xxx..."}. */
static size_t make_message(char *out, size_t cap, const char *action, int size) {
    int n = snprintf(out, cap, "{\"action\":\"%s\",\"data\":\"", action);
    size_t want = (size_t)size;
    if (want < (size_t)n + 2) want = (size_t)n + 2;
    if (want >= cap) want = cap - 1;
    memset(out + n, 'x', want - (size_t)n - 2);
    out[want - 2] = '"';
    out[want - 1] = '}';
    out[want] = 0;
    return want;
}

/* ---- per-mode behaviour ----------------------------------------------------------- */

static void send_post(conn_t *c);
static void finish_handshake_slot(conn_t *c);

static int in_window(uint64_t t) { return measuring && t >= t_start && (!t_end || t <= t_end); }

/* Modes whose workers open a new connection whenever one ends, failed or not. */
static int cycling(void) { return opt_mode == M_HANDSHAKE || opt_mode == M_LIFE; }

static void send_echo(conn_t *c) {
    c->t_sent = now_ns();
    c->in_flight = 1;
    if (send_bytes(c, echo_frame, echo_frame_len) < 0) {
        n_errors++;
        close_conn(c, 0);
    }
}

static void on_open(conn_t *c) {
    uint64_t t = now_ns();
    n_open++;
    switch (opt_mode) {
    case M_HANDSHAKE:
        if (in_window(t)) {
            n_done++;
            push(&lat, t - c->t_sent);
        }
        c->state = S_CLOSING;
        if (send_close(c) < 0) finish_handshake_slot(c);
        break;
    case M_LIFE:
        /* Not send_echo: t_sent keeps the life's start (the connect), not the message's. */
        c->in_flight = 1;
        if (send_bytes(c, echo_frame, echo_frame_len) < 0) {
            n_errors++;
            finish_handshake_slot(c);
        }
        break;
    case M_POST:
        if (c->idx < opt_receivers) {
            char msg[64];
            size_t n = (size_t)snprintf(msg, sizeof msg, "{\"action\":\"whoami\"}");
            if (send_text(c, msg, n) < 0) n_errors++;
        }
        break;
    default:
        break;
    }
}

/* Life mode: the reply must be the message itself; then the client starts the close
 * handshake. -1 fails the connection. */
static int on_life_reply(conn_t *c, const char *p, size_t len) {
    if (!c->in_flight || c->state != S_OPEN) return 0; /* nothing asked: ignore it */
    c->in_flight = 0;
    if (len != echo_msg_len || memcmp(p, echo_msg, len) != 0) {
        n_bad_replies++;
        return -1;
    }
    c->state = S_CLOSING;
    if (send_close(c) < 0) {
        n_errors++;
        return -1;
    }
    return 0;
}

/* A life ended with the server's close frame: count it, from the connect on. */
static void end_life(conn_t *c) {
    uint64_t t = now_ns();
    if (in_window(t)) {
        n_done++;
        push(&lat, t - c->t_sent);
    }
}

/* Handle one complete data frame from the server; -1 fails the connection. */
static int on_message(conn_t *c, const char *p, size_t len) {
    uint64_t t = now_ns();
    switch (opt_mode) {
    case M_ECHO:
        if (!c->in_flight) return 0;
        c->in_flight = 0;
        if (in_window(t)) {
            n_done++;
            n_in_window_bytes += (long)len;
            push(&lat, t - c->t_sent);
        }
        if (!stopped) send_echo(c);
        break;
    case M_POST:
        if (!c->id[0]) { /* the answer to whoami: the connectionId */
            size_t n = len < sizeof c->id - 1 ? len : sizeof c->id - 1;
            memcpy(c->id, p, n);
            c->id[n] = 0;
            return 0;
        }
        /* A posted body: {"t":NNN,...}; the time it was posted, on our clock. */
        if (len > 5 && p[0] == '{' && p[1] == '"' && p[2] == 't') {
            uint64_t sent = strtoull(p + 5, NULL, 10);
            if (in_window(t) && sent && sent <= t) push(&lat2, t - sent);
        }
        break;
    case M_FANOUT:
        c->got++;
        break;
    case M_LIFE:
        return on_life_reply(c, p, len);
    default:
        break;
    }
    return 0;
}

static void finish_handshake_slot(conn_t *c) {
    /* RST instead of FIN so that thousands of closed connections leave no TIME_WAIT. */
    close_conn(c, 1);
    if (!stopped) start_connect(c, R_WS);
}

/* Parse frames in the read buffer; -1 when the connection must go. */
static int parse_frames(conn_t *c) {
    size_t pos = 0;
    while (c->rlen - pos >= 2) {
        unsigned char *b = (unsigned char *)c->rbuf + pos;
        int opcode = b[0] & 0x0f;
        uint64_t len = b[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (c->rlen - pos < 4) break;
            len = ((uint64_t)b[2] << 8) | b[3];
            h = 4;
        } else if (len == 127) {
            if (c->rlen - pos < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | b[2 + i];
            h = 10;
        }
        if (b[1] & 0x80) h += 4; /* servers do not mask; tolerate it anyway */
        if (len > (64u << 20)) return -1;
        if (c->rlen - pos < h + len) {
            size_t need = h + (size_t)len;
            if (need > c->rcap) {
                memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
                c->rlen -= pos;
                pos = 0;
                c->rcap = need * 2;
                c->rbuf = realloc(c->rbuf, c->rcap);
                if (!c->rbuf) die("realloc");
            }
            break;
        }
        char *payload = c->rbuf + pos + h;
        if (b[1] & 0x80)
            for (uint64_t i = 0; i < len; i++) payload[i] ^= (char)b[h - 4 + (i & 3)];
        switch (opcode) {
        case 0x0:
        case 0x1:
        case 0x2:
            if (on_message(c, payload, (size_t)len) < 0) return -1;
            break;
        case 0x8: /* close */
            if (cycling() && c->state == S_CLOSING) {
                if (opt_mode == M_LIFE) end_life(c);
                finish_handshake_slot(c);
                return 1;
            }
            n_closed_early++;
            return -1;
        case 0x9: { /* ping: answer with a pong carrying the same payload */
            unsigned char out[160];
            if (len <= 125) send_bytes(c, out, build_frame(out, 0xA, payload, (size_t)len));
            break;
        }
        default:
            break;
        }
        if (c->fd < 0) return 1;
        pos += h + (size_t)len;
    }
    if (pos) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    return 0;
}

/* The upgrade response: 101, then frames may follow in the same read. */
static int parse_upgrade(conn_t *c) {
    char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!end) return c->rlen > 8192 ? -1 : 0;
    size_t head = (size_t)(end - c->rbuf) + 4;
    int ok = c->rlen >= 12 && memcmp(c->rbuf, "HTTP/1.1 101", 12) == 0;
    if (!ok) {
        n_upgrade_errors++;
        return -1;
    }
    memmove(c->rbuf, c->rbuf + head, c->rlen - head);
    c->rlen -= head;
    c->state = S_OPEN;
    if (opening_in_flight > 0) opening_in_flight--;
    on_open(c);
    if (c->fd < 0) return 1;
    return 2;
}

/* HTTP responses to POSTs on a keep-alive connection. */
static int parse_http(conn_t *c) {
    for (;;) {
        char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (!end) return c->rlen > 16384 ? -1 : 0;
        size_t head = (size_t)(end - c->rbuf) + 4;
        long clen = -1;
        int status = c->rlen >= 12 ? atoi(c->rbuf + 9) : 0;
        for (char *line = memmem(c->rbuf, head, "\r\n", 2); line && line < end;
             line = memmem(line + 2, (size_t)(end - line), "\r\n", 2)) {
            if (strncasecmp(line + 2, "Content-Length:", 15) == 0) clen = atol(line + 17);
        }
        if (clen < 0) return -1; /* the servers measured always send Content-Length */
        if (c->rlen < head + (size_t)clen) {
            if (head + (size_t)clen > c->rcap) {
                c->rcap = (head + (size_t)clen) * 2;
                c->rbuf = realloc(c->rbuf, c->rcap);
                if (!c->rbuf) die("realloc");
            }
            return 0;
        }
        memmove(c->rbuf, c->rbuf + head + clen, c->rlen - head - (size_t)clen);
        c->rlen -= head + (size_t)clen;
        uint64_t t = now_ns();
        c->in_flight = 0;
        if (status == 200) {
            if (in_window(t)) {
                n_done++;
                push(&lat, t - c->t_sent);
            }
        } else {
            n_errors++;
        }
        if (!stopped) send_post(c);
        if (c->fd < 0) return 1;
    }
}

static void send_post(conn_t *c) {
    conn_t *r = &conns[c->target];
    if (!r->id[0]) return;
    char body[512], req[1024], id[200];
    /* Percent-encode '=' as boto3 does. */
    size_t k = 0;
    for (const char *s = r->id; *s && k < sizeof id - 4; s++) {
        if (*s == '=') {
            memcpy(id + k, "%3D", 3);
            k += 3;
        } else {
            id[k++] = *s;
        }
    }
    id[k] = 0;
    uint64_t t = now_ns();
    int n = snprintf(body, sizeof body, "{\"t\":%020llu,\"data\":\"", (unsigned long long)t);
    size_t blen = (size_t)(opt_size > n + 2 ? opt_size : n + 2);
    if (blen >= sizeof body) blen = sizeof body - 1;
    memset(body + n, 'x', blen - (size_t)n - 2);
    body[blen - 2] = '"';
    body[blen - 1] = '}';
    int rl = snprintf(req, sizeof req,
                      "POST %s%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %zu\r\n\r\n",
                      opt_post_prefix, id, opt_host, opt_post_port ? opt_post_port : opt_port, blen);
    memcpy(req + rl, body, blen);
    c->t_sent = t;
    c->in_flight = 1;
    if (send_bytes(c, req, (size_t)rl + blen) < 0) {
        n_errors++;
        close_conn(c, 0);
    }
}

/* An upgrade request with a fresh Sec-WebSocket-Key: some servers (serverless-offline)
 * tell connections apart by their key while the upgrade is in progress. */
static size_t upgrade_request(char *out, size_t cap) {
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[18] = {0};
    uint64_t n = ++upgrades_sent, salt = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
    memcpy(raw, &n, 8);
    memcpy(raw + 8, &salt, 8);
    char key[25];
    for (int i = 0, k = 0; i < 18; i += 3) {
        uint32_t v = ((uint32_t)raw[i] << 16) | ((uint32_t)raw[i + 1] << 8) | raw[i + 2];
        for (int j = 3; j >= 0 && k < 24; j--) key[k++] = b64[(v >> (6 * j)) & 63];
    }
    key[22] = key[23] = '='; /* 16 bytes encode to 22 characters and "==" */
    key[24] = 0;
    return (size_t)snprintf(out, cap,
                            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                            "Sec-WebSocket-Version: 13\r\nUser-Agent: wsgate-loadgen\r\n\r\n",
                            opt_path, opt_host, opt_port, key);
}

/* ---- event loop ------------------------------------------------------------------- */

static void on_event(conn_t *c, uint32_t ev) {
    if (c->fd < 0) return;
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (ev & (EPOLLERR | EPOLLHUP))) {
            n_connect_errors++;
            if (opening_in_flight > 0) opening_in_flight--;
            close_conn(c, 0);
            if (cycling() && !stopped) start_connect(c, R_WS);
            return;
        }
        mod_events(c, EPOLLIN);
        if (c->role == R_HTTP) {
            c->state = S_HTTP;
            if (opening_in_flight > 0) opening_in_flight--;
            n_open++;
            return;
        }
        c->state = S_UPGRADING;
        char req[2048];
        size_t len = upgrade_request(req, sizeof req);
        if (send_bytes(c, req, len) < 0) {
            n_upgrade_errors++;
            close_conn(c, 0);
        }
        return;
    }
    if ((ev & EPOLLOUT) && c->wlen) {
        if (flush_pending(c) < 0) {
            close_conn(c, 0);
            return;
        }
    }
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    for (int spins = 0; spins < 16; spins++) {
        if (c->rcap - c->rlen < 256) {
            c->rcap *= 2;
            c->rbuf = realloc(c->rbuf, c->rcap);
            if (!c->rbuf) die("realloc");
        }
        ssize_t r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (r < 0 && errno == EAGAIN) return;
        if (r <= 0) {
            if (c->state == S_CLOSING && cycling()) {
                /* Life mode waits for the server's close frame; the socket ended first. */
                if (opt_mode == M_LIFE) n_missing_close++;
                finish_handshake_slot(c);
                return;
            }
            if (c->state == S_UPGRADING) {
                n_upgrade_errors++;
                if (opening_in_flight > 0) opening_in_flight--;
            } else {
                n_closed_early++;
            }
            close_conn(c, 0);
            if (cycling() && !stopped) start_connect(c, R_WS);
            return;
        }
        c->rlen += (size_t)r;
        int rc;
        if (c->state == S_UPGRADING) {
            rc = parse_upgrade(c);
            if (rc == 2) rc = parse_frames(c);
        } else if (c->state == S_HTTP) {
            rc = parse_http(c);
        } else {
            rc = parse_frames(c);
        }
        if (rc < 0) {
            if (opening_in_flight > 0 && c->state == S_UPGRADING) opening_in_flight--;
            close_conn(c, 0);
            if (cycling() && !stopped) start_connect(c, R_WS);
            return;
        }
        if (rc == 1 || c->fd < 0) return;
        if ((size_t)r < 256) return; /* drained */
    }
}

/* Life mode: a server that never answers, or never sends its close frame, would hold a
 * worker for good and only lower the rate; end such lives and count them as failures. */
static void reap_stalled_lives(uint64_t t) {
    static uint64_t last;
    if (opt_mode != M_LIFE || t - last < 100000000ull) return; /* every 100 ms at most */
    last = t;
    uint64_t limit = (uint64_t)(opt_life_timeout * 1e9);
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        if (c->fd < 0 || t - c->t_sent < limit) continue;
        if (c->state == S_CLOSING) n_missing_close++;
        else n_stalled++;
        if ((c->state == S_CONNECTING || c->state == S_UPGRADING) && opening_in_flight > 0)
            opening_in_flight--;
        finish_handshake_slot(c);
    }
}

/* Run the loop until ``until`` (ns) or ``done()`` is true; handles opening as it goes. */
static void loop_until(uint64_t until, int (*done)(void), enum role role) {
    struct epoll_event evs[512];
    for (;;) {
        uint64_t t = now_ns();
        if (t >= until || (done && done())) return;
        reap_stalled_lives(t);
        /* Open more connections, a bounded number at a time. */
        while (next_to_open < nconns && opening_in_flight < opt_opening) {
            conn_t *c = &conns[next_to_open++];
            if (start_connect(c, role) == 0)
                opening_in_flight++;
            else
                n_failed_open++;
        }
        int ms = (int)((until - t) / 1000000ull);
        if (ms > 5) ms = 5;
        int n = epoll_wait(epfd, evs, 512, ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    }
}

static int all_opened(void) {
    return next_to_open >= nconns && opening_in_flight == 0;
}

static int stdin_said_close;
static int stdin_close(void) {
    char buf[64];
    ssize_t r = read(0, buf, sizeof buf);
    if (r == 0 || (r > 0 && memmem(buf, (size_t)r, "close", 5))) stdin_said_close = 1;
    return stdin_said_close;
}

static int fanout_remaining;
static int fanout_round_done(void) {
    int missing = 0;
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0 && conns[i].got == 0) missing++;
    fanout_remaining = missing;
    return missing == 0;
}

static int open_count(void) {
    int n = 0;
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0 && (conns[i].state == S_OPEN || conns[i].state == S_HTTP)) n++;
    return n;
}

static void mark(const char *what) {
    printf("mark %s\n", what);
    fflush(stdout);
}

static int window_full(void) { return opt_max_done > 0 && n_done >= opt_max_done; }

static void measure_window(void) {
    uint64_t t = now_ns();
    loop_until(t + (uint64_t)(opt_warmup * 1e9), NULL, R_WS);
    t_start = now_ns();
    measuring = 1;
    mark("start");
    loop_until(t_start + (uint64_t)(opt_duration * 1e9), window_full, R_WS);
    t_end = now_ns();
    mark("end");
    stopped = 1;
}

/* ---- main ------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --mode echo|handshake|life|idle|post|fanout --port P [--host H]\n"
            "  [--path /dev?q] [--conns C] [--warmup S] [--duration S] [--size B]\n"
            "  [--sources K] [--opening N] [--action NAME] [--receivers R] [--posters P]\n"
            "  [--post-prefix /dev/@connections/] [--rounds N] [--hold S]\n"
            "  [--connect-timeout S] [--round-timeout S] [--max-done N] [--life-timeout S]\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--mode")) {
            if (!strcmp(v, "echo")) opt_mode = M_ECHO;
            else if (!strcmp(v, "handshake")) opt_mode = M_HANDSHAKE;
            else if (!strcmp(v, "idle")) opt_mode = M_IDLE;
            else if (!strcmp(v, "post")) opt_mode = M_POST;
            else if (!strcmp(v, "fanout")) opt_mode = M_FANOUT;
            else if (!strcmp(v, "life")) opt_mode = M_LIFE;
            else usage();
        } else if (!strcmp(k, "--host")) opt_host = v;
        else if (!strcmp(k, "--port")) opt_port = atoi(v);
        else if (!strcmp(k, "--post-port")) opt_post_port = atoi(v);
        else if (!strcmp(k, "--path")) opt_path = v;
        else if (!strcmp(k, "--conns")) opt_conns = atoi(v);
        else if (!strcmp(k, "--warmup")) opt_warmup = atof(v);
        else if (!strcmp(k, "--duration")) opt_duration = atof(v);
        else if (!strcmp(k, "--hold")) opt_hold = atof(v);
        else if (!strcmp(k, "--size")) opt_size = atoi(v);
        else if (!strcmp(k, "--sources")) opt_sources = atoi(v);
        else if (!strcmp(k, "--opening")) opt_opening = atoi(v);
        else if (!strcmp(k, "--action")) opt_action = v;
        else if (!strcmp(k, "--receivers")) opt_receivers = atoi(v);
        else if (!strcmp(k, "--posters")) opt_posters = atoi(v);
        else if (!strcmp(k, "--post-prefix")) opt_post_prefix = v;
        else if (!strcmp(k, "--rounds")) opt_rounds = atoi(v);
        else if (!strcmp(k, "--max-done")) opt_max_done = atol(v);
        else if (!strcmp(k, "--connect-timeout")) opt_connect_timeout = atof(v);
        else if (!strcmp(k, "--round-timeout")) opt_round_timeout = atof(v);
        else if (!strcmp(k, "--life-timeout")) opt_life_timeout = atof(v);
        else usage();
    }
    if (opt_conns < 1 || opt_conns > 1000000 || opt_size < 2 || opt_size > 4000) usage();
    if (opt_sources < 1 || opt_sources > 250 || opt_opening < 1 || opt_rounds < 1) usage();
    if (opt_receivers < 1 || opt_posters < 1 || opt_duration <= 0 || opt_warmup < 0) usage();
    if (opt_life_timeout <= 0) usage();
}

static void raise_nofile(size_t want) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void print_json(void) {
    double secs = t_end > t_start ? (double)(t_end - t_start) / 1e9 : 0;
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_u64);
    qsort(lat2.v, lat2.n, sizeof *lat2.v, cmp_u64);
    const char *names[] = {"echo", "handshake", "idle", "post", "fanout", "life"};
    printf("{\"mode\":\"%s\",\"conns\":%d,\"seconds\":%.4f,\"done\":%ld,\"rate\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
           "\"frame_p50_us\":%.1f,\"frame_p99_us\":%.1f,\"frame_max_us\":%.1f,"
           "\"opened\":%ld,\"open_now\":%d,\"errors\":%ld,\"connect_errors\":%ld,"
           "\"upgrade_errors\":%ld,\"closed_early\":%ld,"
           "\"bad_replies\":%ld,\"missing_close\":%ld,\"stalled\":%ld",
           names[opt_mode], opt_conns, secs, n_done, secs > 0 ? (double)n_done / secs : 0.0,
           pct(&lat, 0.5), pct(&lat, 0.99), pct(&lat, 1.0), pct(&lat2, 0.5), pct(&lat2, 0.99),
           pct(&lat2, 1.0), n_open, open_count(), n_errors, n_connect_errors, n_upgrade_errors,
           n_closed_early, n_bad_replies, n_missing_close, n_stalled);
    if (opt_mode == M_FANOUT) {
        printf(",\"rounds_ms\":[");
        for (size_t i = 0; i < rounds_s.n; i++)
            printf("%s%.3f", i ? "," : "", (double)rounds_s.v[i] / 1e6);
        printf("],\"missing\":%d", fanout_remaining);
    }
    printf("}\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)opt_port);
    if (inet_pton(AF_INET, opt_host, &dst.sin_addr) != 1) usage();
    post_dst = dst;
    if (opt_post_port) post_dst.sin_port = htons((uint16_t)opt_post_port);
    nconns = opt_mode == M_POST ? opt_receivers + opt_posters : opt_conns;
    raise_nofile((size_t)nconns + 64);
    conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) die("calloc");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].idx = i;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    echo_msg_len = make_message(echo_msg, sizeof echo_msg, opt_action, opt_size);
    echo_frame = malloc(echo_msg_len + 14);
    if (!echo_frame) die("malloc");
    echo_frame_len = build_frame(echo_frame, 1, echo_msg, echo_msg_len);

    uint64_t t0 = now_ns();
    uint64_t open_deadline = t0 + (uint64_t)(opt_connect_timeout * 1e9);
    switch (opt_mode) {
    case M_ECHO:
        loop_until(open_deadline, all_opened, R_WS);
        for (int i = 0; i < nconns; i++)
            if (conns[i].fd >= 0 && conns[i].state == S_OPEN) send_echo(&conns[i]);
        measure_window();
        break;
    case M_HANDSHAKE:
    case M_LIFE:
        opt_opening = nconns; /* every worker opens at once and keeps going */
        measure_window();
        break;
    case M_IDLE: {
        loop_until(open_deadline, all_opened, R_WS);
        printf("ready %d %ld\n", open_count(), n_connect_errors + n_upgrade_errors);
        fflush(stdout);
        fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
        uint64_t hold_until = now_ns() + (uint64_t)(opt_hold * 1e9);
        loop_until(hold_until, stdin_close, R_WS);
        t_start = t0;
        t_end = now_ns();
        break;
    }
    case M_POST: {
        /* Receivers first (WebSocket), then the HTTP clients. */
        nconns = opt_receivers;
        loop_until(open_deadline, all_opened, R_WS);
        uint64_t ids_deadline = now_ns() + 10000000000ull;
        for (;;) {
            int missing = 0;
            for (int i = 0; i < opt_receivers; i++)
                if (conns[i].fd >= 0 && !conns[i].id[0]) missing++;
            if (!missing || now_ns() > ids_deadline) break;
            loop_until(now_ns() + 2000000ull, NULL, R_WS);
        }
        nconns = opt_receivers + opt_posters;
        for (int i = opt_receivers; i < nconns; i++) conns[i].target = i % opt_receivers;
        loop_until(open_deadline + 10000000000ull, all_opened, R_HTTP);
        for (int i = opt_receivers; i < nconns; i++)
            if (conns[i].fd >= 0 && conns[i].state == S_HTTP) send_post(&conns[i]);
        measure_window();
        break;
    }
    case M_FANOUT: {
        loop_until(open_deadline, all_opened, R_WS);
        loop_until(now_ns() + 300000000ull, NULL, R_WS); /* let $connect side effects settle */
        char trig[4096];
        size_t tl = make_message(trig, sizeof trig, "fanout", opt_size);
        t_start = now_ns();
        measuring = 1;
        mark("start");
        for (int r = 0; r < opt_rounds; r++) {
            for (int i = 0; i < nconns; i++) conns[i].got = 0;
            conn_t *sender = NULL;
            for (int i = 0; i < nconns && !sender; i++)
                if (conns[i].fd >= 0 && conns[i].state == S_OPEN) sender = &conns[i];
            if (!sender) break;
            uint64_t ts = now_ns();
            if (send_text(sender, trig, tl) < 0) break;
            loop_until(ts + (uint64_t)(opt_round_timeout * 1e9), fanout_round_done, R_WS);
            uint64_t te = now_ns();
            if (fanout_remaining) break;
            push(&rounds_s, te - ts);
            push(&lat, te - ts);
            n_done++;
            loop_until(now_ns() + 200000000ull, NULL, R_WS); /* quiet between rounds */
        }
        t_end = now_ns();
        mark("end");
        stopped = 1;
        break;
    }
    }
    print_json();
    return 0;
}
