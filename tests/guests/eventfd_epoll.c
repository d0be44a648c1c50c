/* eventfd (counter, semaphore mode, errors, blocking across processes,
 * poll) and epoll over pipes and eventfds: level and edge triggering,
 * EPOLLONESHOT, hang-ups, timeouts, waking from another process, signals
 * (EINTR, never restarted), epoll_pwait's mask, nesting, and errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static const char *rc(long r) { return r < 0 ? errname(errno) : "OK"; }

static long ms_since(struct timespec *t0) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void msleep(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void show_events(const char *what, int n, struct epoll_event *ev) {
	printf("%s: %d", what, n);
	if (n < 0)
		printf(" %s", errname(errno));
	for (int i = 0; i < n; i++) {
		printf(" [data %llu:", (unsigned long long)ev[i].data.u64);
		if (ev[i].events & EPOLLIN) printf(" IN");
		if (ev[i].events & EPOLLOUT) printf(" OUT");
		if (ev[i].events & EPOLLERR) printf(" ERR");
		if (ev[i].events & EPOLLHUP) printf(" HUP");
		printf("]");
	}
	printf("\n");
}

static void on_alarm(int sig) { (void)sig; }

static void eventfd_tests(void) {
	uint64_t v;
	printf("eventfd2 bad flags: %s\n", rc(eventfd(0, 0x40)));
	int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	printf("F_GETFL: %s\n", fcntl(e, F_GETFL) == (O_RDWR | O_NONBLOCK) ? "O_RDWR|O_NONBLOCK" : "?");
	printf("F_GETFD: %d\n", fcntl(e, F_GETFD));
	printf("empty read: %s\n", rc(read(e, &v, 8)));
	v = 3;
	write(e, &v, 8);
	v = 4;
	write(e, &v, 8);
	struct pollfd p = {e, POLLIN | POLLOUT, 0};
	poll(&p, 1, 0);
	printf("poll: %s%s\n", p.revents & POLLIN ? "IN " : "", p.revents & POLLOUT ? "OUT" : "");
	char small[4];
	printf("4-byte read: %s\n", rc(read(e, small, 4)));
	printf("read: %zd, value %llu\n", read(e, &v, 8), (unsigned long long)v);
	v = UINT64_MAX;
	printf("write UINT64_MAX: %s\n", rc(write(e, &v, 8)));
	printf("4-byte write: %s\n", rc(write(e, small, 4)));
	v = UINT64_MAX - 1;
	printf("write max: %s\n", rc(write(e, &v, 8)));
	v = 1;
	printf("write past max: %s\n", rc(write(e, &v, 8)));
	read(e, &v, 8);
	printf("read back %s\n", v == UINT64_MAX - 1 ? "max" : "?");
	close(e);

	e = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	for (int i = 0; i < 4; i++) {
		v = 0;
		long r = read(e, &v, 8);
		printf("semaphore read %d: %s %llu\n", i, rc(r), (unsigned long long)v);
	}
	close(e);

	/* Blocking read, woken by another process's write. */
	e = eventfd(0, 0);
	pid_t c = fork();
	if (c == 0) {
		msleep(50);
		uint64_t one = 5;
		write(e, &one, 8);
		_exit(0);
	}
	v = 0;
	read(e, &v, 8);
	printf("blocking read got %llu from the child\n", (unsigned long long)v);
	waitpid(c, NULL, 0);

	/* A signal interrupts a blocking read (no SA_RESTART). */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	printf("read interrupted: %s\n", rc(read(e, &v, 8)));
	close(e);
}

static void epoll_tests(void) {
	struct epoll_event ev, out[8];
	/* musl's epoll_create does not pass the size on. */
	printf("epoll_create(0): %s\n", rc(syscall(SYS_epoll_create, 0)));
	printf("epoll_create1(bad): %s\n", rc(epoll_create1(1)));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	printf("epoll F_GETFD: %d\n", fcntl(ep, F_GETFD));

	int p[2], q[2];
	pipe(p);
	pipe(q);
	int e = eventfd(0, EFD_NONBLOCK);
	int file = open("/proc/self/exe", O_RDONLY);

	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	printf("ADD regular file: %s\n", rc(epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev)));
	printf("ADD itself: %s\n", rc(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev)));
	printf("ADD bad fd: %s\n", rc(epoll_ctl(ep, EPOLL_CTL_ADD, 99, &ev)));
	printf("ctl on a pipe: %s\n", rc(epoll_ctl(p[0], EPOLL_CTL_ADD, q[0], &ev)));
	printf("bad op: %s\n", rc(epoll_ctl(ep, 9, p[0], &ev)));
	printf("MOD unregistered: %s\n", rc(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev)));
	printf("ADD pipe: %s\n", rc(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)));
	printf("ADD twice: %s\n", rc(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)));
	ev.data.u64 = 2;
	printf("ADD eventfd: %s\n", rc(epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev)));
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 3;
	printf("ADD edge-triggered pipe: %s\n", rc(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev)));
	printf("wait maxevents 0: %s\n", rc(epoll_wait(ep, out, 0, 0)));
	printf("wait on a pipe: %s\n", rc(epoll_wait(p[0], out, 8, 0)));

	show_events("nothing ready", epoll_wait(ep, out, 8, 0), out);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int n = epoll_wait(ep, out, 8, 100);
	long took = ms_since(&t0);
	printf("100 ms timeout: %d events, waited >= 90 ms: %s\n", n, took >= 90 ? "yes" : "no");

	write(p[1], "ab", 2);
	show_events("pipe written", epoll_wait(ep, out, 8, -1), out);
	show_events("level-triggered, still", epoll_wait(ep, out, 8, 0), out);
	char buf[16];
	read(p[0], buf, sizeof buf);
	show_events("pipe drained", epoll_wait(ep, out, 8, 0), out);

	write(q[1], "x", 1);
	show_events("edge", epoll_wait(ep, out, 8, 0), out);
	show_events("edge, not again", epoll_wait(ep, out, 8, 0), out);
	write(q[1], "y", 1);
	show_events("new edge", epoll_wait(ep, out, 8, 0), out);
	read(q[0], buf, sizeof buf);
	epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL);

	/* One-shot: reported once, then disabled until EPOLL_CTL_MOD. */
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = 1;
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	write(p[1], "z", 1);
	show_events("oneshot", epoll_wait(ep, out, 8, 0), out);
	show_events("oneshot disarmed", epoll_wait(ep, out, 8, 0), out);
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	show_events("oneshot rearmed", epoll_wait(ep, out, 8, 0), out);
	read(p[0], buf, sizeof buf);

	/* Another process wakes a blocked wait through the eventfd. */
	pid_t c = fork();
	if (c == 0) {
		msleep(50);
		uint64_t one = 1;
		write(e, &one, 8);
		_exit(0);
	}
	show_events("woken by the child", epoll_wait(ep, out, 8, -1), out);
	waitpid(c, NULL, 0);
	uint64_t v;
	read(e, &v, 8);

	/* maxevents limits one wait; the rest come next. */
	write(p[1], "a", 1);
	write(e, &v, 8);
	show_events("maxevents 1", epoll_wait(ep, out, 1, 0), out);
	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	n = epoll_wait(ep, out, 8, 0);
	printf("both ready: %d\n", n);
	read(p[0], buf, sizeof buf);
	read(e, &v, 8);

	/* Write end: OUT; closing it: HUP on the read end. */
	int ep2 = epoll_create1(0);
	ev.events = EPOLLOUT;
	ev.data.u64 = 7;
	epoll_ctl(ep2, EPOLL_CTL_ADD, q[1], &ev);
	show_events("write end", epoll_wait(ep2, out, 8, 0), out);
	epoll_ctl(ep2, EPOLL_CTL_DEL, q[1], NULL);
	printf("DEL twice: %s\n", rc(epoll_ctl(ep2, EPOLL_CTL_DEL, q[1], NULL)));
	close(q[1]);
	ev.events = EPOLLIN;
	ev.data.u64 = 8;
	epoll_ctl(ep2, EPOLL_CTL_ADD, q[0], &ev);
	show_events("writer closed", epoll_wait(ep2, out, 8, 0), out);
	epoll_ctl(ep2, EPOLL_CTL_DEL, q[0], NULL);

	/* Nesting: ep2 watches ep, which has a ready pipe. */
	ev.events = EPOLLIN;
	ev.data.u64 = 9;
	printf("ADD epoll to epoll: %s\n", rc(epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &ev)));
	show_events("inner idle", epoll_wait(ep2, out, 8, 0), out);
	write(p[1], "n", 1);
	show_events("inner ready", epoll_wait(ep2, out, 8, 0), out);
	read(p[0], buf, sizeof buf);

	/* Closing the only descriptor drops the registration. */
	int r[2];
	pipe(r);
	ev.events = EPOLLIN;
	ev.data.u64 = 10;
	epoll_ctl(ep2, EPOLL_CTL_DEL, ep, NULL);
	epoll_ctl(ep2, EPOLL_CTL_ADD, r[0], &ev);
	write(r[1], "c", 1);
	close(r[0]);
	show_events("registered fd closed", epoll_wait(ep2, out, 8, 0), out);

	/* Signals end a wait with EINTR even under SA_RESTART. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	show_events("SIGALRM during wait", epoll_wait(ep, out, 8, 5000), out);

	/* epoll_pwait's mask lets a blocked, pending signal in. */
	sigset_t usr1, none;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	sigaction(SIGUSR1, &sa, NULL);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	raise(SIGUSR1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = epoll_pwait(ep, out, 8, 5000, &none);
	printf("epoll_pwait with the signal let in: %s, at once: %s\n", rc(n), ms_since(&t0) < 2000 ? "yes" : "no");
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("mask restored: %s\n", sigismember(&now, SIGUSR1) ? "yes" : "no");
	n = epoll_pwait(ep, out, 8, 0, &usr1);
	printf("epoll_pwait with it blocked: %d\n", n);

	struct timespec zero = {0, 0};
	n = syscall(SYS_epoll_pwait2, ep, out, 8, &zero, NULL, 8);
	printf("epoll_pwait2 zero timeout: %s %d\n", rc(n), n);
	struct timespec bad = {0, 1000000000};
	n = syscall(SYS_epoll_pwait2, ep, out, 8, &bad, NULL, 8);
	printf("epoll_pwait2 bad timeout: %s\n", rc(n));
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	eventfd_tests();
	epoll_tests();
	return 0;
}
