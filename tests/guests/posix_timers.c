/* POSIX timers (timer_create, timer_settime, timer_gettime,
 * timer_getoverrun, timer_delete): errors, the signal each notification
 * sends and what it carries, overruns while the signal waits, absolute
 * times, a thread as target, libc's SIGEV_THREAD, and timers ending with
 * fork and exec. Prints no ids or times, only what Linux guarantees. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static long raw_create(int clock, struct sigevent *ev, timer_t *id)
{
	return syscall(SYS_timer_create, clock, ev, id);
}

/* The target thread of SIGEV_THREAD_ID sits right after sigev_notify;
 * the libcs name that union member differently. */
static void set_target(struct sigevent *ev, pid_t tid)
{
	memcpy((char *)ev + 16, &tid, sizeof tid);
}

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: ok\n", what);
}

static double secs(struct timespec t)
{
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return secs(t);
}

static volatile sig_atomic_t fired, code_ok, value_ok, id_ok, tid_ok;
static timer_t expected_id;
static int expected_value;
static pid_t expected_tid;

static void on_timer(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	fired++;
	code_ok = si->si_code == SI_TIMER;
	value_ok = si->si_value.sival_int == expected_value;
	id_ok = si->si_timerid == (int)(long)expected_id;
	tid_ok = gettid() == expected_tid;
}

static void handle(int sig)
{
	struct sigaction sa = { .sa_sigaction = on_timer, .sa_flags = SA_SIGINFO };
	sigaction(sig, &sa, NULL);
}

static void block(int sig, int how)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(how, &s, NULL);
}

static void wait_fired(int n)
{
	double until = now() + 5;
	while (fired < n && now() < until)
		usleep(1000);
}

static void arm(timer_t id, long first_ns, long every_ns, int flags)
{
	struct itimerspec its = {
		.it_value = { first_ns / 1000000000, first_ns % 1000000000 },
		.it_interval = { every_ns / 1000000000, every_ns % 1000000000 },
	};
	if (timer_settime(id, flags, &its, NULL))
		printf("timer_settime failed: %s\n", errname(errno));
}

static void errors(void)
{
	timer_t id;
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	report("unknown clock", raw_create(100, NULL, &id));
	report("CLOCK_MONOTONIC_RAW", raw_create(CLOCK_MONOTONIC_RAW, NULL, &id));
	ev.sigev_notify = 3;
	report("notify 3", raw_create(CLOCK_MONOTONIC, &ev, &id));
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = 0;
	report("signal 0", raw_create(CLOCK_MONOTONIC, &ev, &id));
	ev.sigev_signo = 65;
	report("signal 65", raw_create(CLOCK_MONOTONIC, &ev, &id));
	ev.sigev_notify = SIGEV_NONE;
	ev.sigev_signo = 0;
	report("SIGEV_NONE with signal 0", raw_create(CLOCK_MONOTONIC, &ev, &id));
	timer_delete(id);

	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = SIGUSR1;
	set_target(&ev, child);
	report("SIGEV_THREAD_ID of another process", raw_create(CLOCK_MONOTONIC, &ev, &id));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	report("bad sigevent pointer", raw_create(CLOCK_MONOTONIC, (void *)8, &id));
	report("bad id pointer", raw_create(CLOCK_MONOTONIC, NULL, (void *)8));

	raw_create(CLOCK_MONOTONIC, NULL, &id);
	struct itimerspec its = { { 0, 0 }, { 0, 1000000000 } };
	report("settime nsec 1e9", syscall(SYS_timer_settime, id, 0, &its, NULL));
	its.it_value.tv_nsec = 0;
	its.it_value.tv_sec = -1;
	report("settime negative", syscall(SYS_timer_settime, id, 0, &its, NULL));
	report("settime NULL", syscall(SYS_timer_settime, id, 0, NULL, NULL));
	report("settime bad pointer", syscall(SYS_timer_settime, id, 0, (void *)8, NULL));
	report("gettime bad pointer", syscall(SYS_timer_gettime, id, (void *)8));
	report("settime unknown id", syscall(SYS_timer_settime, 123456, 0, &its, NULL));
	report("gettime unknown id", syscall(SYS_timer_gettime, 123456, &its));
	report("getoverrun unknown id", syscall(SYS_timer_getoverrun, 123456));
	report("delete", syscall(SYS_timer_delete, id));
	report("delete again", syscall(SYS_timer_delete, id));
}

static void signal_notification(void)
{
	timer_t id;
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
	ev.sigev_value.sival_int = 4242;
	handle(SIGUSR1);
	timer_create(CLOCK_MONOTONIC, &ev, &id);
	expected_id = id;
	expected_value = 4242;
	expected_tid = gettid();
	fired = 0;
	double start = now();
	arm(id, 20000000, 0, 0);
	wait_fired(1);
	printf("one-shot fired: %d, after >= 15 ms: %s, SI_TIMER: %s, value: %s, id: %s\n",
	       fired, now() - start >= 0.015 ? "yes" : "no", code_ok ? "yes" : "no",
	       value_ok ? "yes" : "no", id_ok ? "yes" : "no");
	struct itimerspec its;
	timer_gettime(id, &its);
	printf("expired one-shot reads as disarmed: %s\n",
	       secs(its.it_value) == 0 && secs(its.it_interval) == 0 ? "yes" : "no");

	arm(id, 10000000000L, 500000000, 0);
	timer_gettime(id, &its);
	printf("armed for 10 s: left in (9, 10]: %s, interval 0.5 s: %s\n",
	       secs(its.it_value) > 9 && secs(its.it_value) <= 10 ? "yes" : "no",
	       its.it_interval.tv_sec == 0 && its.it_interval.tv_nsec == 500000000 ? "yes" : "no");
	struct itimerspec old, off = { { 0, 0 }, { 0, 0 } };
	timer_settime(id, 0, &off, &old);
	timer_gettime(id, &its);
	printf("disarm returns the old setting: %s, then reads zero: %s\n",
	       secs(old.it_value) > 9 ? "yes" : "no",
	       secs(its.it_value) == 0 && secs(its.it_interval) == 0 ? "yes" : "no");
	timer_delete(id);

	/* No sigevent: SIGALRM carrying the timer's id. Raw calls: a libc
	 * may pass a sigevent of its own. */
	handle(SIGALRM);
	int raw_id = -1;
	raw_create(CLOCK_MONOTONIC, NULL, (timer_t *)&raw_id);
	expected_id = (timer_t)(long)raw_id;
	expected_value = raw_id;
	fired = 0;
	struct itimerspec soon = { { 0, 0 }, { 0, 1000000 } };
	syscall(SYS_timer_settime, raw_id, 0, &soon, NULL);
	wait_fired(1);
	printf("default sigevent: SIGALRM fired: %d, value is the id: %s\n", fired,
	       value_ok ? "yes" : "no");
	syscall(SYS_timer_delete, raw_id);
	signal(SIGALRM, SIG_DFL);
}

static void overruns(void)
{
	timer_t id;
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 2 };
	int sig = SIGRTMIN + 2;
	block(sig, SIG_BLOCK);
	timer_create(CLOCK_MONOTONIC, &ev, &id);
	arm(id, 5000000, 5000000, 0);
	usleep(100000);
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, sig);
	siginfo_t si;
	int got = sigwaitinfo(&set, &si);
	int overrun = timer_getoverrun(id);
	sigpending(&pending);
	printf("periodic timer, signal blocked 100 ms: one signal: %s, si_overrun >= 5: %s, "
	       "timer_getoverrun agrees: %s, nothing more pending: %s\n",
	       got == sig ? "yes" : "no", si.si_overrun >= 5 ? "yes" : "no",
	       overrun == si.si_overrun ? "yes" : "no", sigismember(&pending, sig) ? "no" : "yes");
	/* Taken: the next expiry queues a signal again. */
	struct timespec wait = { 1, 0 };
	got = sigtimedwait(&set, &si, &wait);
	printf("next expiry after the take: %s\n", got == sig ? "yes" : "no");
	timer_delete(id);

	/* A deleted timer's waiting signal goes with it. */
	timer_create(CLOCK_MONOTONIC, &ev, &id);
	arm(id, 1000000, 0, 0);
	usleep(30000);
	sigpending(&pending);
	int was_pending = sigismember(&pending, sig);
	timer_delete(id);
	struct timespec zero = { 0, 0 };
	got = sigtimedwait(&set, &si, &zero);
	printf("pending before delete: %s, taken after delete: %s\n", was_pending ? "yes" : "no",
	       got == sig ? "yes" : errname(errno));
	block(sig, SIG_UNBLOCK);
}

static void absolute_times(void)
{
	timer_t id;
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 };
	handle(SIGUSR2);
	timer_create(CLOCK_REALTIME, &ev, &id);
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	long when = (t.tv_nsec + 30000000L);
	struct itimerspec its = { { 0, 0 }, { t.tv_sec + when / 1000000000, when % 1000000000 } };
	fired = 0;
	double start = now();
	timer_settime(id, TIMER_ABSTIME, &its, NULL);
	wait_fired(1);
	printf("CLOCK_REALTIME absolute +30 ms: fired %d, after >= 25 ms: %s\n", fired,
	       now() - start >= 0.025 ? "yes" : "no");
	its.it_value.tv_sec -= 100;
	fired = 0;
	start = now();
	timer_settime(id, TIMER_ABSTIME, &its, NULL);
	wait_fired(1);
	printf("absolute time in the past: fired %d, at once: %s\n", fired,
	       now() - start < 1 ? "yes" : "no");
	timer_delete(id);

	/* SIGEV_NONE: counts down, sends nothing. */
	ev.sigev_notify = SIGEV_NONE;
	timer_create(CLOCK_MONOTONIC, &ev, &id);
	fired = 0;
	arm(id, 2000000, 0, 0);
	usleep(20000);
	timer_gettime(id, &its);
	printf("SIGEV_NONE: nothing sent: %s, expired: %s\n", fired == 0 ? "yes" : "no",
	       secs(its.it_value) == 0 ? "yes" : "no");
	timer_delete(id);
}

static void *target_thread(void *arg)
{
	(void)arg;
	block(SIGUSR1, SIG_UNBLOCK);
	expected_tid = gettid();
	double until = now() + 5;
	while (!fired && now() < until)
		usleep(1000);
	return NULL;
}

static void thread_target(void)
{
	/* The main thread blocks the signal; the timer names the thread. */
	block(SIGUSR1, SIG_BLOCK);
	handle(SIGUSR1);
	expected_tid = 0;
	fired = 0;
	pthread_t t;
	pthread_create(&t, NULL, target_thread, NULL);
	while (!expected_tid)
		usleep(1000);
	timer_t id;
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1 };
	set_target(&ev, expected_tid);
	report("SIGEV_THREAD_ID of a thread of mine", raw_create(CLOCK_MONOTONIC, &ev, &id));
	arm(id, 5000000, 0, 0);
	pthread_join(t, NULL);
	printf("SIGEV_THREAD_ID: fired %d, in that thread: %s\n", fired,
	       fired && tid_ok ? "yes" : "no");
	timer_delete(id);
	block(SIGUSR1, SIG_UNBLOCK);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int callbacks;
static int callback_arg_ok = 1;
static pid_t callback_tid;

static void callback(union sigval v)
{
	pthread_mutex_lock(&lock);
	callbacks++;
	if (v.sival_ptr != &callbacks)
		callback_arg_ok = 0;
	callback_tid = gettid();
	pthread_mutex_unlock(&lock);
}

static void libc_thread_notification(void)
{
	timer_t id;
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = callback };
	ev.sigev_value.sival_ptr = &callbacks;
	if (timer_create(CLOCK_MONOTONIC, &ev, &id)) {
		printf("SIGEV_THREAD timer_create: %s\n", errname(errno));
		return;
	}
	arm(id, 5000000, 20000000, 0);
	double until = now() + 5;
	for (;;) {
		pthread_mutex_lock(&lock);
		int n = callbacks;
		pthread_mutex_unlock(&lock);
		if (n >= 3 || now() > until)
			break;
		usleep(1000);
	}
	timer_delete(id);
	pthread_mutex_lock(&lock);
	printf("SIGEV_THREAD: 3 callbacks: %s, argument passed: %s, not on the main thread: %s\n",
	       callbacks >= 3 ? "yes" : "no", callback_arg_ok ? "yes" : "no",
	       callback_tid != gettid() ? "yes" : "no");
	pthread_mutex_unlock(&lock);
}

static void fork_and_exec(const char *self)
{
	timer_t id;
	struct sigevent ev = { .sigev_notify = SIGEV_NONE };
	timer_create(CLOCK_MONOTONIC, &ev, &id);
	arm(id, 10000000000L, 0, 0);
	pid_t child = fork();
	if (child == 0) {
		struct itimerspec its;
		report("fork: the child's timer_gettime of the parent's timer",
		       syscall(SYS_timer_gettime, id, &its));
		fflush(stdout);
		char arg[32];
		snprintf(arg, sizeof arg, "%d", (int)(long)id);
		/* The child makes a timer of its own, then execs. */
		timer_t mine;
		raw_create(CLOCK_MONOTONIC, NULL, &mine);
		snprintf(arg, sizeof arg, "%d", (int)(long)mine);
		execl(self, self, "after-exec", arg, (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(child, &status, 0);
	struct itimerspec its;
	report("the parent's timer after the fork", syscall(SYS_timer_gettime, id, &its));
	timer_delete(id);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && strcmp(argv[1], "after-exec") == 0) {
		struct itimerspec its;
		report("exec: the timer made before exec", syscall(SYS_timer_gettime, atoi(argv[2]), &its));
		return 0;
	}
	errors();
	signal_notification();
	overruns();
	absolute_times();
	thread_target();
	libc_thread_notification();
	fork_and_exec(argv[0]);
	return 0;
}
