/* Named pipes in a fresh directory under /tmp: mkfifo and stat, the
 * blocking opens in both orders with a forked partner, EOF once the writer
 * closed, EPIPE and SIGPIPE once the reader closed, O_NONBLOCK opens
 * (a reader at once, a writer ENXIO), O_RDWR, poll readiness, data that
 * lives while an end is open and is gone once none is, and a blocking
 * open ended by a signal (EINTR without SA_RESTART, restarted with it).
 * Only the parent prints; no pids or paths. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static char fifo[64];

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
	fflush(stdout);
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A child that waits a little, opens the FIFO with `flags`, writes `msg`
 * if it has one, and exits. */
static pid_t partner(int flags, const char *msg, long delay_ms)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		nap_ms(delay_ms);
		int fd = open(fifo, flags);
		if (fd < 0)
			_exit(10);
		if (msg && write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg))
			_exit(11);
		if (!msg) {
			char buf[64];
			while (read(fd, buf, sizeof buf) > 0)
				;
		}
		_exit(0);
	}
	return pid;
}

static void reap(const char *what, pid_t pid)
{
	int status;
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		printf("%s: killed by signal %d\n", what, WTERMSIG(status));
	else
		printf("%s: exit %d\n", what, WEXITSTATUS(status));
	fflush(stdout);
}

static void read_all(const char *what, int fd)
{
	char buf[64];
	size_t got = 0;
	ssize_t n;
	while ((n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
		got += n;
	buf[got] = 0;
	printf("%s: \"%s\" then %s\n", what, buf, n == 0 ? "EOF" : errname(errno));
	fflush(stdout);
}

static void poll_report(const char *what, int fd, short events)
{
	struct pollfd p = { fd, events, 0 };
	int n = poll(&p, 1, 0);
	printf("%s: %d%s%s%s\n", what, n, p.revents & POLLIN ? " IN" : "",
	       p.revents & POLLOUT ? " OUT" : "", p.revents & POLLHUP ? " HUP" : "");
	fflush(stdout);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void arm(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	setitimer(ITIMER_REAL, &it, NULL);
}

int main(void)
{
	char dir[] = "/tmp/fifo-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(fifo, sizeof fifo, "%s/f", dir);
	umask(022);

	report("mkfifo", mkfifo(fifo, 0640));
	report("mkfifo again", mkfifo(fifo, 0640));
	struct stat st;
	stat(fifo, &st);
	printf("stat: fifo %d mode %04o size %ld\n", S_ISFIFO(st.st_mode),
	       (unsigned)(st.st_mode & 07777), (long)st.st_size);
	char other[80];
	snprintf(other, sizeof other, "%s/g", dir);
	report("mknod S_IFIFO", mknod(other, S_IFIFO | 0600, 0));
	stat(other, &st);
	printf("mknod stat: fifo %d\n", S_ISFIFO(st.st_mode));

	/* Non-blocking opens. */
	report("nonblocking writer, no reader", open(fifo, O_WRONLY | O_NONBLOCK));
	int r = open(fifo, O_RDONLY | O_NONBLOCK);
	report("nonblocking reader", r >= 0 ? 0 : -1);
	char c;
	report("read, no writer yet", read(r, &c, 1));
	int w = open(fifo, O_WRONLY | O_NONBLOCK);
	report("nonblocking writer with reader", w >= 0 ? 0 : -1);
	fstat(w, &st);
	printf("fstat writer: fifo %d\n", S_ISFIFO(st.st_mode));
	char link[64], target[128];
	snprintf(link, sizeof link, "/proc/self/fd/%d", w);
	ssize_t len = readlink(link, target, sizeof target - 1);
	target[len > 0 ? len : 0] = 0;
	printf("fd link is the path: %d\n", strcmp(target, fifo) == 0);
	report("read, empty", read(r, &c, 1));
	poll_report("poll reader, empty", r, POLLIN);
	poll_report("poll writer", w, POLLOUT);
	report("write", write(w, "abc", 3));
	poll_report("poll reader, data", r, POLLIN);
	report("lseek", lseek(r, 0, SEEK_SET));
	close(w);
	read_all("read after writer closed", r);
	poll_report("poll reader, writer gone", r, POLLIN);

	/* EPIPE, then SIGPIPE. */
	w = open(fifo, O_WRONLY | O_NONBLOCK);
	close(r);
	signal(SIGPIPE, SIG_IGN);
	report("write, reader gone", write(w, "x", 1));
	poll_report("poll writer, reader gone", w, POLLOUT);
	signal(SIGPIPE, SIG_DFL);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		write(w, "x", 1);
		_exit(0);
	}
	reap("writer with default SIGPIPE", pid);
	close(w);

	/* Blocking opens, reader first and writer first. */
	pid = partner(O_WRONLY, "hello", 100);
	r = open(fifo, O_RDONLY);
	report("blocking reader", r >= 0 ? 0 : -1);
	read_all("reader got", r);
	close(r);
	reap("writer child", pid);

	pid = partner(O_RDONLY, NULL, 100);
	w = open(fifo, O_WRONLY);
	report("blocking writer", w >= 0 ? 0 : -1);
	report("write to child", write(w, "hi", 2));
	close(w);
	reap("reader child", pid);

	/* O_RDWR never blocks; data lives while an end is open. */
	int rw = open(fifo, O_RDWR);
	report("O_RDWR open", rw >= 0 ? 0 : -1);
	report("write kept", write(rw, "kept", 4));
	r = open(fifo, O_RDONLY | O_NONBLOCK);
	close(rw);
	w = open(fifo, O_WRONLY | O_NONBLOCK);
	close(w);
	read_all("data outlives the first end", r);
	close(r);
	rw = open(fifo, O_RDWR);
	report("write then close all", write(rw, "gone", 4));
	close(rw);
	rw = open(fifo, O_RDWR | O_NONBLOCK);
	report("reopened fifo is empty", read(rw, &c, 1));
	close(rw);

	/* A blocking open interrupted by a signal. */
	arm(0);
	errno = 0;
	r = open(fifo, O_RDONLY);
	report("open interrupted (no SA_RESTART)", r);
	printf("alarms: %d\n", (int)alarms);
	arm(1);
	pid = partner(O_WRONLY, "late", 300);
	r = open(fifo, O_RDONLY);
	report("open restarted (SA_RESTART)", r >= 0 ? 0 : -1);
	read_all("restarted reader got", r);
	printf("alarms: %d\n", (int)alarms);
	close(r);
	reap("late writer", pid);

	report("unlink", unlink(fifo));
	report("unlink g", unlink(other));
	report("rmdir", rmdir(dir));
	return 0;
}
