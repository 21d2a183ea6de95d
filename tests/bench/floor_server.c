/* floor_server: the "floor" for netd's ping benchmark (issue 6): the least a server can do to
 * answer netd's ping protocol on this machine, so a ratio to it says how much netd's structure
 * (coroutines, deadlines, logging, framing) costs over the bare system calls.
 *
 *   floor_server --port N [--host 127.0.0.1]
 *
 * One thread, one level-triggered epoll set, non-blocking sockets, no timers, no logging, no
 * allocation per request. Each readable connection is read once; every complete line in the
 * buffer is answered ("ping" -> "pong", anything else -> "Unknown command", as netd does; a "\r"
 * before the "\n" is dropped) and the replies of one read go out in one write, so pipelined
 * requests cost one read and one write per batch. A reply that does not fit in the socket's send
 * buffer is kept and the connection stops reading until it drains (EPOLLOUT), so a client that
 * does not read cannot make the server buffer without bound. A line over 4 KiB gets
 * "ERR line too long" and a close. It exits on SIGTERM or SIGINT.
 *
 * What it does not do, and netd does: idle and write deadlines, connection limits, logging,
 * graceful stop, more threads. Those are the price the ratio measures.
 *
 * Build: cc -std=c11 -O2 -Wall -Wextra floor_server.c -o floor_server
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor_net.h"

enum { in_bytes = 4096, out_bytes = 16384, max_events = 256 };

/* One connection. Allocated when accepted, freed when closed; indexed by its descriptor. */
struct conn {
    int fd;
    int want_out;  /* registered for EPOLLOUT (and not EPOLLIN): a reply is pending */
    size_t in_len; /* unconsumed input bytes */
    size_t out_len, out_done;
    char in[in_bytes];
    char out[out_bytes];
};

static struct conn** conns;
static size_t conns_cap;
static int ep = -1;
static void usage(const char* why) {
    fprintf(stderr, "floor_server: %s\nusage: floor_server --port N [--host 127.0.0.1]\n", why);
    exit(2);
}

static void close_conn(struct conn* c) {
    close(c->fd); /* also leaves the epoll set */
    conns[c->fd] = NULL;
    free(c);
}

static void set_events(struct conn* c, int want_out) {
    if (want_out == c->want_out) return;
    struct epoll_event ev = {.events = want_out ? EPOLLOUT : EPOLLIN, .data.fd = c->fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

/* Sends what is pending; returns 0 when all of it went out, 1 when some waits, -1 on error. */
static int flush(struct conn* c) {
    while (c->out_done < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_done, c->out_len - c->out_done, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 1;
        } else {
            return -1;
        }
    }
    c->out_len = c->out_done = 0;
    return 0;
}

static void append(struct conn* c, const char* s, size_t n) {
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* Answers the complete lines in c->in while the replies fit; keeps the rest. Returns -1 if the
 * connection must close (a line too long: the error reply is then queued). */
static int answer(struct conn* c) {
    static const char pong[] = "pong\n", unknown[] = "Unknown command\n";
    size_t pos = 0;
    while (pos < c->in_len && c->out_len + sizeof unknown <= sizeof c->out) {
        char* nl = memchr(c->in + pos, '\n', c->in_len - pos);
        if (!nl) break;
        size_t len = (size_t)(nl - (c->in + pos));
        if (len > 0 && c->in[pos + len - 1] == '\r') --len;
        if (len == 4 && memcmp(c->in + pos, "ping", 4) == 0)
            append(c, pong, sizeof pong - 1);
        else
            append(c, unknown, sizeof unknown - 1);
        pos = (size_t)(nl - c->in) + 1;
    }
    if (pos > 0) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    if (c->in_len == sizeof c->in && !memchr(c->in, '\n', c->in_len)) { /* a line too long */
        static const char too_long[] = "ERR line too long\n";
        if (c->out_len + sizeof too_long - 1 <= sizeof c->out)
            append(c, too_long, sizeof too_long - 1);
        return -1;
    }
    return 0;
}

/* Answers and sends until the input holds no complete line or the socket's send buffer is full
 * (then waits for EPOLLOUT and reads nothing meanwhile). */
static void progress(struct conn* c) {
    for (;;) {
        int closing = answer(c);
        int rc = flush(c);
        if (closing || rc < 0) {
            close_conn(c);
            return;
        }
        if (rc == 1) {
            set_events(c, 1);
            return;
        }
        /* The reply buffer may have filled before the last line: answer the rest too. */
        if (!memchr(c->in, '\n', c->in_len)) break;
    }
    set_events(c, 0);
}

static void on_readable(struct conn* c) {
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_conn(c);
        return;
    }
    if (n < 0) return;
    c->in_len += (size_t)n;
    progress(c);
}

static void on_writable(struct conn* c) {
    int rc = flush(c);
    if (rc < 0) {
        close_conn(c);
        return;
    }
    if (rc == 0) progress(c); /* drained: answer what is buffered, then read on */
}

static void on_accept(int lfd) {
    for (;;) {
        int fd = accept_into(lfd, ep);
        if (fd < 0) return;
        if ((size_t)fd >= conns_cap) {
            size_t cap = conns_cap ? conns_cap : 1024;
            while (cap <= (size_t)fd)
                cap *= 2;
            struct conn** grown = realloc(conns, cap * sizeof *conns);
            if (!grown) {
                close(fd);
                continue;
            }
            memset(grown + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
            conns = grown;
            conns_cap = cap;
        }
        struct conn* c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->want_out = 0;
        c->in_len = c->out_len = c->out_done = 0;
        conns[fd] = c;
    }
}

int main(int argc, char** argv) {
    const char* host = "127.0.0.1";
    long port = -1;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) usage("missing value");
        if (strcmp(argv[i], "--port") == 0) {
            char* end;
            port = strtol(argv[i + 1], &end, 10);
            if (*end || port < 0 || port > 65535) usage("--port takes 0..65535");
        } else if (strcmp(argv[i], "--host") == 0) {
            host = argv[i + 1];
        } else {
            usage("unknown option");
        }
    }
    if (port < 0) usage("--port is required");

    int lfd = listen_epoll(host, port, &ep);
    if (lfd == -2) usage("--host takes an IPv4 address");
    if (lfd < 0) {
        fprintf(stderr, "floor_server: cannot listen on %s:%ld: %s\n", host, port, strerror(errno));
        return 1;
    }
    handle_signals();

    struct epoll_event events[max_events];
    while (!stop) {
        int n = epoll_wait(ep, events, max_events, -1);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                on_accept(lfd);
                continue;
            }
            struct conn* c = conns[fd];
            if (!c) continue;
            if (c->want_out)
                on_writable(c);
            else
                on_readable(c);
        }
    }
    for (size_t fd = 0; fd < conns_cap; ++fd)
        if (conns[fd]) close_conn(conns[fd]);
    free(conns);
    close(lfd);
    close(ep);
    return 0;
}
