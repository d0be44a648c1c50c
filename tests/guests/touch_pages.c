/*
 * touch_pages [MiB]: the page-fault benchmark.
 *
 * Maps fresh anonymous memory (64 MiB by default) and writes one byte per
 * 4 KiB page, so the time is dominated by first-touch faults: in the host
 * kernel natively, and in however the platform supplies memory under rvisor.
 * Prints `ns_total <n>`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 64;
	size_t len = mib << 20;
	volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long long start;

	if (p == MAP_FAILED || len == 0)
		return 1;
	start = now_ns();
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1;
	printf("ns_total %lld\n", now_ns() - start);
	/* Read back one byte per page so the stores cannot be elided. */
	for (size_t off = 0; off < len; off += 4096)
		if (p[off] != 1)
			return 1;
	return 0;
}
