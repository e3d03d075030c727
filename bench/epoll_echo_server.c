/* The near-the-limit baseline of chapter 04's benchmark: an echo server in C
 * straight on Linux's epoll, with nothing between the program and the kernel.
 *
 * It is what every event loop in the benchmark (Asio, asyncio, uvloop, Node)
 * does underneath, minus everything that makes a library pleasant: one
 * thread, one epoll set, level-triggered, and per message exactly
 *
 *     epoll_wait (shared by every ready connection) -> read -> write
 *
 * The chapter servers are measured as a ratio to this one.
 *
 * It keeps the chapter servers' contract, so the benchmark drives all of them
 * the same way: --host, --port (0 picks a free port), --quiet (accepted; it
 * never prints per message), "Serving on HOST:PORT" first, exit status 0 on
 * SIGINT or SIGTERM, 2 on a bad option.
 *
 * Like the chapter servers it sets TCP_NODELAY (asyncio does on every TCP
 * socket) and stops reading from a client whose echo it cannot send yet, so a
 * client that does not read cannot make it buffer without bound. It is still
 * only a baseline: no connection limit, no timeouts, one address only. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { max_events = 256, buffer_size = 64 * 1024 };

/* What one connection could not send yet. Only a client that reads slower
 * than it writes ever has any: everything else is written at once. */
struct connection {
  char *pending;
  size_t length;
  size_t offset;
};

static struct connection *connections; /* Indexed by file descriptor. */
static size_t connection_slots;
static volatile sig_atomic_t stopping;

static void on_signal(int signal_number) {
  (void)signal_number;
  stopping = 1;
}

static void usage(FILE *out) {
  fputs("usage: epoll_echo_server [--host HOST] [--port PORT] [--quiet]\n"
        "An echo server straight on epoll: the benchmark's baseline.\n",
        out);
}

static struct connection *connection_of(int fd) {
  if ((size_t)fd >= connection_slots) {
    size_t slots = connection_slots ? connection_slots : 1024;
    while (slots <= (size_t)fd) {
      slots *= 2;
    }
    struct connection *grown = realloc(connections, slots * sizeof *grown);
    if (grown == NULL) {
      perror("realloc");
      exit(1);
    }
    memset(grown + connection_slots, 0, (slots - connection_slots) * sizeof *grown);
    connections = grown;
    connection_slots = slots;
  }
  return &connections[fd];
}

static void drop(int epoll_fd, int fd) {
  struct connection *c = connection_of(fd);
  free(c->pending);
  memset(c, 0, sizeof *c);
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
}

static void watch(int epoll_fd, int fd, int op, unsigned events) {
  struct epoll_event event = {.events = events, .data.fd = fd};
  if (epoll_ctl(epoll_fd, op, fd, &event) != 0) {
    perror("epoll_ctl");
    exit(1);
  }
}

/* Sends data[0..length); what the kernel does not take yet is kept, and the
 * connection waits for EPOLLOUT instead of EPOLLIN: no more reading until
 * the echo is out. Returns -1 if the connection failed. */
static int send_or_keep(int epoll_fd, int fd, const char *data, size_t length) {
  ssize_t sent = write(fd, data, length);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return -1;
    }
    sent = 0;
  }
  if ((size_t)sent == length) {
    return 0;
  }
  struct connection *c = connection_of(fd);
  c->length = length - (size_t)sent;
  c->offset = 0;
  c->pending = malloc(c->length);
  if (c->pending == NULL) {
    return -1;
  }
  memcpy(c->pending, data + sent, c->length);
  watch(epoll_fd, fd, EPOLL_CTL_MOD, EPOLLOUT);
  return 0;
}

static int flush_pending(int epoll_fd, int fd) {
  struct connection *c = connection_of(fd);
  ssize_t sent = write(fd, c->pending + c->offset, c->length - c->offset);
  if (sent < 0) {
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
  }
  c->offset += (size_t)sent;
  if (c->offset == c->length) {
    free(c->pending);
    memset(c, 0, sizeof *c);
    watch(epoll_fd, fd, EPOLL_CTL_MOD, EPOLLIN); /* Read again. */
  }
  return 0;
}

static int listen_on(const char *host, const char *port, char *shown, size_t shown_size) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE};
  struct addrinfo *found = NULL;
  int status = getaddrinfo(host, port, &hints, &found);
  if (status != 0) {
    fprintf(stderr, "error: cannot resolve %s: %s\n", host, gai_strerror(status));
    exit(1);
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int on = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
    fprintf(stderr, "error: cannot listen on %s:%s: %s\n", host, port, strerror(errno));
    exit(1);
  }
  freeaddrinfo(found);

  struct sockaddr_storage bound;
  socklen_t bound_length = sizeof bound;
  char port_text[16];
  getsockname(fd, (struct sockaddr *)&bound, &bound_length);
  getnameinfo((struct sockaddr *)&bound, bound_length, NULL, 0, port_text, sizeof port_text,
              NI_NUMERICSERV);
  /* Bracket an IPv6 literal, as the chapters do: "[::1]:2222". */
  const char *open = strchr(host, ':') ? "[" : "", *close = strchr(host, ':') ? "]" : "";
  snprintf(shown, shown_size, "%s%s%s:%s", open, host, close, port_text);
  return fd;
}

static int parse_port(const char *text) {
  char *end = NULL;
  long value = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || value < 0 || value > 65535) {
    fprintf(stderr, "error: --port: %s is not a port number (0 to 65535)\n", text);
    exit(2);
  }
  return (int)value;
}

int main(int argc, char *argv[]) {
  const char *host = "localhost";
  char port[8] = "2222";
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quiet") == 0) {
      continue; /* Never prints per message anyway. */
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      snprintf(port, sizeof port, "%d", parse_port(argv[++i]));
    } else {
      fprintf(stderr, "error: unknown or incomplete option: %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  /* No SA_RESTART: the signal interrupts the wait, which returns EINTR.
   * The signals stay blocked except inside epoll_pwait, which unblocks them
   * atomically for just the wait. With a plain epoll_wait a signal landing
   * between the `stopping` check and the wait would be lost, and the server
   * would sleep until the next connection (CI caught exactly that). */
  struct sigaction action = {.sa_handler = on_signal};
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGTERM, &action, NULL);
  signal(SIGPIPE, SIG_IGN); /* A write to a closed peer fails with EPIPE instead. */
  sigset_t stop_signals, while_waiting;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop_signals, &while_waiting);
  sigdelset(&while_waiting, SIGINT);
  sigdelset(&while_waiting, SIGTERM);

  char shown[320];
  int listener = listen_on(host, port, shown, sizeof shown);
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  watch(epoll_fd, listener, EPOLL_CTL_ADD, EPOLLIN);
  printf("Serving on %s\n", shown);
  fflush(stdout);

  static char buffer[buffer_size];
  struct epoll_event events[max_events];
  while (!stopping) {
    int ready = epoll_pwait(epoll_fd, events, max_events, -1, &while_waiting);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      perror("epoll_pwait");
      return 1;
    }
    for (int i = 0; i < ready; ++i) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int client;
        while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          int on = 1;
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          connection_of(client);
          watch(epoll_fd, client, EPOLL_CTL_ADD, EPOLLIN);
        }
        continue; /* EAGAIN: none left. (EMFILE would spin here: a baseline, not a model.) */
      }
      if (events[i].events & EPOLLOUT) {
        if (flush_pending(epoll_fd, fd) != 0) {
          drop(epoll_fd, fd);
        }
        continue;
      }
      /* Level-triggered: one read per wake-up is enough, since epoll_wait
       * reports the socket again if anything is left. */
      ssize_t got = read(fd, buffer, sizeof buffer);
      if (got > 0) {
        if (send_or_keep(epoll_fd, fd, buffer, (size_t)got) != 0) {
          drop(epoll_fd, fd);
        }
      } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        drop(epoll_fd, fd); /* End of file, or reset by the peer. */
      }
    }
  }
  return 0;
}
