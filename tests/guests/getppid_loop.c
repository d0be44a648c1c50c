/*
 * getppid_loop [N]: the system-call round-trip benchmark.
 *
 * getppid does no work in any kernel, so its cost is the cost of getting to
 * the kernel (or sentry) and back. syscall(2) is used so that no libc can
 * cache the answer. Prints `ns_per_call <float>`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	long first = syscall(SYS_getppid);
	double start;

	if (n <= 0)
		return 2;
	/* Warm up whatever the first calls set up (caches, lazy paths). */
	for (long i = 0; i < n / 10 + 1; i++)
		syscall(SYS_getppid);
	start = now_ns();
	for (long i = 0; i < n; i++) {
		if (syscall(SYS_getppid) != first)
			return 1; /* the parent cannot change while we run */
	}
	printf("ns_per_call %.1f\n", (now_ns() - start) / (double)n);
	return 0;
}
