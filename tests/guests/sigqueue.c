/* sigqueue to another process: real-time signals carry their values and
 * SI_QUEUE, all queued while blocked; a forged si_code is refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int got, values[3], codes_ok = 1;

static void on_rt(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	if (got < 3)
		values[got] = si->si_value.sival_int;
	codes_ok &= si->si_code == SI_QUEUE && si->si_pid == getppid();
	got++;
}

int main(void) {
	int ready[2];
	pipe(ready);
	sigset_t rt, none;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigemptyset(&none);
	sigprocmask(SIG_BLOCK, &rt, NULL);
	pid_t child = fork();
	if (child == 0) {
		struct sigaction sa = {.sa_sigaction = on_rt, .sa_flags = SA_SIGINFO};
		sigaction(SIGRTMIN, &sa, NULL);
		write(ready[1], "r", 1);
		while (got < 3)
			sigsuspend(&none);
		printf("child: %d signals, values %d %d %d, SI_QUEUE from the parent: %s\n", got,
		       values[0], values[1], values[2], codes_ok ? "yes" : "no");
		fflush(stdout);
		_exit(0);
	}
	char c;
	read(ready[0], &c, 1);
	for (int i = 0; i < 3; i++) {
		union sigval v = {.sival_int = 42 + i};
		if (sigqueue(child, SIGRTMIN, v) != 0)
			printf("sigqueue: %s\n", strerror(errno));
	}
	siginfo_t forged;
	memset(&forged, 0, sizeof forged);
	forged.si_code = SI_USER;
	long r = syscall(SYS_rt_sigqueueinfo, child, SIGRTMIN, &forged);
	const char *why = r ? strerror(errno) : "";
	int st;
	waitpid(child, &st, 0);
	/* Printed after the child's line, whatever stdout is. */
	printf("posing as kill: %ld %s\n", r, why);
	printf("child exit %d\n", WEXITSTATUS(st));
	return 0;
}
