/*
 * pipe_throughput [N]: a child writes N blocks of 64 KiB into a pipe and
 * the parent reads them all (in reads of up to 64 KiB). Prints
 * `ns_per_iter <float>`, one iteration being one 64 KiB block delivered.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define BLOCK (64 * 1024)

static char buf[BLOCK];

static void produce(int out, long blocks)
{
	memset(buf, 'x', sizeof buf);
	for (long i = 0; i < blocks; i++) {
		for (size_t done = 0; done < BLOCK;) {
			ssize_t n = write(out, buf + done, BLOCK - done);

			if (n <= 0)
				_exit(1);
			done += (size_t)n;
		}
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int p[2], status;
	long long total = 0;
	double start;
	ssize_t got;

	if (n <= 0 || pipe(p) != 0)
		return 2;
	/* The clock starts before the fork, so the child's start is counted
	 * too; with many blocks it is noise. */
	start = now_ns();
	pid_t pid = fork();

	if (pid == 0) {
		close(p[0]);
		produce(p[1], n);
	}
	close(p[1]);
	while ((got = read(p[0], buf, sizeof buf)) > 0)
		total += got;
	if (got < 0 || total != (long long)n * BLOCK)
		return 1;
	report(start, n);
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
