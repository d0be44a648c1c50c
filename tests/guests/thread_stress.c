/* Threads and memory: 16 threads map, fill, check and unmap their own
 * regions at the same time (so one thread faults while another backs or
 * unmaps pages), then 300 threads are created and joined one by one. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long total;
static void *mapper(void *arg) {
	long id = (long)arg, sum = 0;
	for (int i = 0; i < 200; i++) {
		size_t len = 4096 * (1 + (i % 16));
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) { perror("mmap"); exit(2); }
		memset(p, (int)id, len);
		for (size_t j = 0; j < len; j += 4096) sum += p[j];
		munmap(p, len);
	}
	pthread_mutex_lock(&m); total += sum; pthread_mutex_unlock(&m);
	return NULL;
}
static void *nop(void *arg) { return arg; }
int main(void) {
	pthread_t t[16];
	for (long i = 0; i < 16; i++) pthread_create(&t[i], NULL, mapper, (void *)(i + 1));
	for (int i = 0; i < 16; i++) pthread_join(t[i], NULL);
	long want = 0;
	for (long i = 1; i <= 16; i++) for (int k = 0; k < 200; k++) want += i * (1 + (k % 16));
	printf("mappers: %s\n", total == want ? "ok" : "WRONG");
	for (int i = 0; i < 300; i++) { pthread_t x; void *r; pthread_create(&x, NULL, nop, (void *)(long)i); pthread_join(x, &r); if ((long)r != i) { printf("bad join\n"); return 1; } }
	printf("300 create/join: ok\n");
	return 0;
}
