/* timerfd: a blocking read waits for the first expiry, expirations add
 * up, poll and epoll see it, absolute times, gettime, the errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
}

int main(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	printf("create: %s\n", fd >= 0 ? "ok" : errname(errno));
	struct itimerspec its = { { 0, 0 }, { 0, 30000000 } };
	double start = now();
	report("settime 30 ms", timerfd_settime(fd, 0, &its, NULL));
	uint64_t n = 0;
	report("blocking read", read(fd, &n, sizeof n));
	printf("expirations %llu, waited >= 25 ms: %s\n", (unsigned long long)n,
	       now() - start >= 0.025 ? "yes" : "no");

	struct itimerspec every = { { 0, 5000000 }, { 0, 5000000 } };
	timerfd_settime(fd, 0, &every, NULL);
	usleep(60000);
	read(fd, &n, sizeof n);
	printf("periodic 5 ms over 60 ms: at least 5 expirations: %s\n", n >= 5 ? "yes" : "no");
	struct itimerspec cur;
	report("gettime", timerfd_gettime(fd, &cur));
	printf("interval 5 ms: %s, next within 5 ms: %s\n",
	       cur.it_interval.tv_nsec == 5000000 ? "yes" : "no",
	       cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 5000000 ? "yes" : "no");
	struct itimerspec off = { { 0, 0 }, { 0, 0 } }, old;
	report("disarm", timerfd_settime(fd, 0, &off, &old));
	printf("old interval 5 ms: %s\n", old.it_interval.tv_nsec == 5000000 ? "yes" : "no");

	int nb = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	report("nonblocking read of a disarmed timer", read(nb, &n, sizeof n));
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	struct itimerspec abs = { { 0, 0 }, { rt.tv_sec - 1, 0 } };
	report("absolute time in the past", timerfd_settime(nb, TFD_TIMER_ABSTIME, &abs, NULL));
	struct pollfd p = { .fd = nb, .events = POLLIN };
	report("poll sees it", poll(&p, 1, 1000));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 };
	epoll_ctl(ep, EPOLL_CTL_ADD, nb, &ev);
	struct epoll_event got;
	report("epoll sees it", epoll_wait(ep, &got, 1, 1000));
	report("read it", read(nb, &n, sizeof n));
	report("short read", read(nb, &n, 4));
	report("write", write(nb, &n, sizeof n));

	report("unknown clock", timerfd_create(77, 0));
	report("CPU-time clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
	report("bad flags", timerfd_create(CLOCK_MONOTONIC, 1));
	struct itimerspec bad = { { 0, 0 }, { 0, 1000000000 } };
	report("nsec 1e9", timerfd_settime(nb, 0, &bad, NULL));
	report("bad settime flags", timerfd_settime(nb, 8, &off, NULL));
	report("not a timerfd", timerfd_settime(ep, 0, &off, NULL));
	report("bad descriptor", timerfd_gettime(99, &cur));
	report("bad pointer", timerfd_settime(nb, 0, (void *)8, NULL));
	return 0;
}
