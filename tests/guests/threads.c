/* Threads (musl pthreads): a mutex-protected counter shared by 8 threads,
 * a condition-variable queue feeding a pool of workers, thread-local
 * storage, join values, pthread_kill to one thread, a thread that ends
 * with pthread_exit while others go on, and finally exit() from a
 * non-main thread ending the whole process with its status. Prints only
 * what is the same on every run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define COUNTERS 8
#define INCREMENTS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread long mine;

static void *count(void *arg) {
	for (int i = 0; i < INCREMENTS; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
		mine++;
	}
	return (void *)(intptr_t)(mine == INCREMENTS ? (intptr_t)arg : -1);
}

/* A bounded queue of jobs for a pool of workers. */
#define JOBS 500
#define WORKERS 4
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static int queue[8], qhead, qlen, closed;
static long done_sum;
static int done_jobs;

static void *worker(void *arg) {
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&qlock);
		while (qlen == 0 && !closed)
			pthread_cond_wait(&not_empty, &qlock);
		if (qlen == 0) {
			pthread_mutex_unlock(&qlock);
			return NULL;
		}
		int job = queue[qhead];
		qhead = (qhead + 1) % 8;
		qlen--;
		pthread_cond_signal(&not_full);
		pthread_mutex_unlock(&qlock);
		long result = (long)job * job;
		pthread_mutex_lock(&qlock);
		done_sum += result;
		done_jobs++;
		pthread_mutex_unlock(&qlock);
	}
}

static volatile pid_t handled_in;
static void on_usr1(int sig) {
	(void)sig;
	handled_in = (pid_t)syscall(SYS_gettid);
}

static pid_t sleeper_tid;
static pthread_barrier_t ready;
static void *sleeper(void *arg) {
	(void)arg;
	sleeper_tid = (pid_t)syscall(SYS_gettid);
	pthread_barrier_wait(&ready);
	while (!handled_in)
		usleep(1000);
	return NULL;
}

static void *quitter(void *arg) {
	(void)arg;
	pthread_exit((void *)42);
}

static void *ender(void *arg) {
	(void)arg;
	printf("a thread calls exit(7)\n");
	fflush(stdout);
	exit(7);
}

int main(void) {
	pthread_t t[COUNTERS];
	for (intptr_t i = 0; i < COUNTERS; i++)
		pthread_create(&t[i], NULL, count, (void *)i);
	int joined_ok = 1;
	for (intptr_t i = 0; i < COUNTERS; i++) {
		void *r;
		pthread_join(t[i], &r);
		joined_ok &= (intptr_t)r == i;
	}
	printf("counter: %ld (expected %d), join values and TLS ok: %s, main TLS %ld\n", counter,
	       COUNTERS * INCREMENTS, joined_ok ? "yes" : "no", mine);

	pthread_t w[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, worker, NULL);
	long want = 0;
	for (int job = 1; job <= JOBS; job++) {
		pthread_mutex_lock(&qlock);
		while (qlen == 8)
			pthread_cond_wait(&not_full, &qlock);
		queue[(qhead + qlen) % 8] = job;
		qlen++;
		pthread_cond_signal(&not_empty);
		pthread_mutex_unlock(&qlock);
		want += (long)job * job;
	}
	pthread_mutex_lock(&qlock);
	closed = 1;
	pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&qlock);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	printf("pool: %d jobs, sum %s\n", done_jobs, done_sum == want ? "right" : "WRONG");

	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	pthread_barrier_init(&ready, NULL, 2);
	pthread_t s;
	pthread_create(&s, NULL, sleeper, NULL);
	pthread_barrier_wait(&ready);
	pthread_kill(s, SIGUSR1);
	pthread_join(s, NULL);
	printf("pthread_kill ran the handler in the target thread: %s; tids differ from the pid: %s\n",
	       handled_in == sleeper_tid ? "yes" : "no",
	       sleeper_tid != getpid() && sleeper_tid > 0 ? "yes" : "no");

	pthread_t q;
	void *qr;
	pthread_create(&q, NULL, quitter, NULL);
	pthread_join(q, &qr);
	printf("pthread_exit value: %ld\n", (long)(intptr_t)qr);

	pthread_t e;
	pthread_create(&e, NULL, ender, NULL);
	pthread_join(e, NULL);
	printf("not reached\n");
	return 0;
}
