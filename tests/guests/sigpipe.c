/* Writes to a pipe whose read end is closed: first with SIGPIPE ignored
 * (the write fails with EPIPE), then with the default action, which kills
 * the process with SIGPIPE (status 141). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
	int fds[2];
	if (pipe(fds) != 0) {
		perror("pipe");
		return 1;
	}
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	ssize_t n = write(fds[1], "x", 1);
	printf("ignored: write returned %zd (%s)\n", n, n < 0 ? strerror(errno) : "ok");
	fflush(stdout);
	signal(SIGPIPE, SIG_DFL);
	write(fds[1], "x", 1);
	printf("still alive after SIGPIPE\n");
	return 0;
}
