/* A blocking read interrupted by a signal: EINTR without SA_RESTART; with
 * SA_RESTART the read is restarted and returns what the handler wrote into
 * the pipe. poll is never restarted once a handler ran. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int fds[2];
static void on_alarm(int sig) {
	(void)sig;
	write(fds[1], "x", 1);
}

static void arm(void) {
	struct itimerval it = {{0, 0}, {0, 20000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

static void install(int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = flags;
	sigaction(SIGALRM, &sa, NULL);
}

int main(void) {
	char c;
	pipe(fds);

	install(0);
	arm();
	ssize_t n = read(fds[0], &c, 1);
	printf("read without SA_RESTART: %zd %s\n", n, n < 0 ? strerror(errno) : "data");
	read(fds[0], &c, 1); /* drain what the handler wrote */

	install(SA_RESTART);
	arm();
	n = read(fds[0], &c, 1);
	printf("read with SA_RESTART: %zd '%c'\n", n, c);

	struct pollfd p = {.fd = fds[0], .events = POLLIN};
	arm();
	int r = poll(&p, 1, -1);
	printf("poll with SA_RESTART: %d revents=%d\n", r, r > 0 ? p.revents : -1);
	return 0;
}
