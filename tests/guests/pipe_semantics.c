/*
 * What a program sees of a pipe beyond moving bytes: F_GETFL of each end
 * and O_NONBLOCK set and cleared with F_SETFL; EAGAIN on an empty or full
 * non-blocking pipe and EOF once the writer is gone; a blocking write far
 * bigger than the pipe goes in whole, in one call; and a blocking write
 * that a signal interrupts once part of it is in returns that part.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG (3 << 20)

static void on_alarm(int sig)
{
	(void)sig;
}

static void show_flags(const char *what, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	printf("%s: access %d nonblock %d\n", what, fl & O_ACCMODE, !!(fl & O_NONBLOCK));
}

static void flags_and_eagain(void)
{
	int p[2];
	char c;

	if (pipe(p) != 0)
		exit(2);
	show_flags("read end", p[0]);
	show_flags("write end", p[1]);
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	show_flags("read end after F_SETFL", p[0]);
	errno = 0;
	ssize_t r = read(p[0], &c, 1);

	printf("empty non-blocking read: %zd (%s)\n", r, strerror(errno));
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_NONBLOCK);
	show_flags("read end after clearing", p[0]);
	write(p[1], "z", 1);
	printf("blocking read of a written byte: %zd\n", read(p[0], &c, 1));
	close(p[1]);
	printf("read after the writer closed: %zd\n", read(p[0], &c, 1));
	close(p[0]);

	if (pipe2(p, O_NONBLOCK) != 0)
		exit(2);
	show_flags("pipe2(O_NONBLOCK) write end", p[1]);
	static char page[4096];
	long total = 0;
	ssize_t n;

	while ((n = write(p[1], page, sizeof page)) > 0)
		total += n;
	printf("filled a non-blocking pipe, then: %s (something went in: %s)\n",
	       strerror(errno), total > 0 ? "yes" : "no");
	close(p[0]);
	close(p[1]);
}

/* A child writes BIG bytes in one write(); the parent reads them all. */
static void big_blocking_write(void)
{
	int p[2], status;
	long got = 0;
	ssize_t n;
	char *buf = malloc(BIG);

	if (!buf || pipe(p) != 0)
		exit(2);
	pid_t pid = fork();

	if (pid == 0) {
		close(p[0]);
		memset(buf, 'w', BIG);
		n = write(p[1], buf, BIG);
		printf("child: one write of %d bytes returned %zd\n", BIG, n);
		fflush(stdout);
		_exit(n == BIG ? 0 : 1);
	}
	close(p[1]);
	/* Let the writer fill the pipe and block before anything is read. */
	usleep(100 * 1000);
	while ((n = read(p[0], buf, 65536)) > 0)
		got += n;
	waitpid(pid, &status, 0);
	printf("parent read %ld bytes; writer status %d\n", got, WEXITSTATUS(status));
	close(p[0]);
	free(buf);
}

/* Nobody reads: the write fills the pipe, blocks, and SIGALRM ends it. */
static void interrupted_write(void)
{
	int p[2];
	struct sigaction sa;
	char *buf = malloc(4 * BIG);

	if (!buf || pipe(p) != 0)
		exit(2);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	memset(buf, 'i', 4 * BIG);
	alarm(1);
	ssize_t n = write(p[1], buf, 4 * BIG);

	printf("interrupted write returned part of it: %s\n", n > 0 && n < 4 * BIG ? "yes" : "no");
	errno = 0;
	alarm(1);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	n = write(p[1], buf, 4096);
	printf("full pipe, non-blocking write: %zd (%s)\n", n, strerror(errno));
	fcntl(p[1], F_SETFL, 0);
	errno = 0;
	n = write(p[1], buf, 1);
	printf("full pipe, blocking write of one byte: %zd (%s)\n", n, strerror(errno));
	free(buf);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	flags_and_eagain();
	big_blocking_write();
	interrupted_write();
	return 0;
}
