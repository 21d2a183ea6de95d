/* durable_floor: a reference for netd's durable-ack benchmark (issue 3): redis's structure with
 * none of redis's work, acknowledging netd's sensor protocol durably, so the ratio netd / redis
 * can be read against the least CPU per ack that structure needs on this machine. It is not an
 * upper bound: it never overlaps the sync with socket work, which netd's threads do.
 *
 *   durable_floor --port N --file PATH [--append] [--host 127.0.0.1]
 *
 * redis's structure with nothing else: one thread, one level-triggered epoll set. Each turn
 * reads every readable connection once, collects every complete line of all of them into one
 * buffer, writes it with one write and makes it durable with one fdatasync, then sends each
 * connection its acks ("ack <n>\n", n counting that connection's lines from 1) in one send.
 * Readings that arrive during the sync wait for the next turn, as in redis with
 * `appendfsync always`.
 *
 * The file: by default a 32 MiB file of zeros (made at start) overwritten in place from offset 0,
 * wrapping around, as netd's write-ahead log is (an overwrite's fdatasync commits no ext4
 * journal); with --append an O_APPEND file, as redis's AOF is. It keeps no data file, no
 * checkpoint, no framing of the stored lines: what netd does beyond this is the price the ratio
 * netd / floor measures.
 *
 * A line over 4 KiB, more acks than fit 4 KiB at once, or acks the socket does not take close
 * the connection. It exits on SIGTERM or SIGINT.
 *
 * Build: cc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror durable_floor.c -o durable_floor
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

enum { in_bytes = 4096, out_bytes = 4096, max_events = 1024 };
static const size_t log_bytes = (size_t)32 << 20;

struct conn {
    int fd;
    int touched;            /* has acks due this turn (it is in `touched`) */
    unsigned long long seq; /* lines acked so far */
    unsigned pending;       /* lines stored this turn, to ack after the sync */
    size_t in_len;
    char in[in_bytes];
};

static struct conn** conns;
static size_t conns_cap;
static struct conn** touched;
static size_t touched_len, touched_cap;
static char* batch;
static size_t batch_len, batch_cap;
static int ep = -1;
static void usage(const char* why) {
    fprintf(stderr,
            "durable_floor: %s\n"
            "usage: durable_floor --port N --file PATH [--append] [--host 127.0.0.1]\n",
            why);
    exit(2);
}

static void die(const char* what) {
    fprintf(stderr, "durable_floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void* grow(void* p, size_t* cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    p = realloc(p, c * size);
    if (!p) die("out of memory");
    *cap = c;
    return p;
}

static void close_conn(struct conn* c) {
    close(c->fd);
    conns[c->fd] = NULL;
    free(c);
}

/* Moves the complete lines of c->in into the batch. Returns -1 for a line too long (closed
 * after this turn's acks). */
static int take_lines(struct conn* c) {
    size_t pos = 0;
    for (;;) {
        char* nl = memchr(c->in + pos, '\n', c->in_len - pos);
        if (!nl) break;
        size_t len = (size_t)(nl - (c->in + pos)) + 1;
        batch = grow(batch, &batch_cap, batch_len + len, 1);
        memcpy(batch + batch_len, c->in + pos, len);
        batch_len += len;
        ++c->pending;
        pos += len;
    }
    if (pos > 0) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
        if (!c->touched) {
            touched = grow(touched, &touched_cap, touched_len + 1, sizeof *touched);
            touched[touched_len++] = c;
            c->touched = 1;
        }
    }
    return c->in_len == sizeof c->in ? -1 : 0;
}

static void on_readable(struct conn* c) {
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) { /* each connection is read once a turn, so it has nothing stored yet */
        close_conn(c);
        return;
    }
    c->in_len += (size_t)n;
    if (take_lines(c) < 0 && !c->touched) close_conn(c);
}

static void on_accept(int lfd) {
    for (;;) {
        int fd = accept_into(lfd, ep);
        if (fd < 0) return;
        if ((size_t)fd >= conns_cap) {
            size_t old = conns_cap;
            conns = grow(conns, &conns_cap, (size_t)fd + 1, sizeof *conns);
            memset(conns + old, 0, (conns_cap - old) * sizeof *conns);
        }
        struct conn* c = calloc(1, sizeof *c);
        if (!c) die("out of memory");
        c->fd = fd;
        conns[fd] = c;
    }
}

/* Makes this turn's batch durable: one write, one fdatasync. */
static void store(int file, int append, size_t* at) {
    if (!append && *at + batch_len > log_bytes) *at = 0;
    size_t done = 0;
    while (done < batch_len) {
        ssize_t n = append ? write(file, batch + done, batch_len - done)
                           : pwrite(file, batch + done, batch_len - done, (off_t)(*at + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("write");
        done += (size_t)n;
    }
    if (!append) *at += batch_len;
    if (fdatasync(file) != 0) die("fdatasync");
    batch_len = 0;
}

static void send_acks(void) {
    char out[out_bytes];
    for (size_t i = 0; i < touched_len; ++i) {
        struct conn* c = touched[i];
        c->touched = 0;
        size_t len = 0;
        for (; c->pending > 0; --c->pending) {
            if (len + sizeof "ack 18446744073709551615\n" > sizeof out) break;
            len += (size_t)snprintf(out + len, sizeof out - len, "ack %llu\n", ++c->seq);
        }
        if (c->pending > 0 || send(c->fd, out, len, MSG_NOSIGNAL) != (ssize_t)len ||
            c->in_len == sizeof c->in)
            close_conn(c);
    }
    touched_len = 0;
}

int main(int argc, char** argv) {
    const char* host = "127.0.0.1";
    const char* path = NULL;
    long port = -1;
    int append = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--append") == 0) {
            append = 1;
            continue;
        }
        if (i + 1 >= argc) usage("missing value");
        if (strcmp(argv[i], "--port") == 0) {
            char* end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535) usage("--port takes 0..65535");
        } else if (strcmp(argv[i], "--host") == 0) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--file") == 0) {
            path = argv[++i];
        } else {
            usage("unknown option");
        }
    }
    if (port < 0 || !path) usage("--port and --file are required");

    int file = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : 0), 0600);
    if (file < 0) die(path);
    if (!append) { /* written, not fallocated: an unwritten extent's first write is an append */
        static char zeros[1 << 20];
        for (size_t at = 0; at < log_bytes; at += sizeof zeros)
            if (pwrite(file, zeros, sizeof zeros, (off_t)at) != (ssize_t)sizeof zeros) die("write");
        if (fsync(file) != 0) die("fsync");
    }

    int lfd = listen_epoll(host, port, &ep);
    if (lfd == -2) usage("--host takes an IPv4 address");
    if (lfd < 0) die("listen");
    handle_signals();

    static struct epoll_event events[max_events];
    size_t at = 0;
    while (!stop) {
        int n = epoll_wait(ep, events, max_events, 200); /* sees `stop` within 0.2 s */
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                on_accept(lfd);
            } else if (conns[fd]) {
                on_readable(conns[fd]);
            }
        }
        if (batch_len > 0) store(file, append, &at);
        send_acks();
    }
    for (size_t fd = 0; fd < conns_cap; ++fd)
        if (conns[fd]) close_conn(conns[fd]);
    close(file);
    close(lfd);
    close(ep);
    return 0;
}
