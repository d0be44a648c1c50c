/* Signal handlers: SA_SIGINFO with si_code/si_addr for a fault, recovery
 * with siglongjmp, raise() with a handler, SA_RESETHAND, an alternate
 * stack, sigprocmask holding a signal pending, rt_sigqueueinfo values, and
 * FPU/SSE registers surviving a handler that uses them. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static sigjmp_buf env;
static volatile int hits;
static volatile double fp_sink;

static void on_segv(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	printf("SIGSEGV handler: sig=%d code=%s addr=%p\n", sig,
	       si->si_code == SEGV_MAPERR ? "SEGV_MAPERR" : "other", si->si_addr);
	siglongjmp(env, 1);
}

static void on_usr1(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	hits++;
	/* Clobber SSE registers: the interrupted code must not notice. */
	fp_sink = fp_sink * 3.25 + sig;
	printf("SIGUSR1 handler: code=%s value=%d\n",
	       si->si_code == SI_QUEUE ? "SI_QUEUE" : si->si_code == SI_TKILL ? "SI_TKILL" : "SI_USER",
	       si->si_code == SI_QUEUE ? si->si_value.sival_int : 0);
}

static char altstack[64 * 1024];
static void on_usr2(int sig) {
	char here;
	int on_alt = &here >= altstack && &here < altstack + sizeof altstack;
	printf("SIGUSR2 handler on the alternate stack: %s\n", on_alt ? "yes" : "no");
	(void)sig;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	if (sigsetjmp(env, 1) == 0) {
		*(volatile int *)16 = 1;
		printf("not reached\n");
	}
	printf("recovered from SIGSEGV\n");

	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	volatile double x = 1.5, y = 2.25;
	raise(SIGUSR1);
	double z = x * y;
	printf("after raise: hits=%d fp=%.4f\n", hits, z);

	union sigval v = {.sival_int = 42};
	sigqueue(getpid(), SIGUSR1, v);
	printf("after sigqueue: hits=%d\n", hits);

	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	kill(getpid(), SIGUSR1);
	sigset_t pend;
	sigpending(&pend);
	printf("pending while blocked: %d, hits=%d\n", sigismember(&pend, SIGUSR1), hits);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("after unblock: hits=%d\n", hits);

	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	sigaltstack(&ss, NULL);
	struct sigaction sa2 = {0};
	sa2.sa_handler = on_usr2;
	sa2.sa_flags = SA_ONSTACK | SA_RESETHAND;
	sigaction(SIGUSR2, &sa2, NULL);
	raise(SIGUSR2);
	struct sigaction now;
	sigaction(SIGUSR2, NULL, &now);
	printf("SA_RESETHAND restored the default: %s\n", now.sa_handler == SIG_DFL ? "yes" : "no");

	signal(SIGTERM, SIG_IGN);
	raise(SIGTERM);
	printf("ignored SIGTERM\n");
	signal(SIGTERM, SIG_DFL);
	raise(SIGTERM);
	printf("not reached after SIGTERM\n");
	return 0;
}
