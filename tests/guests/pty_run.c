/* Runs a program on a fresh pseudo-terminal, as a terminal emulator does:
 * the child leads a new session whose controlling terminal is the pty.
 * Usage: pty_run [TRIGGER RESPONSE]... -- PROGRAM ARGS...
 * Whenever the program's output (after the previous trigger) contains the
 * next TRIGGER, RESPONSE is typed: "^C", "^Z", "^\" as control characters,
 * anything else literally with "\n" as a newline. The whole output is then
 * printed (carriage returns dropped), followed by how the program ended.
 * This runs on the host, never in the sandbox: it is how the tests give
 * rvisor (or the native program) a terminal. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_OUT (1 << 20)

static char out[MAX_OUT + 1];

/* The bytes to type for a response. */
static size_t decode(const char *r, char *buf)
{
	if (r[0] == '^' && r[1] && !r[2]) {
		buf[0] = r[1] == '?' ? 0x7f : (r[1] & 0x1f);
		return 1;
	}
	size_t n = 0;
	for (; *r; r++) {
		if (r[0] == '\\' && r[1] == 'n') {
			buf[n++] = '\n';
			r++;
		} else {
			buf[n++] = *r;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	int sep = 1;
	while (sep < argc && strcmp(argv[sep], "--") != 0)
		sep++;
	if (sep >= argc - 1 || (sep - 1) % 2 != 0) {
		fprintf(stderr, "usage: pty_run [TRIGGER RESPONSE]... -- PROGRAM ARGS...\n");
		return 2;
	}
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master)) {
		perror("posix_openpt");
		return 2;
	}
	char *name = ptsname(master);
	pid_t child = fork();
	if (child == 0) {
		setsid();
		int slave = open(name, O_RDWR);
		if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0) {
			perror("slave");
			_exit(2);
		}
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		if (slave > 2)
			close(slave);
		close(master);
		execv(argv[sep + 1], argv + sep + 1);
		perror("execv");
		_exit(127);
	}
	size_t len = 0, seen = 0;
	int step = 1;
	time_t deadline = time(NULL) + 60;
	for (;;) {
		struct pollfd p = {.fd = master, .events = POLLIN};
		if (poll(&p, 1, 1000) == 0) {
			if (time(NULL) > deadline) {
				kill(child, SIGKILL);
				fprintf(stderr, "pty_run: timed out\n");
				break;
			}
			continue;
		}
		ssize_t n = read(master, out + len, MAX_OUT - len);
		if (n <= 0)
			break; /* EIO: every holder of the slave has gone */
		len += n;
		out[len] = 0;
		while (step < sep && strstr(out + seen, argv[step])) {
			seen = strstr(out + seen, argv[step]) - out + strlen(argv[step]);
			char buf[256];
			size_t k = decode(argv[step + 1], buf);
			if (write(master, buf, k) != (ssize_t)k)
				perror("write");
			step += 2;
		}
	}
	int status;
	waitpid(child, &status, 0);
	for (size_t i = 0; i < len; i++)
		if (out[i] != '\r')
			putchar(out[i]);
	if (WIFEXITED(status))
		printf("[exit %d]\n", WEXITSTATUS(status));
	else
		printf("[signal %d]\n", WTERMSIG(status));
	return 0;
}
