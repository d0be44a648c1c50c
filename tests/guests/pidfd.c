/* pidfds: pidfd_open, poll and epoll readiness at exit,
 * pidfd_send_signal (with and without siginfo), waitid(P_PIDFD) blocking
 * and non-blocking, CLONE_PIDFD through clone and clone3, pidfd_getfd,
 * and the errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: ok\n", what);
}

static long pidfd_open(pid_t pid, unsigned flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

static long send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
	return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

static pid_t thread_tid;

static void *thread_main(void *arg)
{
	(void)arg;
	thread_tid = gettid();
	usleep(200000);
	return NULL;
}

struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pthread_t t;
	pthread_create(&t, NULL, thread_main, NULL);
	while (!thread_tid)
		usleep(1000);
	report("pidfd_open of a thread", pidfd_open(thread_tid, 0));
	report("unknown flag", pidfd_open(getpid(), 1));
	report("pid 0", pidfd_open(0, 0));
	report("no such process", pidfd_open(999999, 0));
	int self = pidfd_open(getpid(), 0);
	printf("close-on-exec: %s\n", fcntl(self, F_GETFD) & FD_CLOEXEC ? "yes" : "no");
	char link[64] = { 0 }, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", self);
	readlink(path, link, sizeof link - 1);
	printf("link: %s\n", link);
	char b[8];
	report("read", read(self, b, 8));
	report("signal 0 to myself", send_signal(self, 0, NULL, 0));
	report("signal 65", send_signal(self, 65, NULL, 0));
	report("send to a non-pidfd", send_signal(0, 0, NULL, 0));
	report("send with two flags", send_signal(self, 0, NULL, 3));
	pthread_join(t, NULL);

	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	int cfd = pidfd_open(child, 0);
	struct pollfd p = { cfd, POLLIN, 0 };
	report("poll while it runs (0 ms)", poll(&p, 1, 0) == 0 ? 0 : -1);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGUSR1;
	si.si_code = SI_USER;
	report("posing as kill with siginfo", send_signal(cfd, SIGUSR1, &si, 0));
	si.si_code = SI_QUEUE;
	si.si_signo = SIGUSR2;
	report("siginfo for another signal", send_signal(cfd, SIGUSR1, &si, 0));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 5 }, got;
	epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
	report("SIGTERM by pidfd", send_signal(cfd, SIGTERM, NULL, 0));
	int n = poll(&p, 1, 5000);
	printf("poll after exit: %d, POLLIN: %s\n", n, p.revents & POLLIN ? "yes" : "no");
	n = epoll_wait(ep, &got, 1, 5000);
	printf("epoll after exit: %d, data %u\n", n, got.data.u32);
	report("signal to the zombie", send_signal(cfd, SIGTERM, NULL, 0));
	siginfo_t w;
	memset(&w, 0, sizeof w);
	report("waitid(P_PIDFD)", syscall(SYS_waitid, P_PIDFD, cfd, &w, WEXITED, NULL));
	printf("killed by signal %d: %s\n", w.si_status, w.si_code == CLD_KILLED ? "yes" : "no");
	report("signal after reaping", send_signal(cfd, 0, NULL, 0));
	report("waitid again", syscall(SYS_waitid, P_PIDFD, cfd, &w, WEXITED, NULL));
	report("waitid on my own pidfd", syscall(SYS_waitid, P_PIDFD, self, &w, WEXITED | WNOHANG, NULL));
	report("waitid on a non-pidfd", syscall(SYS_waitid, P_PIDFD, 0, &w, WEXITED, NULL));

	child = fork();
	if (child == 0) {
		usleep(100000);
		_exit(5);
	}
	int nb = pidfd_open(child, O_NONBLOCK);
	report("waitid on a PIDFD_NONBLOCK pidfd of a running child", syscall(SYS_waitid, P_PIDFD, nb, &w, WEXITED, NULL));
	memset(&w, 0, sizeof w);
	report("the same with WNOHANG", syscall(SYS_waitid, P_PIDFD, nb, &w, WEXITED | WNOHANG, NULL));
	printf("nothing yet: %s\n", w.si_pid == 0 ? "yes" : "no");
	int blocking = pidfd_open(child, 0);
	report("waitid blocking", syscall(SYS_waitid, P_PIDFD, blocking, &w, WEXITED, NULL));
	printf("exit status %d\n", w.si_status);

	/* CLONE_PIDFD through clone3 (with CLONE_PARENT_SETTID) and clone. */
	int pidfd = -1;
	pid_t settid = 0;
	struct clone_args_v0 ca = { .flags = CLONE_PIDFD | CLONE_PARENT_SETTID,
				    .pidfd = (uintptr_t)&pidfd,
				    .parent_tid = (uintptr_t)&settid,
				    .exit_signal = SIGCHLD };
	long c3 = syscall(SYS_clone3, &ca, sizeof ca);
	if (c3 == 0)
		_exit(7);
	printf("clone3: pidfd set: %s, parent tid set: %s\n", pidfd >= 0 ? "yes" : "no",
	       settid == c3 ? "yes" : "no");
	memset(&w, 0, sizeof w);
	syscall(SYS_waitid, P_PIDFD, pidfd, &w, WEXITED, NULL);
	printf("clone3 child's status by its pidfd: %d\n", w.si_status);
	int cpidfd = -1;
	long c = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &cpidfd, 0, 0);
	if (c == 0)
		_exit(8);
	memset(&w, 0, sizeof w);
	syscall(SYS_waitid, P_PIDFD, cpidfd, &w, WEXITED, NULL);
	printf("clone child's status by its pidfd: %d\n", w.si_status);
	report("clone with CLONE_PIDFD and CLONE_PARENT_SETTID",
	       syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &cpidfd, 0, 0));

	/* pidfd_getfd: a pipe end of a child. */
	int fds[2];
	pipe(fds);
	child = fork();
	if (child == 0) {
		close(fds[0]);
		pause();
		_exit(0);
	}
	close(fds[1]);
	usleep(50000);
	int gfd = pidfd_open(child, 0);
	long dup = syscall(SYS_pidfd_getfd, gfd, fds[1], 0);
	report("pidfd_getfd of the child's write end", dup);
	if (dup >= 0) {
		printf("close-on-exec: %s\n", fcntl(dup, F_GETFD) & FD_CLOEXEC ? "yes" : "no");
		write(dup, "hi", 2);
		char r[3] = { 0 };
		read(fds[0], r, 2);
		printf("read through it: %s\n", r);
	}
	report("pidfd_getfd of a closed descriptor", syscall(SYS_pidfd_getfd, gfd, 77, 0));
	report("pidfd_getfd with flags", syscall(SYS_pidfd_getfd, gfd, fds[1], 1));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	report("pidfd_getfd after it ended", syscall(SYS_pidfd_getfd, gfd, fds[1], 0));
	return 0;
}
