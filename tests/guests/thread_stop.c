/* Job control with threads: SIGSTOP stops every thread of a process (a
 * thread writing to a pipe every few milliseconds falls silent), SIGCONT
 * resumes them, and the parent sees both through waitpid. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int out;

static void *ticker(void *arg) {
	(void)arg;
	for (;;) {
		if (write(out, "t", 1) != 1)
			_exit(1);
		usleep(2000);
	}
}

static void nap(long ms) {
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

/* Bytes readable on the non-blocking pipe right now. */
static int drain(int fd) {
	char buf[4096];
	int total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			return total;
		total += (int)n;
	}
}

int main(void) {
	int p[2];
	if (pipe(p) != 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		close(p[0]);
		out = p[1];
		pthread_t t;
		pthread_create(&t, NULL, ticker, NULL);
		for (;;)
			pause();
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	nap(100);
	int before = drain(p[0]);

	kill(child, SIGSTOP);
	int st;
	waitpid(child, &st, WUNTRACED);
	int stopped = WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP;
	nap(20);
	drain(p[0]); /* whatever was written before the stop took effect */
	nap(150);
	int during = drain(p[0]);

	kill(child, SIGCONT);
	waitpid(child, &st, WCONTINUED);
	int continued = WIFCONTINUED(st);
	nap(100);
	int after = drain(p[0]);

	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	printf("ticking before the stop: %s\n", before > 0 ? "yes" : "no");
	printf("stopped: %s, silent while stopped: %s\n", stopped ? "yes" : "no",
	       during == 0 ? "yes" : "no");
	printf("continued: %s, ticking again: %s\n", continued ? "yes" : "no",
	       after > 0 ? "yes" : "no");
	printf("killed: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? "yes" : "no");
	return 0;
}
