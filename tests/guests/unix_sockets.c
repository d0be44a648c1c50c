/*
 * AF_UNIX sockets as programs use them: socketpairs of each type (bytes,
 * datagram and record boundaries, MSG_PEEK/TRUNC/WAITALL/DONTWAIT),
 * blocking reads woken by another process, EPIPE with and without
 * SIGPIPE, shutdown, poll and epoll readiness, socket options and names;
 * then named sockets (a path and an abstract name): bind, listen,
 * connect and accept4 across fork, SO_PEERCRED naming the other process,
 * the errors of each call, the backlog, and what unlink does to a name.
 * Every line is deterministic so it can be compared with a native run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

/* "OK" or the errno name of a call's result. */
static const char *res(long rc)
{
	return rc < 0 ? errname(errno) : "OK";
}

static void pair(int type, int sv[2])
{
	if (socketpair(AF_UNIX, type, 0, sv) != 0) {
		printf("socketpair(%d): %s\n", type, errname(errno));
		exit(1);
	}
}

static void creation_errors(void)
{
	printf("socket(AF_UNIX, SOCK_RDM): %s\n", res(socket(AF_UNIX, SOCK_RDM, 0)));
	printf("socket(AF_UNIX, bad flag): %s\n", res(socket(AF_UNIX, SOCK_STREAM | 0x100, 0)));
	printf("socket(AF_UNIX, type 12): %s\n", res(socket(AF_UNIX, 12, 0)));
	printf("socket(AF_UNIX, protocol 6): %s\n", res(socket(AF_UNIX, SOCK_STREAM, 6)));
	int p[2];
	if (pipe(p) != 0)
		exit(1);
	int v;
	socklen_t len = sizeof(v);
	printf("getsockopt on a pipe: %s\n", res(getsockopt(p[0], SOL_SOCKET, SO_TYPE, &v, &len)));
	printf("shutdown of a pipe: %s\n", res(shutdown(p[0], SHUT_RD)));
	close(p[0]);
	close(p[1]);
}

static void stream_pair(void)
{
	int sv[2], v;
	char buf[64];
	socklen_t len = sizeof(v);
	struct stat st;
	struct sockaddr_un sa;

	pair(SOCK_STREAM, sv);
	printf("stream write: %zd\n", write(sv[0], "hello", 5));
	ssize_t n = read(sv[1], buf, sizeof(buf));
	printf("stream read: %zd '%.*s'\n", n, (int)n, buf);
	getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len);
	printf("SO_TYPE stream: %d, len %u\n", v == SOCK_STREAM, len);
	len = sizeof(v);
	getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len);
	printf("SO_DOMAIN unix: %d\n", v == AF_UNIX);
	len = sizeof(v);
	getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &len);
	printf("SO_ERROR: %d\n", v);
	len = sizeof(v);
	getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
	printf("SO_ACCEPTCONN: %d\n", v);
	len = sizeof(v);
	int rc = getsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, &len);
	printf("SO_RCVBUF: %s positive %d\n", res(rc), v > 0);
	printf("bogus option: %s\n", res(getsockopt(sv[0], SOL_SOCKET, 12345, &v, &len)));
	v = 1;
	printf("SO_PASSCRED set: %s\n", res(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &v, sizeof(v))));
	v = 0;
	len = sizeof(v);
	getsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &v, &len);
	printf("SO_PASSCRED reads back: %d\n", v);

	struct ucred cred;
	len = sizeof(cred);
	getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cred, &len);
	printf("socketpair SO_PEERCRED: len %u pid is me %d uid %d\n", len,
	       cred.pid == getpid(), cred.uid == geteuid());

	fstat(sv[0], &st);
	printf("fstat: socket %d\n", S_ISSOCK(st.st_mode));
	printf("F_GETFL: %o\n", fcntl(sv[0], F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	char link[64], target[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", sv[0]);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	printf("fd link: %.8s\n", target);

	len = sizeof(sa);
	getsockname(sv[0], (struct sockaddr *)&sa, &len);
	printf("getsockname: len %u family unix %d\n", len, sa.sun_family == AF_UNIX);
	len = sizeof(sa);
	const char *r = res(getpeername(sv[0], (struct sockaddr *)&sa, &len));
	printf("getpeername: %s len %u\n", r, len);

	/* MSG_PEEK leaves the bytes; recvfrom names no source for an unnamed peer. */
	send(sv[0], "peekaboo", 8, 0);
	n = recv(sv[1], buf, 4, MSG_PEEK);
	printf("peek: %zd '%.*s'\n", n, (int)n, buf);
	len = sizeof(sa);
	n = recvfrom(sv[1], buf, sizeof(buf), 0, (struct sockaddr *)&sa, &len);
	printf("recvfrom: %zd '%.*s' addrlen %u\n", n, (int)n, buf, len);

	printf("MSG_DONTWAIT on empty: %s\n", res(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT)));
	printf("sendto with address: %s\n",
	       res(sendto(sv[0], "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa.sun_family) + 2)));
	close(sv[0]);
	close(sv[1]);
}

static void boundaries(int type, const char *what)
{
	int sv[2];
	char buf[64];
	struct iovec iov = { buf, 2 };
	struct msghdr mh = { 0 };

	pair(type, sv);
	send(sv[0], "one", 3, 0);
	send(sv[0], "three", 5, 0);
	send(sv[0], "seven!!", 7, 0);
	send(sv[0], "", 0, 0);
	ssize_t n = recv(sv[1], buf, sizeof(buf), 0);
	printf("%s first: %zd '%.*s'\n", what, n, (int)n, buf);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	n = recvmsg(sv[1], &mh, 0);
	printf("%s cut: %zd '%.*s' MSG_TRUNC %d\n", what, n, (int)n, buf, !!(mh.msg_flags & MSG_TRUNC));
	n = recv(sv[1], buf, 3, MSG_TRUNC);
	printf("%s MSG_TRUNC returns the length: %zd\n", what, n);
	n = recv(sv[1], buf, sizeof(buf), 0);
	printf("%s empty message: %zd\n", what, n);
	close(sv[0]);
	close(sv[1]);
}

static void many_messages(void)
{
	int sv[2];
	char bufs[4][8];
	struct iovec out[3] = { { "a", 1 }, { "bb", 2 }, { "ccc", 3 } }, in[4];
	struct mmsghdr msgs[4];

	pair(SOCK_DGRAM, sv);
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < 3; i++) {
		msgs[i].msg_hdr.msg_iov = &out[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	printf("sendmmsg: %d\n", sendmmsg(sv[0], msgs, 3, 0));
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < 4; i++) {
		in[i].iov_base = bufs[i];
		in[i].iov_len = sizeof(bufs[i]);
		msgs[i].msg_hdr.msg_iov = &in[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	int n = recvmmsg(sv[1], msgs, 4, MSG_WAITFORONE, NULL);
	printf("recvmmsg MSG_WAITFORONE: %d, lengths %u %u %u\n", n, msgs[0].msg_len, msgs[1].msg_len,
	       msgs[2].msg_len);
	printf("recvmmsg on empty, MSG_DONTWAIT: %s\n", res(recvmmsg(sv[1], msgs, 4, MSG_DONTWAIT, NULL)));
	close(sv[0]);
	close(sv[1]);
}

static void nonblocking(void)
{
	int sv[2];
	char buf[8];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
		exit(1);
	printf("nonblocking F_GETFL: %d\n", !!(fcntl(sv[0], F_GETFL) & O_NONBLOCK));
	printf("nonblocking read: %s\n", res(read(sv[0], buf, sizeof(buf))));
	fcntl(sv[0], F_SETFL, 0);
	printf("after F_SETFL 0, MSG_DONTWAIT: %s\n", res(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT)));
	/* Fill the socket: a non-blocking writer gets EAGAIN, with part of a big write in. */
	static char big[1 << 20];
	ssize_t first = write(sv[1], big, sizeof(big));
	printf("big non-blocking write partial: %d\n", first > 0 && first < (ssize_t)sizeof(big));
	printf("full non-blocking write: %s\n", res(write(sv[1], big, sizeof(big))));
	close(sv[0]);
	close(sv[1]);
}

static void blocking_wakeups(void)
{
	int sv[2];
	char buf[16];

	pair(SOCK_STREAM, sv);
	pid_t child = fork();
	if (child == 0) {
		usleep(100000);
		write(sv[1], "wake", 4);
		usleep(50000);
		write(sv[1], "abc", 3);
		usleep(50000);
		write(sv[1], "defghi", 6);
		_exit(0);
	}
	ssize_t n = read(sv[0], buf, sizeof(buf));
	printf("blocking read woken by child: %zd '%.*s'\n", n, (int)n, buf);
	n = recv(sv[0], buf, 9, MSG_WAITALL);
	printf("MSG_WAITALL: %zd '%.*s'\n", n, (int)n, buf);
	int status;
	waitpid(child, &status, 0);
	close(sv[1]);
	n = read(sv[0], buf, sizeof(buf));
	printf("read after the peer closed: %zd\n", n);
	close(sv[0]);
}

static void epipe_and_shutdown(void)
{
	int sv[2];
	char buf[8];

	signal(SIGPIPE, on_sigpipe);
	pair(SOCK_STREAM, sv);
	close(sv[1]);
	const char *r = res(send(sv[0], "x", 1, MSG_NOSIGNAL));
	printf("send MSG_NOSIGNAL to closed peer: %s, SIGPIPEs %d\n", r, (int)sigpipes);
	r = res(send(sv[0], "x", 1, 0));
	printf("send to closed peer: %s, SIGPIPEs %d\n", r, (int)sigpipes);
	r = res(write(sv[0], "x", 1));
	printf("write to closed peer: %s, SIGPIPEs %d\n", r, (int)sigpipes);
	close(sv[0]);

	pair(SOCK_STREAM, sv);
	printf("shutdown(SHUT_WR): %s\n", res(shutdown(sv[0], SHUT_WR)));
	printf("peer reads EOF: %zd\n", read(sv[1], buf, sizeof(buf)));
	printf("send after SHUT_WR: %s\n", res(send(sv[0], "x", 1, MSG_NOSIGNAL)));
	printf("peer can still send back: %zd\n", send(sv[1], "back", 4, 0));
	printf("and it arrives: %zd\n", read(sv[0], buf, sizeof(buf)));
	printf("shutdown(7): %s\n", res(shutdown(sv[0], 7)));
	shutdown(sv[1], SHUT_RD);
	printf("read after SHUT_RD: %zd\n", read(sv[1], buf, sizeof(buf)));
	close(sv[0]);
	close(sv[1]);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("shutdown unconnected: %s\n", res(shutdown(s, SHUT_RDWR)));
	printf("getpeername unconnected: %s\n", res(getpeername(s, NULL, NULL)));
	printf("read unconnected: %s\n", res(read(s, buf, 1)));
	close(s);
	signal(SIGPIPE, SIG_DFL);
}

static void readiness(void)
{
	int sv[2];
	char buf[8];
	struct pollfd pfd;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 77 }, out;

	pair(SOCK_SEQPACKET, sv);
	pfd.fd = sv[1];
	pfd.events = POLLIN | POLLOUT;
	poll(&pfd, 1, 0);
	printf("poll idle: in %d out %d\n", !!(pfd.revents & POLLIN), !!(pfd.revents & POLLOUT));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	printf("epoll_ctl add: %s\n", res(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev)));
	printf("epoll_wait idle: %d\n", epoll_wait(ep, &out, 1, 0));
	send(sv[0], "rec", 3, 0);
	poll(&pfd, 1, 0);
	printf("poll with data: in %d\n", !!(pfd.revents & POLLIN));
	int n = epoll_wait(ep, &out, 1, 1000);
	printf("epoll_wait with data: %d data %u in %d\n", n, out.data.u32, !!(out.events & EPOLLIN));
	recv(sv[1], buf, sizeof(buf), 0);
	close(sv[0]);
	poll(&pfd, 1, 0);
	printf("poll after peer closed: hup %d\n", !!(pfd.revents & POLLHUP));
	close(ep);
	close(sv[1]);
}

static socklen_t path_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	strcpy(sa->sun_path, path);
	return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static socklen_t abstract_addr(struct sockaddr_un *sa, const char *name)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	strcpy(sa->sun_path + 1, name);
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

/*
 * A child connects to `sa`, checks who it reached and talks; it sends its
 * findings back over the connection for the server to print, so the
 * output does not depend on how the two processes interleave.
 */
static pid_t client(struct sockaddr_un *sa, socklen_t len, pid_t server)
{
	pid_t child = fork();
	if (child != 0)
		return child;
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(c, (struct sockaddr *)sa, len) != 0)
		_exit(1);
	char report[512];
	int at = 0;
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);
	getpeername(c, (struct sockaddr *)&peer, &plen);
	at += snprintf(report + at, sizeof(report) - at,
		       "child: getpeername len matches %d name matches %d\n", plen == len,
		       memcmp(&peer, sa, len) == 0);
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &clen);
	at += snprintf(report + at, sizeof(report) - at,
		       "child: SO_PEERCRED pid is the server %d\n", cred.pid == server);
	int again = connect(c, (struct sockaddr *)sa, len);
	at += snprintf(report + at, sizeof(report) - at, "child: connect again: %s\n", res(again));
	write(c, "hi from child", 13);
	char buf[32];
	ssize_t n = read(c, buf, sizeof(buf));
	at += snprintf(report + at, sizeof(report) - at, "child: reply %zd '%.*s'\n", n, (int)n, buf);
	write(c, report, at);
	_exit(0);
}

static void serve_one(int l, pid_t child)
{
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);
	int a = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	printf("accept4: %s, peer addrlen %u, cloexec %d, nonblock %d\n", res(a), plen,
	       !!(fcntl(a, F_GETFD) & FD_CLOEXEC), !!(fcntl(a, F_GETFL) & O_NONBLOCK));
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cred, &clen);
	printf("server: SO_PEERCRED pid is the child %d\n", cred.pid == child);
	char buf[512];
	ssize_t n = read(a, buf, 13);
	printf("server: got %zd '%.*s'\n", n, (int)n, buf);
	write(a, "hello back", 10);
	n = recv(a, buf, sizeof(buf), MSG_WAITALL);
	printf("%.*s", (int)(n > 0 ? n : 0), buf);
	int status;
	waitpid(child, &status, 0);
	printf("server: child exited %d\n", WEXITSTATUS(status));
	close(a);
}

static void path_names(void)
{
	char path[64];
	struct sockaddr_un sa, got;
	struct stat st;
	int v;
	socklen_t len = sizeof(v);

	snprintf(path, sizeof(path), "/tmp/rvisor-unix-test-%d", getpid());
	unlink(path);
	socklen_t alen = path_addr(&sa, path);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("listen unbound: %s\n", res(listen(l, 5)));
	printf("connect to a missing path: %s\n", res(connect(l, (struct sockaddr *)&sa, alen)));
	printf("bind path: %s\n", res(bind(l, (struct sockaddr *)&sa, alen)));
	printf("bind again: %s\n", res(bind(l, (struct sockaddr *)&sa, alen)));
	printf("stat: socket %d\n", stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
	printf("open the name: %s\n", res(open(path, O_RDONLY)));
	int other = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("bind taken path: %s\n", res(bind(other, (struct sockaddr *)&sa, alen)));
	printf("connect to bound, not listening: %s\n",
	       res(connect(other, (struct sockaddr *)&sa, alen)));
	close(other);
	len = sizeof(got);
	getsockname(l, (struct sockaddr *)&got, &len);
	printf("getsockname: len matches %d path matches %d\n", len == alen,
	       strcmp(got.sun_path, path) == 0);
	printf("accept before listen: %s\n", res(accept(l, NULL, NULL)));
	printf("listen: %s\n", res(listen(l, 5)));
	len = sizeof(v);
	getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
	printf("SO_ACCEPTCONN: %d\n", v);
	fcntl(l, F_SETFL, O_NONBLOCK);
	printf("accept with none pending: %s\n", res(accept(l, NULL, NULL)));
	fcntl(l, F_SETFL, 0);

	pid_t child = client(&sa, alen, getpid());
	serve_one(l, child);

	/* A pending connection makes the listener readable. */
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	struct pollfd pfd = { .fd = l, .events = POLLIN };
	printf("listener poll idle: %d\n", poll(&pfd, 1, 0));
	printf("connect: %s\n", res(connect(c, (struct sockaddr *)&sa, alen)));
	int ready = poll(&pfd, 1, 0);
	printf("listener poll with one pending: %d in %d\n", ready, !!(pfd.revents & POLLIN));
	int a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	printf("accept4 SOCK_NONBLOCK: nonblock %d\n", !!(fcntl(a, F_GETFL) & O_NONBLOCK));
	len = sizeof(got);
	getsockname(a, (struct sockaddr *)&got, &len);
	printf("accepted socket's name is the listener's: %d\n", strcmp(got.sun_path, path) == 0);
	close(a);
	close(c);

	close(l);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("connect after the listener closed: %s\n", res(connect(c, (struct sockaddr *)&sa, alen)));
	printf("bind the stale name: %s\n", res(bind(c, (struct sockaddr *)&sa, alen)));
	printf("unlink: %s\n", res(unlink(path)));
	printf("connect after unlink: %s\n", res(connect(c, (struct sockaddr *)&sa, alen)));
	close(c);

	/* A regular file of that name is no socket. */
	int f = open(path, O_CREAT | O_WRONLY, 0600);
	close(f);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("connect to a regular file: %s\n", res(connect(c, (struct sockaddr *)&sa, alen)));
	close(c);
	unlink(path);
}

static void abstract_names(void)
{
	char name[64];
	struct sockaddr_un sa, got;

	snprintf(name, sizeof(name), "rvisor-unix-test-%d", getpid());
	socklen_t alen = abstract_addr(&sa, name);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("abstract connect, no listener: %s\n", res(connect(c, (struct sockaddr *)&sa, alen)));
	close(c);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("abstract bind: %s\n", res(bind(l, (struct sockaddr *)&sa, alen)));
	int other = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("abstract bind taken: %s\n", res(bind(other, (struct sockaddr *)&sa, alen)));
	socklen_t len = sizeof(got);
	getsockname(l, (struct sockaddr *)&got, &len);
	printf("abstract getsockname: len matches %d leading NUL %d\n", len == alen, got.sun_path[0] == 0);
	listen(l, 0);
	pid_t child = client(&sa, alen, getpid());
	serve_one(l, child);

	/* Backlog 0 holds one connection; a non-blocking second gets EAGAIN. */
	int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	printf("backlog 0, first connect: %s\n", res(connect(c1, (struct sockaddr *)&sa, alen)));
	printf("backlog 0, second connect: %s\n", res(connect(c2, (struct sockaddr *)&sa, alen)));
	printf("data before accept: %zd\n", write(c1, "early", 5));
	int a = accept(l, NULL, NULL);
	char buf[8];
	printf("accepted, reads the early data: %zd\n", read(a, buf, sizeof(buf)));
	close(a);
	close(c1);
	close(c2);
	close(l);
	printf("abstract name free again: %s\n", res(bind(other, (struct sockaddr *)&sa, alen)));
	close(other);

	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	snprintf(name, sizeof(name), "rvisor-dgram-test-%d", getpid());
	alen = abstract_addr(&sa, name);
	bind(d, (struct sockaddr *)&sa, alen);
	printf("listen on a datagram socket: %s\n", res(listen(d, 1)));
	printf("accept on a datagram socket: %s\n", res(accept(d, NULL, NULL)));
	close(d);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	creation_errors();
	stream_pair();
	boundaries(SOCK_DGRAM, "dgram");
	boundaries(SOCK_SEQPACKET, "seqpacket");
	many_messages();
	nonblocking();
	blocking_wakeups();
	epipe_and_shutdown();
	readiness();
	path_names();
	abstract_names();
	printf("done\n");
	return 0;
}
