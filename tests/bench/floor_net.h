/* What the floors (floor_server.c for ping, durable_floor.c for durable acks) share: a stop flag
 * that SIGTERM and SIGINT set, and a listening socket in an epoll set. Static inline functions in
 * a header, so that each floor still builds from its one .c file with cc. The including file
 * defines _GNU_SOURCE (accept4) before any system header. */
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static inline void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* SIGTERM and SIGINT set `stop`; a peer that went away makes send fail instead of killing. */
static inline void handle_signals(void) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* A non-blocking socket listening on host:port (IPv4), added to a new epoll set (*ep). Returns
 * the socket; -1 with errno set if it cannot listen, -2 if host is not an IPv4 address. */
static inline int listen_epoll(const char* host, long port, int* ep) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return -2;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) return -1;
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0 ||
        (*ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        close(lfd);
        return -1;
    }
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(*ep, EPOLL_CTL_ADD, lfd, &lev);
    return lfd;
}

/* The next waiting connection, non-blocking, TCP_NODELAY, in the epoll set `ep` for reading;
 * -1 when none is left (EAGAIN, or out of descriptors: level-triggered, tried again). */
static inline int accept_into(int lfd, int ep) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return -1;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0) return fd;
        close(fd);
    }
}
