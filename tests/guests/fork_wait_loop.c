/*
 * fork_wait_loop [N]: the cost of a process's whole life. Each iteration
 * forks a child that exits at once and waits for it. Prints
 * `ns_per_iter <float>`.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int fork_and_wait(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(7);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : -1;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100;
	double start;

	if (n <= 0 || fork_and_wait() != 0) /* the first one warms up */
		return 2;
	start = now_ns();
	for (long i = 0; i < n; i++) {
		if (fork_and_wait() != 0)
			return 1;
	}
	report(start, n);
	return 0;
}
