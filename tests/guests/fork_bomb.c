/* Forks children that wait for a signal until fork fails, then kills and
 * reaps them all. Under `rvisor --max-processes N` fork fails with EAGAIN
 * once the sandbox holds N processes. Natively it stops at a cap of 64. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
	pid_t kids[64];
	int n = 0, err = 0;
	while (n < 64) {
		pid_t p = fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0) {
			err = errno;
			break;
		}
		kids[n++] = p;
	}
	printf("forked %d children, then: %s\n", n, err ? strerror(err) : "stopped at the cap");
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	int reaped = 0, st;
	while (wait(&st) > 0)
		reaped += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	printf("reaped %d killed children\n", reaped);
	return 0;
}
