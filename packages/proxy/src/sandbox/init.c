/*
 * swarm-init: the first process of a step's sandbox (PID 1 of its PID namespace, started by
 * bubblewrap with --as-pid-1). It
 *
 *   1. listens on 127.0.0.1:<port> inside the sandbox's network namespace and relays every
 *      connection to the egress broker's Unix socket (file system sockets are not network-
 *      namespaced, so this is the one way out);
 *   2. starts the step as its own process group, forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT to it,
 *      and reaps every orphan (it is the namespace's reaper);
 *   3. with --publish-fd, takes connections swarm accepted on the host's loopback for the ports
 *      named by --publish (each socket handed over Node's IPC channel, SCM_RIGHTS) and relays
 *      each to 127.0.0.1:<port> inside the namespace, where the step's server listens;
 *   4. exits when the step's main process exits. The kernel then kills every other process of
 *      the namespace before this process can be reaped, so nothing the step started survives it.
 *
 * It reports on --report-fd: "ready\n" once the step is about to start, and "exit <n>\n" or
 * "signal <n>\n" for how the step ended (a PID 1 cannot re-raise a signal on itself). It makes
 * itself undumpable first, so the step (same uid, same user namespace) cannot trace it or take
 * its descriptors with pidfd_getfd; swarm still trusts only a report that agrees with bwrap's
 * own exit status.
 *
 * C rather than Node: a Node process costs about 50 ms to start, more than the whole sandbox may
 * add to a run. Only libc is used.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SETUP_FAILED 125
#define RELAY_BUFFER (128 * 1024)
#define MAX_PUBLISHED 16
#define CHANNEL_LINE 4096
/* Published connections relayed at once; more are closed (anyone on the host's loopback can connect). */
#define MAX_RELAYS 256

static volatile sig_atomic_t pending_signal = 0;
static volatile sig_atomic_t child_exited = 0;

static void on_signal(int sig) { pending_signal = sig; }
static void on_child(int sig) { (void)sig; child_exited = 1; }

static void die(const char *what) {
  fprintf(stderr, "swarm sandbox: %s: %s\n", what, strerror(errno));
  _exit(SETUP_FAILED);
}

static void usage(void) {
  fprintf(stderr, "usage: swarm-init [--port N --socket PATH] [--report-fd FD] [--publish-fd FD --publish PORT...] -- step...\n");
  _exit(SETUP_FAILED);
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static void report(int fd, const char *line) {
  if (fd >= 0) (void)write_all(fd, line, strlen(line));
}

/* Copies both ways between two sockets until both directions are closed (half-close aware). */
static void relay(int a, int b) {
  static char buffer[RELAY_BUFFER];
  int open_ab = 1, open_ba = 1;
  while (open_ab || open_ba) {
    /* A closed direction is left out of the poll (fd -1), or its POLLHUP would spin the loop. */
    struct pollfd fds[2] = {{open_ab ? a : -1, POLLIN, 0}, {open_ba ? b : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; i++) {
      int from = i == 0 ? a : b, to = i == 0 ? b : a;
      int *open = i == 0 ? &open_ab : &open_ba;
      if (!*open || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(from, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || write_all(to, buffer, (size_t)n) < 0) {
        *open = 0;
        shutdown(to, SHUT_WR);
        if (n < 0) return;
      }
    }
  }
}

/* A relay child: no signal blocked or caught (the parent holds them blocked for its ppoll). */
static void reset_child_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
}

static int connect_broker(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int listen_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("cannot create the bridge socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("cannot listen on 127.0.0.1 (bind)");
  if (listen(fd, 512) < 0) die("cannot listen on 127.0.0.1");
  return fd;
}

/* Descriptors a relay child must not keep (set once known). */
static int keep_out[3] = {-1, -1, -1};

static void close_kept_out(void) {
  for (int i = 0; i < 3; i++) if (keep_out[i] >= 0) close(keep_out[i]);
}

/* The published relays alive now, by pid (at most MAX_RELAYS). */
static pid_t relay_pids[MAX_RELAYS];
static int relays = 0;

static void relay_gone(pid_t pid) {
  for (int i = 0; i < relays; i++) {
    if (relay_pids[i] == pid) {
      relay_pids[i] = relay_pids[--relays];
      return;
    }
  }
}

/* One process per connection: a tunnel that stalls never blocks the others. */
static void accept_one(int listener, const char *socket_path) {
  int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (client < 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    reset_child_signals();
    close(listener);
    close_kept_out();
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int broker = connect_broker(socket_path);
    if (broker >= 0) relay(client, broker);
    _exit(0);
  }
  close(client);
}

/* The step's server on 127.0.0.1:port, else on [::1]:port (a server bound to "localhost" may be there). */
static int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) return fd;
    close(fd);
  }
  fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in6 addr6;
  memset(&addr6, 0, sizeof addr6);
  addr6.sin6_family = AF_INET6;
  addr6.sin6_port = htons((unsigned short)port);
  addr6.sin6_addr = in6addr_loopback;
  if (connect(fd, (struct sockaddr *)&addr6, sizeof addr6) == 0) return fd;
  close(fd);
  return -1;
}



/* One published connection: the host's socket relayed to the step's server on 127.0.0.1:port. */
static void relay_published(int host, int port) {
  if (relays >= MAX_RELAYS) {
    close(host);
    return;
  }
  pid_t pid = fork();
  if (pid > 0) relay_pids[relays++] = pid;
  if (pid == 0) {
    close_kept_out();
    reset_child_signals();
    int step = connect_loopback(port);
    if (step >= 0) relay(host, step);
    _exit(0);
  }
  close(host);
}

/*
 * The publish channel: Node's IPC framing, one JSON line per message. A handed-over socket comes as
 * {"cmd":"NODE_HANDLE",...,"msg":{"swarm_publish":<port>}} with the descriptor in SCM_RIGHTS, and
 * Node sends the next one only after {"cmd":"NODE_HANDLE_ACK"}. Only the ports named at start
 * are relayed; anything else received is closed.
 */
static char channel_line[CHANNEL_LINE];
static size_t channel_used = 0;
static int channel_fds[8];
static int channel_nfds = 0;

static int published_port(const char *line, const int *ports, int nports) {
  const char *key = strstr(line, "\"swarm_publish\":");
  if (!key) return -1;
  long port = strtol(key + strlen("\"swarm_publish\":"), NULL, 10);
  for (int i = 0; i < nports; i++) if (ports[i] == port) return (int)port;
  return -1;
}

/* Returns 0 while the channel is open, -1 once swarm closed it. */
static int read_channel(int channel, const int *ports, int nports) {
  char data[CHANNEL_LINE];
  char control[CMSG_SPACE(sizeof(int) * 4)];
  struct iovec iov = {data, sizeof data};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return errno == EINTR || errno == EAGAIN ? 0 : -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    int *fds = (int *)CMSG_DATA(c);
    for (int i = 0; i < count; i++) {
      if (channel_nfds < (int)(sizeof channel_fds / sizeof channel_fds[0])) channel_fds[channel_nfds++] = fds[i];
      else close(fds[i]);
    }
  }
  if (n == 0) return -1;
  for (ssize_t i = 0; i < n; i++) {
    if (data[i] != '\n') {
      if (channel_used < sizeof channel_line - 1) channel_line[channel_used++] = data[i];
      continue;
    }
    channel_line[channel_used] = '\0';
    channel_used = 0;
    if (!strstr(channel_line, "\"cmd\":\"NODE_HANDLE\"")) continue;
    int host = -1;
    if (channel_nfds > 0) {
      host = channel_fds[0];
      memmove(channel_fds, channel_fds + 1, sizeof(int) * (size_t)(--channel_nfds));
    }
    int port = published_port(channel_line, ports, nports);
    if (host >= 0 && port > 0) relay_published(host, port);
    else if (host >= 0) close(host);
    /* No descriptor came with it (MSG_CTRUNC, a full table): Node sends it again on a NACK. */
    static const char ack[] = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n";
    static const char nack[] = "{\"cmd\":\"NODE_HANDLE_NACK\"}\n";
    if (host >= 0) write_all(channel, ack, sizeof ack - 1);
    else write_all(channel, nack, sizeof nack - 1);
  }
  return 0;
}

/* The step gets exactly stdin, stdout and stderr; every other inherited descriptor closes on exec. */
static void close_on_exec_above_stderr(void) {
#ifdef SYS_close_range
  /* close_range(3, ~0U, CLOSE_RANGE_CLOEXEC): one call where the kernel has it (5.11+). */
  if (syscall(SYS_close_range, 3U, ~0U, 4U) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

int main(int argc, char **argv) {
  int port = -1, report_fd = -1, channel = -1;
  int published[MAX_PUBLISHED];
  int npublished = 0;
  const char *socket_path = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--port") == 0) {
      char *end = NULL;
      long value = strtol(argv[++i], &end, 10);
      if (*end != '\0' || value < 0 || value > 65535) usage();
      port = (int)value;
    }
    else if (strcmp(argv[i], "--socket") == 0) socket_path = argv[++i];
    else if (strcmp(argv[i], "--report-fd") == 0) report_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--publish-fd") == 0) channel = atoi(argv[++i]);
    else if (strcmp(argv[i], "--publish") == 0) {
      char *end = NULL;
      long value = strtol(argv[++i], &end, 10);
      if (*end != '\0' || value < 1 || value > 65535 || npublished == MAX_PUBLISHED) usage();
      published[npublished++] = (int)value;
    }
    else usage();
  }
  if (i >= argc) usage();
  if ((port >= 0) != (socket_path != NULL)) usage();
  if ((channel >= 0) != (npublished > 0)) usage();
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("cannot make the sandbox's first process undumpable");
  close_on_exec_above_stderr();
  /* Node marks its IPC channel for its child; the step is not that child. */
  unsetenv("NODE_CHANNEL_FD");
  unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");

  int listener = port >= 0 ? listen_loopback(port) : -1;
  keep_out[0] = listener;
  keep_out[1] = channel;
  keep_out[2] = report_fd;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGQUIT, &sa, NULL);
  sa.sa_handler = on_child;
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Held blocked except inside ppoll, so a signal can never slip in between a check and a wait. */
  sigset_t held, unblocked;
  sigemptyset(&unblocked);
  sigemptyset(&held);
  sigaddset(&held, SIGTERM);
  sigaddset(&held, SIGINT);
  sigaddset(&held, SIGHUP);
  sigaddset(&held, SIGQUIT);
  sigaddset(&held, SIGCHLD);
  /* `unblocked` is an explicit empty mask, whatever mask this process inherited. */
  sigprocmask(SIG_BLOCK, &held, NULL);

  report(report_fd, "ready\n");
  pid_t step = fork();
  if (step < 0) die("cannot start the step (fork)");
  if (step == 0) {
    setpgid(0, 0);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) sigaction(sigs[k], &dfl, NULL);
    sigprocmask(SIG_SETMASK, &unblocked, NULL);
    execvp(argv[i], &argv[i]);
    int code = errno == ENOENT ? 127 : 126;
    fprintf(stderr, "swarm sandbox: cannot start %s: %s\n", argv[i], strerror(errno));
    _exit(code);
  }
  setpgid(step, step);

  int status = 0;
  for (;;) {
    if (pending_signal) {
      int sig = pending_signal;
      pending_signal = 0;
      kill(-step, sig);
      kill(step, sig);
    }
    if (child_exited) {
      child_exited = 0;
      pid_t pid;
      int st;
      int done = 0;
      while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == step) {
          status = st;
          done = 1;
        } else {
          relay_gone(pid);
        }
      }
      if (done) break;
    }
    struct pollfd fds[2] = {{listener, POLLIN, 0}, {channel, POLLIN, 0}};
    int n = ppoll(fds, 2, NULL, &unblocked);
    if (n > 0 && listener >= 0 && (fds[0].revents & POLLIN)) accept_one(listener, socket_path);
    if (n > 0 && channel >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (read_channel(channel, published, npublished) < 0) {
        close(channel);
        channel = -1;
      }
    }
  }

  char line[32];
  if (WIFSIGNALED(status)) snprintf(line, sizeof line, "signal %d\n", WTERMSIG(status));
  else snprintf(line, sizeof line, "exit %d\n", WEXITSTATUS(status));
  report(report_fd, line);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
