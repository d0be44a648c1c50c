/* Job control: stop and continue signals on a child, what wait4 reports
 * with WUNTRACED and WCONTINUED, the parent's SIGCHLD codes (and
 * SA_NOCLDSTOP), a stopped child running no code, SIGKILL ending a stop
 * while other signals wait, SIGCONT discarding a pending stop signal. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static volatile sig_atomic_t nchld;
static volatile int codes[16], statuses[16];

static void on_chld(int sig, siginfo_t *si, void *ctx) {
	(void)sig, (void)ctx;
	if (nchld < 16) {
		codes[nchld] = si->si_code;
		statuses[nchld] = si->si_status;
	}
	nchld++;
}

static const char *code_name(int c) {
	switch (c) {
	case CLD_EXITED: return "CLD_EXITED";
	case CLD_KILLED: return "CLD_KILLED";
	case CLD_STOPPED: return "CLD_STOPPED";
	case CLD_CONTINUED: return "CLD_CONTINUED";
	default: return "?";
	}
}

/* Wait (SIGCHLD blocked outside) until the handler has run `n` times. */
static void await_chld(int n, sigset_t *unblocked) {
	while (nchld < n)
		sigsuspend(unblocked);
}

static void describe(const char *what, int st) {
	if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by %d\n", what, WTERMSIG(st));
	else if (WIFSTOPPED(st))
		printf("%s: stopped by %d\n", what, WSTOPSIG(st));
	else if (WIFCONTINUED(st))
		printf("%s: continued\n", what);
}

static void msleep(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void install(int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_chld;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | flags;
	sigaction(SIGCHLD, &sa, NULL);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	sigset_t chld, unblocked;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &unblocked);
	install(0);

	/* A child that writes a byte every 5 ms while it runs. */
	int fds[2];
	pipe(fds);
	pid_t c = fork();
	if (c == 0) {
		close(fds[0]);
		for (;;) {
			write(fds[1], "x", 1);
			msleep(5);
		}
	}
	close(fds[1]);
	char buf[4096];
	read(fds[0], buf, 1);

	int st;
	kill(c, SIGSTOP);
	printf("waitpid WUNTRACED returns the child: %s\n", waitpid(c, &st, WUNTRACED) == c ? "yes" : "no");
	describe("after SIGSTOP", st);
	await_chld(1, &unblocked);
	printf("SIGCHLD: %s status %d\n", code_name(codes[0]), statuses[0]);
	printf("the stop is reported once: %d\n", waitpid(c, &st, WUNTRACED | WNOHANG));

	/* Stopped: nothing more arrives through the pipe. */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	msleep(20);
	while (read(fds[0], buf, sizeof buf) > 0)
		;
	msleep(100);
	ssize_t n = read(fds[0], buf, sizeof buf);
	printf("a stopped child writes nothing: %s\n", n < 0 && errno == EAGAIN ? "yes" : "no");

	kill(c, SIGCONT);
	printf("waitpid WCONTINUED returns the child: %s\n", waitpid(c, &st, WCONTINUED) == c ? "yes" : "no");
	describe("after SIGCONT", st);
	await_chld(2, &unblocked);
	printf("SIGCHLD: %s status %d\n", code_name(codes[1]), statuses[1]);
	fcntl(fds[0], F_SETFL, 0);
	printf("it runs again: %s\n", read(fds[0], buf, 1) == 1 ? "yes" : "no");

	/* A stopped process keeps SIGTERM pending until it continues. */
	kill(c, SIGSTOP);
	waitpid(c, &st, WUNTRACED);
	await_chld(3, &unblocked);
	kill(c, SIGTERM);
	msleep(50);
	printf("stopped, SIGTERM pending: waitpid says %d\n", waitpid(c, &st, WNOHANG));
	kill(c, SIGCONT);
	waitpid(c, &st, 0);
	describe("then SIGCONT", st);
	/* Its CLD_CONTINUED and CLD_KILLED may arrive as one SIGCHLD. */
	sigprocmask(SIG_SETMASK, &unblocked, NULL);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	nchld = 0;
	close(fds[0]);

	/* SIGKILL ends a stop too; SIGTSTP stops a child in its own group. */
	c = fork();
	if (c == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(c, c);
	kill(c, SIGTSTP);
	waitpid(c, &st, WUNTRACED);
	describe("after SIGTSTP", st);
	await_chld(1, &unblocked);
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
	describe("stopped, then SIGKILL", st);
	await_chld(2, &unblocked);
	printf("SIGCHLD: %s status %d, %s status %d\n", code_name(codes[0]), statuses[0],
	       code_name(codes[1]), statuses[1]);

	/* SIGCONT discards a stop signal the child blocks. */
	int go[2], ready[2];
	pipe(go);
	pipe(ready);
	c = fork();
	if (c == 0) {
		sigset_t tstp;
		sigemptyset(&tstp);
		sigaddset(&tstp, SIGTSTP);
		sigprocmask(SIG_BLOCK, &tstp, NULL);
		setpgid(0, 0);
		write(ready[1], "r", 1);
		char b;
		read(go[0], &b, 1);
		sigprocmask(SIG_UNBLOCK, &tstp, NULL);
		_exit(0);
	}
	setpgid(c, c);
	char b;
	read(ready[0], &b, 1);
	kill(c, SIGTSTP);
	kill(c, SIGCONT);
	write(go[1], "g", 1);
	waitpid(c, &st, WUNTRACED);
	describe("SIGTSTP then SIGCONT while blocked", st);
	await_chld(3, &unblocked);

	/* SA_NOCLDSTOP: no SIGCHLD for stops, one for the exit. */
	install(SA_NOCLDSTOP);
	nchld = 0;
	c = fork();
	if (c == 0) {
		raise(SIGSTOP);
		_exit(4);
	}
	waitpid(c, &st, WUNTRACED);
	describe("raise(SIGSTOP)", st);
	sigprocmask(SIG_SETMASK, &unblocked, NULL);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	printf("SIGCHLD after a stop with SA_NOCLDSTOP: %d\n", (int)nchld);
	kill(c, SIGCONT);
	waitpid(c, &st, 0);
	describe("continued child", st);
	await_chld(1, &unblocked);
	printf("SIGCHLD: %d, %s status %d\n", (int)nchld, code_name(codes[0]), statuses[0]);
	printf("no children left: %s\n", waitpid(-1, &st, WNOHANG | WUNTRACED | WCONTINUED) < 0 ? errname(errno) : "?");
	return 0;
}
