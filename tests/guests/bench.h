/*
 * Shared by the benchmark guests: the clock they time themselves with, and
 * the one line they print. Timing inside the guest leaves rvisor's start-up
 * out of the figures.
 */
#ifndef RVISOR_GUEST_BENCH_H
#define RVISOR_GUEST_BENCH_H

#include <stdio.h>
#include <time.h>

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* `ns_per_iter <float>`: what the benchmark reads. */
static inline void report(double start_ns, long iterations)
{
	printf("ns_per_iter %.1f\n", (now_ns() - start_ns) / (double)iterations);
}

#endif
