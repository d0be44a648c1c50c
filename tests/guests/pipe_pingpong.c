/*
 * pipe_pingpong [N]: the round trip of one byte to a child and back over
 * two pipes: four pipe operations and two wake-ups of a blocked reader.
 * Prints `ns_per_iter <float>`, one iteration being one round trip.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* The child echoes every byte until end of file. */
static void echo(int in, int out)
{
	char c;

	while (read(in, &c, 1) == 1) {
		if (write(out, &c, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static int round_trip(int out, int in, char c)
{
	char back;

	return write(out, &c, 1) == 1 && read(in, &back, 1) == 1 && back == c ? 0 : -1;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int to_child[2], to_parent[2], status;
	double start;

	if (n <= 0 || pipe(to_child) != 0 || pipe(to_parent) != 0)
		return 2;
	pid_t pid = fork();

	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		echo(to_child[0], to_parent[1]);
	}
	close(to_child[0]);
	close(to_parent[1]);
	for (long i = 0; i < n / 10 + 1; i++) { /* warm up */
		if (round_trip(to_child[1], to_parent[0], 'w') != 0)
			return 1;
	}
	start = now_ns();
	for (long i = 0; i < n; i++) {
		if (round_trip(to_child[1], to_parent[0], (char)('a' + i % 26)) != 0)
			return 1;
	}
	report(start, n);
	close(to_child[1]);
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
