/*
 * The raw PI futex calls: LOCK_PI, LOCK_PI2, TRYLOCK_PI and UNLOCK_PI on
 * words of our own, checking Linux's errors, timeouts, the hand-over to a
 * sleeper, a signal during the sleep (the call restarts even without
 * SA_RESTART) and owners that exit with sleepers queued. Thread ids differ
 * between runs, so only their relations are printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Not every libc ships <linux/futex.h>. */
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_TRYLOCK_PI 8
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_CMP_REQUEUE_PI 12
#define FUTEX_LOCK_PI2 13
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAITERS 0x80000000u
#define FUTEX_OWNER_DIED 0x40000000u
#define FUTEX_TID_MASK 0x3fffffffu

static long futex(volatile uint32_t *addr, int op, const struct timespec *t)
{
	return syscall(SYS_futex, addr, op, 0, t, NULL, 0);
}

static const char *res(long r)
{
	return r == 0 ? "ok" : strerror(errno);
}

static uint32_t gettid_(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

/* Wait (at most ~5 s) until `bits` show in *word: a sleeper has queued. */
static int wait_bits(volatile uint32_t *word, uint32_t bits)
{
	for (int i = 0; i < 5000; i++) {
		if ((*word & bits) == bits)
			return 1;
		usleep(1000);
	}
	return 0;
}

static struct timespec in_ms(clockid_t clock, long ms)
{
	struct timespec t;
	clock_gettime(clock, &t);
	t.tv_nsec += ms * 1000000;
	t.tv_sec += t.tv_nsec / 1000000000;
	t.tv_nsec %= 1000000000;
	return t;
}

static volatile uint32_t word;
static volatile uint32_t other;
static volatile uint32_t sleeper_tid;
static volatile sig_atomic_t handled;
/* Whether the sleeper must find FUTEX_WAITERS kept by a hand-over (after
 * a signal it may have found the lock free instead). */
static int check_waiters = 1;

/* Thread: LOCK_PI on `word` and report how it went. */
static void *locker(void *arg)
{
	int op = (int)(intptr_t)arg;
	sleeper_tid = gettid_();
	long r = futex(&word, op, NULL);
	int e = errno;
	uint32_t w = word;
	uint32_t mask = check_waiters ? ~FUTEX_OWNER_DIED : ~(FUTEX_OWNER_DIED | FUTEX_WAITERS);
	printf("  sleeper's LOCK_PI: %s, word is its id | WAITERS: %s%s\n",
	       r == 0 ? "ok" : strerror(e),
	       (w & mask) == ((sleeper_tid | FUTEX_WAITERS) & mask) ? "yes" : "no",
	       (w & FUTEX_OWNER_DIED) ? ", OWNER_DIED" : "");
	if (r == 0) {
		r = futex(&word, FUTEX_UNLOCK_PI, NULL);
		printf("  sleeper's UNLOCK_PI: %s, word %#x\n", res(r), word);
	}
	return NULL;
}

/* Thread: take `word`, wait for a sleeper behind it, exit holding it. */
static void *die_owning(void *arg)
{
	(void)arg;
	futex(&word, FUTEX_LOCK_PI, NULL);
	if (!wait_bits(&word, FUTEX_WAITERS))
		printf("  no sleeper came\n");
	return NULL;
}

/* Thread: take `other` and exit holding it, nobody waiting. */
static void *take_other(void *arg)
{
	(void)arg;
	futex(&other, FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG, NULL);
	return NULL;
}

/* Thread: a second owner, to see others' locks refused. */
static void *hold_other_until_told(void *arg)
{
	volatile int *release = arg;
	futex(&other, FUTEX_LOCK_PI, NULL);
	while (!*release)
		usleep(1000);
	futex(&other, FUTEX_UNLOCK_PI, NULL);
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
	handled = 1;
}

static void errors(void)
{
	uint32_t me = gettid_();
	pthread_t t;
	struct timespec ts;

	printf("errors:\n");
	long r = futex(&word, FUTEX_LOCK_PI, NULL);
	printf("  LOCK_PI of a free word: %s, word is my id: %s\n", res(r), word == me ? "yes" : "no");
	printf("  LOCK_PI of my own: %s\n", res(futex(&word, FUTEX_LOCK_PI, NULL)));
	printf("  TRYLOCK_PI of my own: %s\n", res(futex(&word, FUTEX_TRYLOCK_PI, NULL)));
	printf("  LOCK_PI2 of my own: %s\n", res(futex(&word, FUTEX_LOCK_PI2, NULL)));
	r = futex(&word, FUTEX_UNLOCK_PI, NULL);
	printf("  UNLOCK_PI: %s, word %#x\n", res(r), word);
	printf("  UNLOCK_PI of a free word: %s\n", res(futex(&word, FUTEX_UNLOCK_PI, NULL)));
	r = futex(&word, FUTEX_TRYLOCK_PI | FUTEX_PRIVATE_FLAG, NULL);
	printf("  TRYLOCK_PI of a free word: %s, word is my id: %s\n", res(r), word == me ? "yes" : "no");
	r = futex(&word, FUTEX_UNLOCK_PI | FUTEX_PRIVATE_FLAG, NULL);
	printf("  UNLOCK_PI (private): %s, word %#x\n", res(r), word);

	volatile int release = 0;
	pthread_create(&t, NULL, hold_other_until_told, (void *)&release);
	while ((other & FUTEX_TID_MASK) == 0)
		usleep(1000);
	printf("  UNLOCK_PI of another's: %s\n", res(futex(&other, FUTEX_UNLOCK_PI, NULL)));
	r = futex(&other, FUTEX_TRYLOCK_PI, NULL);
	printf("  TRYLOCK_PI of another's: %s, word marked contended: %s\n", res(r),
	       (other & FUTEX_WAITERS) ? "yes" : "no");
	ts = in_ms(CLOCK_REALTIME, 30);
	printf("  LOCK_PI of another's, 30 ms realtime deadline: %s\n", res(futex(&other, FUTEX_LOCK_PI, &ts)));
	ts = in_ms(CLOCK_MONOTONIC, 30);
	printf("  LOCK_PI2 of another's, 30 ms monotonic deadline: %s\n",
	       res(futex(&other, FUTEX_LOCK_PI2, &ts)));
	ts = in_ms(CLOCK_REALTIME, 30);
	printf("  LOCK_PI2|CLOCK_REALTIME, 30 ms realtime deadline: %s\n",
	       res(futex(&other, FUTEX_LOCK_PI2 | FUTEX_CLOCK_REALTIME, &ts)));
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	printf("  LOCK_PI of another's, deadline long past: %s\n", res(futex(&other, FUTEX_LOCK_PI, &ts)));
	release = 1;
	pthread_join(t, NULL);
	printf("  its owner unlocked through the kernel: word %#x\n", other);

	ts.tv_nsec = 1000000000;
	printf("  LOCK_PI with a bad timeout: %s\n", res(futex(&word, FUTEX_LOCK_PI, &ts)));
	printf("  LOCK_PI|CLOCK_REALTIME: %s\n", res(futex(&word, FUTEX_LOCK_PI | FUTEX_CLOCK_REALTIME, NULL)));
	printf("  LOCK_PI of an unaligned word: %s\n",
	       res(futex((uint32_t *)((char *)&word + 1), FUTEX_LOCK_PI, NULL)));
	printf("  LOCK_PI of a null word: %s\n", res(futex(NULL, FUTEX_LOCK_PI, NULL)));
	printf("  UNLOCK_PI of a null word: %s\n", res(futex(NULL, FUTEX_UNLOCK_PI, NULL)));
	uint32_t *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("  LOCK_PI of a read-only word: %s\n", res(futex(ro, FUTEX_LOCK_PI, NULL)));
	munmap(ro, 4096);

	word = 0x3ffffff0; /* an id no thread has */
	r = futex(&word, FUTEX_LOCK_PI, NULL);
	printf("  LOCK_PI of a word naming no thread: %s, word %#x\n", res(r), word);
	printf("  TRYLOCK_PI of it: %s\n", res(futex(&word, FUTEX_TRYLOCK_PI, NULL)));
	word = FUTEX_OWNER_DIED;
	r = futex(&word, FUTEX_LOCK_PI, NULL);
	printf("  LOCK_PI of a word only marked owner-dead: %s, mark kept: %s\n", res(r),
	       word == (me | FUTEX_OWNER_DIED) ? "yes" : "no");
	r = futex(&word, FUTEX_UNLOCK_PI, NULL);
	printf("  UNLOCK_PI: %s, word %#x\n", res(r), word);

	other = 0;
	pthread_create(&t, NULL, take_other, NULL);
	pthread_join(t, NULL);
	printf("  LOCK_PI of a word naming an exited thread: %s\n", res(futex(&other, FUTEX_LOCK_PI, NULL)));
	word = 0;
}

static void hand_over(int op, const char *what)
{
	pthread_t t;

	printf("%s:\n", what);
	futex(&word, op, NULL);
	pthread_create(&t, NULL, locker, (void *)(intptr_t)op);
	if (!wait_bits(&word, FUTEX_WAITERS))
		printf("  no sleeper came\n");
	long r = futex(&word, FUTEX_UNLOCK_PI | (op & FUTEX_PRIVATE_FLAG), NULL);
	pthread_join(t, NULL);
	printf("  owner's UNLOCK_PI: %s\n", res(r));
}

static void signalled(void)
{
	struct sigaction sa;
	pthread_t t;

	printf("a signal during the sleep (handler without SA_RESTART):\n");
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	futex(&word, FUTEX_LOCK_PI, NULL);
	pthread_create(&t, NULL, locker, (void *)(intptr_t)FUTEX_LOCK_PI);
	if (!wait_bits(&word, FUTEX_WAITERS))
		printf("  no sleeper came\n");
	pthread_kill(t, SIGUSR1);
	while (!handled)
		usleep(1000);
	check_waiters = 0;
	usleep(20000); /* the call goes back to sleep */
	printf("  handler ran: yes\n");
	long r = futex(&word, FUTEX_UNLOCK_PI, NULL);
	pthread_join(t, NULL);
	printf("  owner's UNLOCK_PI: %s\n", res(r));
	check_waiters = 1;
}

static void owner_exits(void)
{
	pthread_t owner, sleeper;

	printf("an owner exits with a sleeper queued:\n");
	word = 0;
	pthread_create(&owner, NULL, die_owning, NULL);
	while ((word & FUTEX_TID_MASK) == 0)
		usleep(1000);
	pthread_create(&sleeper, NULL, locker, (void *)(intptr_t)FUTEX_LOCK_PI);
	pthread_join(owner, NULL);
	pthread_join(sleeper, NULL);
}

static volatile uint32_t cond;
static int owned_after_wait; /* counted under `word` */

static long requeue(volatile uint32_t *from, int wake, long n_move, volatile uint32_t *to, uint32_t cmp)
{
	return syscall(SYS_futex, from, FUTEX_CMP_REQUEUE_PI, wake, (void *)n_move, to, cmp);
}

static long wait_requeue(volatile uint32_t *addr, uint32_t val, const struct timespec *t, volatile uint32_t *to)
{
	return syscall(SYS_futex, addr, FUTEX_WAIT_REQUEUE_PI, val, t, to, 0);
}

/* Thread: wait on `cond` to wake owning `word`. */
static void *cond_waiter(void *arg)
{
	(void)arg;
	long r = wait_requeue(&cond, 0, NULL, &word);
	if (r != 0) {
		printf("  WAIT_REQUEUE_PI: %s\n", strerror(errno));
		return NULL;
	}
	if ((word & FUTEX_TID_MASK) == gettid_())
		owned_after_wait++;
	futex(&word, FUTEX_UNLOCK_PI, NULL);
	return NULL;
}

/* Requeue until `n` waiters went (they may not all sleep yet). */
static long requeue_all(int n)
{
	long total = 0;
	for (int i = 0; i < 5000 && total < n; i++) {
		long r = requeue(&cond, 1, 1000, &word, 0);
		if (r < 0) {
			printf("  CMP_REQUEUE_PI: %s\n", strerror(errno));
			break;
		}
		total += r;
		if (total < n)
			usleep(1000);
	}
	return total;
}

static void requeue_pi(void)
{
	pthread_t t[3];
	struct timespec ts;

	printf("requeue to a PI futex:\n");
	word = 0;
	cond = 0;
	printf("  CMP_REQUEUE_PI waking 2: %s\n", res(requeue(&cond, 2, 1, &word, 0)));
	printf("  CMP_REQUEUE_PI onto itself: %s\n", res(requeue(&cond, 1, 1, &cond, 0)));
	printf("  CMP_REQUEUE_PI, value changed: %s\n", res(requeue(&cond, 1, 1, &word, 7)));
	printf("  CMP_REQUEUE_PI, nobody waiting: %ld\n", requeue(&cond, 1, 1, &word, 0));
	printf("  WAIT_REQUEUE_PI, value changed: %s\n", res(wait_requeue(&cond, 7, NULL, &word)));
	printf("  WAIT_REQUEUE_PI onto itself: %s\n", res(wait_requeue(&cond, 0, NULL, &cond)));
	ts = in_ms(CLOCK_MONOTONIC, 30);
	printf("  WAIT_REQUEUE_PI, 30 ms deadline: %s\n", res(wait_requeue(&cond, 0, &ts, &word)));
	printf("  word untouched: %#x\n", word);

	/* The lock is held: all three are moved behind its owner. */
	futex(&word, FUTEX_LOCK_PI, NULL);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, cond_waiter, NULL);
	printf("  requeued behind a held lock: %ld\n", requeue_all(3));
	printf("  owner's UNLOCK_PI: %s\n", res(futex(&word, FUTEX_UNLOCK_PI, NULL)));
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("  waiters that woke owning it: %d, word %#x\n", owned_after_wait, word);

	/* The lock is free: the first waiter is given it at once. */
	owned_after_wait = 0;
	pthread_create(&t[0], NULL, cond_waiter, NULL);
	printf("  given a free lock: %ld\n", requeue_all(1));
	pthread_join(t[0], NULL);
	printf("  waiters that woke owning it: %d, word %#x\n", owned_after_wait, word);
}

/* The first thread exits holding `word` with a sleeper behind it. */
static void *after_first_thread(void *arg)
{
	(void)arg;
	locker((void *)(intptr_t)FUTEX_LOCK_PI);
	printf("  LOCK_PI of a word naming the exited first thread: %s\n",
	       res(futex(&other, FUTEX_LOCK_PI, NULL)));
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	errors();
	hand_over(FUTEX_LOCK_PI, "hand-over to a sleeper");
	hand_over(FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG, "hand-over, private");
	hand_over(FUTEX_LOCK_PI2, "hand-over, LOCK_PI2");
	signalled();
	owner_exits();
	requeue_pi();

	printf("the first thread exits with a sleeper queued:\n");
	futex(&word, FUTEX_LOCK_PI, NULL);
	other = gettid_();
	pthread_create(&t, NULL, after_first_thread, NULL);
	if (!wait_bits(&word, FUTEX_WAITERS))
		printf("  no sleeper came\n");
	pthread_exit(NULL);
}
