/*
 * fork_exec_loop [N]: fork, execve of a small static program, wait. The
 * program is this one again with the argument `exit`, which returns at
 * once: a static musl binary of a few pages. Prints `ns_per_iter <float>`.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int spawn_and_wait(char *self)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = {self, "exit", NULL};
		char *envp[] = {NULL};

		execve(self, argv, envp);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		return 0;

	long n = argc > 1 ? atol(argv[1]) : 50;
	double start;

	if (n <= 0 || spawn_and_wait(argv[0]) != 0)
		return 2;
	start = now_ns();
	for (long i = 0; i < n; i++) {
		if (spawn_and_wait(argv[0]) != 0)
			return 1;
	}
	report(start, n);
	return 0;
}
