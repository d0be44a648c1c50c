/* Signal stress: a SIGCHLD handler (SA_SIGINFO | SA_RESTART) reaps 200
 * short children that exit with varied codes, forked with SIGCHLD blocked
 * around the bookkeeping; a pipe read restarts after SIGCHLD interrupts it;
 * sigsuspend waits for the stragglers; kill() of ourselves reaches handlers
 * with SI_USER and our pid; standard signals coalesce while blocked and
 * real-time ones queue; sa_mask holds a signal raised inside a handler
 * until the handler returns. Everything printed is deterministic; the exit
 * status is the number of failed checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

#define CHILDREN 200

static volatile sig_atomic_t reaped, code_sum, chld_calls, bad_info;
static volatile sig_atomic_t usr1_calls, rt_calls, usr2_from_self;
static char order[16];
static volatile sig_atomic_t order_len;
static int failures;

static void check(int ok, const char *what) {
	printf("%s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		failures++;
}

static void note(char c) {
	if (order_len < (int)sizeof order - 1)
		order[order_len++] = c;
}

/* One SIGCHLD may stand for several exits: reap all that are ready. */
static void on_chld(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	int saved = errno;
	chld_calls++;
	if (sig != SIGCHLD || si->si_signo != SIGCHLD || si->si_code != CLD_EXITED)
		bad_info++;
	int status;
	while (waitpid(-1, &status, WNOHANG) > 0) {
		reaped++;
		code_sum += WEXITSTATUS(status);
	}
	errno = saved;
}

static void on_usr1(int sig) {
	(void)sig;
	usr1_calls++;
}

static void on_rt(int sig) {
	(void)sig;
	rt_calls++;
}

static void on_usr2(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	if (si->si_code == SI_USER && si->si_pid == getpid() && si->si_uid == getuid())
		usr2_from_self++;
	note('2');
}

/* Raises SIGUSR2, which sa_mask holds until this handler returns. */
static void on_hup(int sig) {
	(void)sig;
	note('<');
	kill(getpid(), SIGUSR2);
	note('>');
}

static void handle(int sig, void (*fn)(int), int flags, int masked) {
	struct sigaction sa = {0};
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (masked)
		sigaddset(&sa.sa_mask, masked);
	if (sigaction(sig, &sa, NULL) != 0)
		printf("sigaction(%d): %s\n", sig, errname(errno));
}

static void handle_info(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
	struct sigaction sa = {0};
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		printf("sigaction(%d): %s\n", sig, errname(errno));
}

static void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static int exit_code(int i) {
	return (i * 7) % 61;
}

static void block(int sig, sigset_t *old) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, old);
}

static void reap_children(void) {
	handle_info(SIGCHLD, on_chld, SA_RESTART);
	int expected_sum = 0, forked = 0;
	for (int i = 0; i < CHILDREN; i++) {
		/* The critical section: no reap may run between fork and the
		 * bookkeeping of what was forked. */
		sigset_t old;
		block(SIGCHLD, &old);
		pid_t pid = fork();
		if (pid == 0)
			_exit(exit_code(i));
		if (pid < 0) {
			printf("fork %d: %s\n", i, errname(errno));
		} else {
			forked++;
			expected_sum += exit_code(i);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	check(forked == CHILDREN, "forked 200 children");

	/* A read that SIGCHLD interrupts: with SA_RESTART it resumes and gets
	 * the byte the second child writes long after the first has exited
	 * (both wait, so the parent is surely reading by then). */
	int p[2];
	if (pipe(p) != 0)
		printf("pipe: %s\n", errname(errno));
	pid_t early = fork();
	if (early == 0) {
		sleep_ms(50);
		_exit(11);
	}
	pid_t late = fork();
	if (late == 0) {
		sleep_ms(300);
		if (write(p[1], "L", 1) != 1)
			_exit(1);
		_exit(13);
	}
	expected_sum += 11 + 13;
	close(p[1]);
	char c = 0;
	int before = chld_calls;
	ssize_t n = read(p[0], &c, 1);
	printf("read across SIGCHLD: %zd '%c' (%s)\n", n, n == 1 ? c : '?', n < 0 ? errname(errno) : "OK");
	check(chld_calls > before, "SIGCHLD arrived during the read");
	close(p[0]);

	/* The race-free wait for the rest: SIGCHLD blocked between the test
	 * and sigsuspend, which unblocks it atomically. */
	sigset_t old, during;
	block(SIGCHLD, &old);
	during = old;
	sigdelset(&during, SIGCHLD);
	while (reaped < CHILDREN + 2)
		sigsuspend(&during);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("reaped %d children, exit code sum %d (expected %d)\n", (int)reaped, (int)code_sum,
	       expected_sum);
	check(reaped == CHILDREN + 2 && code_sum == expected_sum, "every child reaped once");
	check(bad_info == 0, "siginfo of every SIGCHLD: CLD_EXITED");
	check(chld_calls >= 2, "separate SIGCHLDs for the early and the late child");
	check(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "no child left: ECHILD");
}

static void masks_and_self_kill(void) {
	handle(SIGUSR1, on_usr1, 0, 0);
	handle(SIGRTMIN, on_rt, 0, 0);
	handle_info(SIGUSR2, on_usr2, 0);

	kill(getpid(), SIGUSR1);
	check(usr1_calls == 1, "kill(self) runs the handler before kill returns");

	sigset_t old, pending;
	block(SIGUSR1, &old);
	block(SIGRTMIN, NULL);
	for (int i = 0; i < 3; i++) {
		kill(getpid(), SIGUSR1);
		kill(getpid(), SIGRTMIN);
	}
	sigpending(&pending);
	check(usr1_calls == 1 && rt_calls == 0, "blocked signals wait");
	check(sigismember(&pending, SIGUSR1) && sigismember(&pending, SIGRTMIN), "sigpending shows them");
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("after unblocking: SIGUSR1 ran %d more, SIGRTMIN %d times\n", (int)usr1_calls - 1,
	       (int)rt_calls);
	check(usr1_calls == 2, "standard signals coalesce");
	check(rt_calls == 3, "real-time signals queue");
	sigpending(&pending);
	check(!sigismember(&pending, SIGUSR1) && !sigismember(&pending, SIGRTMIN), "nothing left pending");

	kill(getpid(), SIGUSR2);
	check(usr2_from_self == 1, "siginfo of kill(self): SI_USER, our pid and uid");

	/* sa_mask: SIGUSR2 raised inside the SIGHUP handler waits for it. */
	order_len = 0;
	handle(SIGHUP, on_hup, 0, SIGUSR2);
	kill(getpid(), SIGHUP);
	order[order_len] = 0;
	printf("handler order: %s\n", order);
	check(strcmp(order, "<>2") == 0, "sa_mask defers a signal to the handler's end");

	/* The mask a handler ran with is gone afterwards. */
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	check(!sigismember(&now, SIGUSR2) && !sigismember(&now, SIGHUP), "handler masks restored");
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	reap_children();
	masks_and_self_kill();
	printf("failures: %d\n", failures);
	return failures;
}
