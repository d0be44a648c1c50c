/*
 * Priority-inheritance mutexes, which rest on FUTEX_LOCK_PI/UNLOCK_PI:
 * eight threads counting under one, trylock of a held one, a robust one
 * whose owner exits while holding it, and the raw futex errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Not every libc ships <linux/futex.h>. */
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_TRYLOCK_PI 8

#define THREADS 8
#define ROUNDS 5000

static pthread_mutex_t counter_lock;
static long counter;

static void *count(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&counter_lock);
		counter++;
		if (i % 1000 == 0)
			sched_yield(); /* hold it a while: others must sleep */
		pthread_mutex_unlock(&counter_lock);
	}
	return NULL;
}

static void *try_held(void *arg)
{
	return (void *)(intptr_t)pthread_mutex_trylock(arg);
}

static void *die_holding(void *arg)
{
	pthread_mutex_lock(arg);
	return NULL; /* exits with the robust mutex held */
}

/* The mutex's futex word, which holds FUTEX_WAITERS once a thread sleeps. */
static volatile int *lock_word(pthread_mutex_t *m)
{
#ifdef __GLIBC__
	return (volatile int *)m;
#else
	return (volatile int *)m + 1; /* musl's _m_lock */
#endif
}

/* Exits holding the robust mutex once another thread sleeps on it. */
static void *die_with_sleeper(void *arg)
{
	pthread_mutex_lock(arg);
	for (int i = 0; i < 5000 && *lock_word(arg) >= 0; i++)
		usleep(1000);
	if (*lock_word(arg) >= 0)
		printf("no sleeper came\n");
	return NULL;
}

static void *lock_after_death(void *arg)
{
	int r = pthread_mutex_lock(arg);
	printf("sleeper's lock when the owner died: %s\n", strerror(r));
	if (r == EOWNERDEAD) {
		printf("sleeper made it consistent: %s\n", strerror(pthread_mutex_consistent(arg)));
		printf("sleeper's unlock: %s\n", strerror(pthread_mutex_unlock(arg)));
	}
	return NULL;
}

static long futex(uint32_t *addr, int op, const struct timespec *t)
{
	return syscall(SYS_futex, addr, op, 0, t, NULL, 0);
}

static const char *err(long r)
{
	return r == 0 ? "ok" : strerror(errno);
}

int main(void)
{
	pthread_mutexattr_t a;
	pthread_t t[THREADS];
	void *ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&counter_lock, &a);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, count, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("counter %ld (expected %d)\n", counter, THREADS * ROUNDS);

	pthread_mutex_lock(&counter_lock);
	pthread_create(&t[0], NULL, try_held, &counter_lock);
	pthread_join(t[0], &ret);
	printf("trylock of a held PI mutex: %s\n", strerror((int)(intptr_t)ret));
	pthread_mutex_unlock(&counter_lock);

	pthread_mutex_t robust;
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&robust, &a);
	pthread_create(&t[0], NULL, die_holding, &robust);
	pthread_join(t[0], NULL);
	int r = pthread_mutex_lock(&robust);
	printf("lock after the owner died: %s\n", strerror(r));
	if (r == EOWNERDEAD) {
		printf("made consistent: %s\n", strerror(pthread_mutex_consistent(&robust)));
		printf("unlock: %s\n", strerror(pthread_mutex_unlock(&robust)));
		printf("lock again: %s\n", strerror(pthread_mutex_lock(&robust)));
		pthread_mutex_unlock(&robust);
	}

	/* A robust PI mutex whose owner dies with a thread asleep on it. */
	pthread_mutex_t robust2;
	pthread_mutex_init(&robust2, &a);
	pthread_create(&t[0], NULL, die_with_sleeper, &robust2);
	while (*lock_word(&robust2) == 0)
		usleep(1000);
	pthread_create(&t[1], NULL, lock_after_death, &robust2);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("lock after that: %s\n", strerror(pthread_mutex_lock(&robust2)));
	pthread_mutex_unlock(&robust2);

	/* The raw calls: the word holds the owner's thread id. */
	static uint32_t word;
	uint32_t me = (uint32_t)syscall(SYS_gettid);
	long r1 = futex(&word, FUTEX_LOCK_PI, NULL);
	printf("LOCK_PI of a free word: %s, word is my id: %s\n", err(r1), word == me ? "yes" : "no");
	printf("LOCK_PI again: %s\n", err(futex(&word, FUTEX_LOCK_PI, NULL)));
	printf("TRYLOCK_PI again: %s\n", err(futex(&word, FUTEX_TRYLOCK_PI, NULL)));
	r1 = futex(&word, FUTEX_UNLOCK_PI, NULL);
	printf("UNLOCK_PI: %s, word %u\n", err(r1), word);
	printf("UNLOCK_PI of a free word: %s\n", err(futex(&word, FUTEX_UNLOCK_PI, NULL)));
	word = 0x3ffffff0; /* an id no thread has */
	printf("LOCK_PI of a word naming no thread: %s\n", err(futex(&word, FUTEX_LOCK_PI, NULL)));
	return 0;
}
