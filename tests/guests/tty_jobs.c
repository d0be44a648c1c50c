/* Job control on a controlling terminal (run under pty_run): the
 * foreground group and session, SIGTTIN for a background reader (EIO when
 * it ignores SIGTTIN), SIGTTOU for a background tcsetpgrp (allowed with
 * SIGTTOU blocked) and for a background writer once TOSTOP is set,
 * tcsetpgrp's errors, a process without a controlling terminal, and ^C
 * and ^Z typed on the terminal reaching the foreground job only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "errname.h"

static const char *yes(int ok)
{
	return ok ? "yes" : "no";
}

static void block_ttou(int block)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTTOU);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, NULL);
}

/* How a child ended or stopped, as one phrase. */
static void report(const char *what, pid_t child)
{
	int status;
	if (waitpid(child, &status, WUNTRACED) != child) {
		printf("%s: waitpid: %s\n", what, errname(errno));
		return;
	}
	if (WIFSTOPPED(status)) {
		printf("%s: stopped by %d\n", what, WSTOPSIG(status));
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	} else if (WIFSIGNALED(status)) {
		printf("%s: killed by %d\n", what, WTERMSIG(status));
	} else {
		printf("%s: exited %d\n", what, WEXITSTATUS(status));
	}
}

/* A child in a background group of its own. */
static pid_t background_child(void)
{
	pid_t child = fork();
	if (child == 0)
		setpgid(0, 0);
	else
		setpgid(child, child);
	return child;
}

/* A child that waits in the foreground for a key the terminal turns
 * into a signal. */
static void foreground_job(const char *key)
{
	pid_t child = fork();
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		setpgid(0, 0);
		while (tcgetpgrp(0) != getpgrp())
			usleep(1000);
		printf("waiting for %s\n", key);
		for (;;)
			pause();
	}
	setpgid(child, child);
	tcsetpgrp(0, child);
	char what[64];
	snprintf(what, sizeof what, "%s in the foreground job", key);
	report(what, child);
	/* Back in front, as a shell does, with SIGTTOU blocked. */
	block_ttou(1);
	printf("take the terminal back: %s\n", tcsetpgrp(0, getpgrp()) == 0 ? "ok" : errname(errno));
	block_ttou(0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGINT, SIG_IGN); /* only the foreground job is to see ^C */
	printf("tcgetpgrp is my group: %s\n", yes(tcgetpgrp(0) == getpgrp()));
	printf("tcgetsid is my session: %s\n", yes(tcgetsid(0) == getsid(0)));
	printf("I lead my session: %s\n", yes(getsid(0) == getpid()));

	char c;
	pid_t child = background_child();
	if (child == 0) {
		ssize_t r = read(0, &c, 1);
		printf("background read returned %zd\n", r);
		_exit(1);
	}
	report("background read", child);

	child = background_child();
	if (child == 0) {
		signal(SIGTTIN, SIG_IGN);
		ssize_t r = read(0, &c, 1);
		printf("background read, SIGTTIN ignored: %s\n", r < 0 ? errname(errno) : "data");
		_exit(0);
	}
	report("reader ignoring SIGTTIN", child);

	child = background_child();
	if (child == 0) {
		tcsetpgrp(0, getpgrp());
		_exit(1);
	}
	report("background tcsetpgrp", child);

	child = background_child();
	if (child == 0) {
		block_ttou(1);
		int r = tcsetpgrp(0, getpgrp());
		printf("background tcsetpgrp, SIGTTOU blocked: %s, in front: %s\n",
		       r == 0 ? "ok" : errname(errno), yes(tcgetpgrp(0) == getpgrp()));
		r = tcsetpgrp(0, getppid());
		printf("gave it back: %s\n", r == 0 ? "ok" : errname(errno));
		_exit(0);
	}
	report("tcsetpgrp with SIGTTOU blocked", child);
	printf("in front again: %s\n", yes(tcgetpgrp(0) == getpgrp()));

	child = background_child();
	if (child == 0) {
		printf("background write without TOSTOP\n");
		_exit(0);
	}
	report("background writer", child);

	struct termios t;
	tcgetattr(0, &t);
	t.c_lflag |= TOSTOP;
	tcsetattr(0, TCSANOW, &t);
	child = background_child();
	if (child == 0) {
		printf("background write with TOSTOP: should not show\n");
		_exit(0);
	}
	report("background writer with TOSTOP", child);
	child = background_child();
	if (child == 0) {
		signal(SIGTTOU, SIG_IGN);
		printf("background write with TOSTOP, SIGTTOU ignored\n");
		_exit(0);
	}
	report("writer ignoring SIGTTOU", child);
	t.c_lflag &= ~TOSTOP;
	tcsetattr(0, TCSANOW, &t);

	printf("tcsetpgrp(-1): %s\n", tcsetpgrp(0, -1) == 0 ? "ok" : errname(errno));
	child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	printf("tcsetpgrp(reaped pid): %s\n", tcsetpgrp(0, child) == 0 ? "ok" : errname(errno));

	int go[2], ready[2];
	if (pipe(go) || pipe(ready))
		return 1;
	child = fork();
	if (child == 0) {
		setsid();
		printf("new session: tcgetpgrp %s", tcgetpgrp(0) < 0 ? errname(errno) : "ok");
		printf(", tcsetpgrp %s", tcsetpgrp(0, getpgrp()) < 0 ? errname(errno) : "ok");
		printf(", /dev/tty %s", open("/dev/tty", O_RDWR) < 0 ? errname(errno) : "opened");
		printf(", TIOCNOTTY %s\n", ioctl(0, TIOCNOTTY) < 0 ? errname(errno) : "ok");
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	if (read(ready[0], &c, 1) != 1)
		return 1;
	printf("tcsetpgrp(another session): %s\n", tcsetpgrp(0, child) == 0 ? "ok" : errname(errno));
	if (write(go[1], "g", 1) != 1)
		return 1;
	report("other session", child);
	int fd = open("/dev/tty", O_RDWR);
	printf("/dev/tty with a controlling terminal: %s\n", fd < 0 ? errname(errno) : "opened");

	foreground_job("^C");
	foreground_job("^Z");
	printf("done\n");
	return 0;
}
