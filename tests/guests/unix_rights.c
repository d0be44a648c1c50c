/*
 * Passing descriptors over AF_UNIX sockets (SCM_RIGHTS): a pipe end and an
 * open file (sharing its offset) sent by a child that exits before the
 * parent receives them; MSG_CMSG_CLOEXEC; a control buffer too small
 * (MSG_CTRUNC, the extra descriptor closed); a receive with no control
 * buffer; rights ending a stream read at their bytes; a datagram carrying
 * rights; a bad descriptor refused with EBADF.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

/* Send `len` bytes with `n` descriptors. */
static ssize_t send_fds(int s, const char *data, size_t len, const int *fds, int n)
{
	char control[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = { (void *)data, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n > 0) {
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	return sendmsg(s, &mh, 0);
}

/*
 * Receive into `buf` with room for `room` descriptors (-1: no control
 * buffer); the descriptors go to `fds`, their count is returned in `*n`.
 */
static ssize_t recv_fds(int s, char *buf, size_t len, int room, int flags, int *fds, int *n,
			int *msg_flags)
{
	char control[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (room >= 0) {
		mh.msg_control = control;
		/* Exactly `room` descriptors fit (CMSG_SPACE could hold more). */
		mh.msg_controllen = CMSG_LEN(sizeof(int) * room);
	}
	ssize_t got = recvmsg(s, &mh, flags);
	*n = 0;
	*msg_flags = mh.msg_flags;
	if (got < 0 || room < 0)
		return got;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + *n, CMSG_DATA(c), sizeof(int) * k);
			*n += k;
		}
	}
	return got;
}

static int open_fds(void)
{
	int count = 0;
	for (int fd = 0; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			count++;
	return count;
}

static void from_an_exited_child(const char *path)
{
	int sv[2], p[2];
	char buf[64];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	if (pipe(p) != 0)
		exit(1);
	pid_t child = fork();
	if (child == 0) {
		int f = open(path, O_RDONLY);
		lseek(f, 5, SEEK_SET);
		int fds[2] = { p[0], f };
		ssize_t n = send_fds(sv[1], "fds", 3, fds, 2);
		_exit(n == 3 ? 0 : 1);
	}
	int status;
	waitpid(child, &status, 0);
	printf("child sent and exited: %d\n", WEXITSTATUS(status));
	close(p[0]);
	int fds[8], n, mf;
	ssize_t got = recv_fds(sv[0], buf, sizeof(buf), 8, MSG_CMSG_CLOEXEC, fds, &n, &mf);
	printf("received %zd bytes '%.*s', %d descriptors, ctrunc %d\n", got, (int)got, buf, n,
	       !!(mf & MSG_CTRUNC));
	if (n != 2)
		exit(1);
	printf("cloexec: %d %d\n", !!(fcntl(fds[0], F_GETFD) & FD_CLOEXEC),
	       !!(fcntl(fds[1], F_GETFD) & FD_CLOEXEC));
	struct stat st;
	fstat(fds[0], &st);
	printf("first is a fifo: %d\n", S_ISFIFO(st.st_mode));
	write(p[1], "through the pipe", 16);
	got = read(fds[0], buf, sizeof(buf));
	printf("read from the passed pipe: '%.*s'\n", (int)got, buf);
	got = read(fds[1], buf, sizeof(buf));
	printf("passed file reads from the sender's offset: '%.*s'\n", (int)got, buf);
	close(fds[0]);
	close(fds[1]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void truncation_and_boundaries(void)
{
	int sv[2], p[2], fds[8], n, mf;
	char buf[64];
	int base = open_fds();

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	if (pipe(p) != 0)
		exit(1);
	int before = open_fds();
	send_fds(sv[1], "two", 3, p, 2);
	ssize_t got = recv_fds(sv[0], buf, sizeof(buf), 1, 0, fds, &n, &mf);
	printf("room for one: %zd bytes, %d descriptor, ctrunc %d, open fds grew by %d\n", got, n,
	       !!(mf & MSG_CTRUNC), open_fds() - before);
	for (int i = 0; i < n; i++)
		close(fds[i]);

	send_fds(sv[1], "none", 4, p, 1);
	got = recv_fds(sv[0], buf, sizeof(buf), -1, 0, fds, &n, &mf);
	printf("no control buffer: %zd bytes, ctrunc %d, open fds grew by %d\n", got,
	       !!(mf & MSG_CTRUNC), open_fds() - before);

	send_fds(sv[1], "ab", 2, p, 1);
	send(sv[1], "cd", 2, 0);
	got = recv_fds(sv[0], buf, sizeof(buf), 8, 0, fds, &n, &mf);
	printf("read stops at the rights: %zd '%.*s' with %d\n", got, (int)got, buf, n);
	close(fds[0]);
	got = recv_fds(sv[0], buf, sizeof(buf), 8, 0, fds, &n, &mf);
	printf("then: %zd '%.*s' with %d\n", got, (int)got, buf, n);

	int bad[1] = { 99 };
	printf("sending a closed descriptor: %s\n", send_fds(sv[1], "x", 1, bad, 1) < 0 ? errname(errno) : "OK");
	close(sv[0]);
	close(sv[1]);

	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	send_fds(sv[1], "dgram", 5, p, 2);
	got = recv_fds(sv[0], buf, sizeof(buf), 8, 0, fds, &n, &mf);
	printf("datagram: %zd '%.*s' with %d\n", got, (int)got, buf, n);
	write(p[1], "x", 1);
	printf("passed write end and read end are one pipe: %zd\n", read(fds[0], buf, 1));
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	printf("all closed, none left behind: %d\n", open_fds() == base);

	/* Rights never received are closed with the socket they wait on. */
	if (pipe(p) != 0)
		exit(1);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	send_fds(sv[1], "w", 1, &p[1], 1);
	close(p[1]);
	close(sv[0]);
	printf("pipe read end after its in-flight write end was dropped: %zd\n", read(p[0], buf, 1));
	close(sv[1]);

	/* Rights read past with read(2) are closed too. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int q[2];
	if (pipe(q) != 0)
		exit(1);
	send_fds(sv[1], "w", 1, &q[1], 1);
	close(q[1]);
	printf("read(2) of bytes with rights: %zd\n", read(sv[0], buf, sizeof(buf)));
	close(sv[0]);
	close(sv[1]);
	printf("pipe read end after read(2) dropped its write end: %zd\n", read(q[0], buf, 1));
	close(p[0]);
	close(q[0]);
}

static void credentials(void)
{
	int sv[2], on = 1;
	char buf[8], control[128];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
	send(sv[1], "c", 1, 0);
	ssize_t n = recvmsg(sv[0], &mh, 0);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int creds = c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS;
	struct ucred u = { 0 };
	if (creds)
		memcpy(&u, CMSG_DATA(c), sizeof(u));
	printf("SO_PASSCRED: %zd byte, SCM_CREDENTIALS %d, pid is me %d, uid %d\n", n, creds,
	       u.pid == getpid(), u.uid == getuid());
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	char path[64];

	setvbuf(stdout, NULL, _IONBF, 0);
	snprintf(path, sizeof(path), "/tmp/rvisor-rights-test-%d", getpid());
	FILE *f = fopen(path, "w");
	fputs("file contents", f);
	fclose(f);
	from_an_exited_child(path);
	truncation_and_boundaries();
	credentials();
	unlink(path);
	printf("done\n");
	return 0;
}
