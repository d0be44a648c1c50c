/* Process groups and sessions: setpgid/getpgid/getpgrp/setsid/getsid on
 * the caller and on children, with Linux's errors; kill of a process
 * group and of the caller's own group; waitpid by group. Everything that
 * changes groups runs in children, so the output does not depend on
 * whether the first process leads its group (it does under rvisor, not
 * when a test harness runs it). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static const char *rc(int r) { return r == 0 ? "OK" : errname(errno); }

static pid_t spawn_pause(void) {
	pid_t p = fork();
	if (p == 0) {
		for (;;)
			pause();
	}
	return p;
}

static volatile sig_atomic_t got;
static void on_usr1(int sig) { (void)sig; got = 1; }

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "wait-stdin") == 0) {
		char b;
		read(0, &b, 1);
		return 0;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t me = getpid();
	printf("getpgrp() == getpgid(0): %s\n", getpgrp() == getpgid(0) ? "yes" : "no");
	printf("getpgid(self) == getpgid(0): %s\n", getpgid(me) == getpgid(0) ? "yes" : "no");
	printf("getsid(self) == getsid(0): %s\n", getsid(me) == getsid(0) ? "yes" : "no");
	printf("setpgid(0, -1): %s\n", rc(setpgid(0, -1)));

	/* A reaped child's pid names nothing of ours. */
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	printf("getpgid(reaped): %s\n", getpgid(gone) < 0 ? errname(errno) : "found");
	printf("getsid(reaped): %s\n", getsid(gone) < 0 ? errname(errno) : "found");
	printf("setpgid(reaped, 0): %s\n", rc(setpgid(gone, 0)));
	printf("kill(reaped, 0): %s\n", rc(kill(gone, 0)));

	/* A child inherits the group and session, and may be moved. */
	pid_t c = spawn_pause();
	printf("child inherits the group: %s\n", getpgid(c) == getpgrp() ? "yes" : "no");
	printf("child inherits the session: %s\n", getsid(c) == getsid(0) ? "yes" : "no");
	printf("setpgid(child, child): %s\n", rc(setpgid(c, c)));
	printf("child leads its group: %s\n", getpgid(c) == c ? "yes" : "no");
	printf("setpgid(child, our group): %s\n", rc(setpgid(c, getpgrp())));
	printf("setpgid(child, reaped pid): %s\n", rc(setpgid(c, gone)));
	printf("a zombie keeps its group: ");
	setpgid(c, c);
	kill(c, SIGKILL);
	siginfo_t si;
	waitid(P_PID, c, &si, WEXITED | WNOWAIT);
	printf("%s\n", getpgid(c) == c ? "yes" : "no");
	printf("kill(zombie, 0): %s\n", rc(kill(c, 0)));
	waitpid(c, NULL, 0);

	/* After execve the parent may no longer move it. */
	int in[2], sync[2];
	pipe(in);
	pipe2(sync, O_CLOEXEC);
	c = fork();
	if (c == 0) {
		dup2(in[0], 0);
		close(in[1]);
		close(sync[0]);
		execl(argv[0], argv[0], "wait-stdin", (char *)NULL);
		_exit(127);
	}
	close(sync[1]);
	char b;
	read(sync[0], &b, 1); /* EOF once the exec closed it */
	printf("setpgid(exec'd child): %s\n", rc(setpgid(c, c)));
	close(in[1]);
	int st;
	waitpid(c, &st, 0);
	printf("exec'd child exit %d\n", WEXITSTATUS(st));

	/* setsid in a child: a new session and group; the parent loses it. */
	int p2c[2], c2p[2];
	pipe(p2c);
	pipe(c2p);
	c = fork();
	if (c == 0) {
		pid_t self = getpid();
		pid_t s = setsid();
		printf("child: setsid returns its pid: %s\n", s == self ? "yes" : "no");
		printf("child: getsid(0), getpgrp() are its pid: %s\n", getsid(0) == self && getpgrp() == self ? "yes" : "no");
		printf("child: setsid again: %s\n", setsid() < 0 ? errname(errno) : "OK");
		printf("child: leader setpgid(0, 0): %s\n", rc(setpgid(0, 0)));
		printf("child: getsid(parent) is another session: %s\n", getsid(getppid()) != self ? "yes" : "no");
		write(c2p[1], "x", 1);
		read(p2c[0], &b, 1);
		_exit(0);
	}
	read(c2p[0], &b, 1);
	printf("setpgid(child in another session): %s\n", rc(setpgid(c, c)));
	printf("getsid(child) is the child: %s\n", getsid(c) == c ? "yes" : "no");
	write(p2c[1], "x", 1);
	waitpid(c, NULL, 0);

	/* A process group of two: kill(-pgid) reaches both, waitpid(-pgid)
	 * reaps them. Parent and child both set the group, as shells do. */
	pid_t a = fork();
	if (a == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(a, a);
	pid_t bb = fork();
	if (bb == 0) {
		setpgid(0, a);
		for (;;)
			pause();
	}
	setpgid(bb, a);
	printf("second member joined: %s\n", getpgid(bb) == a ? "yes" : "no");
	printf("waitpid(-pgid, WNOHANG): %d\n", waitpid(-a, &st, WNOHANG));
	printf("kill(-pgid, SIGTERM): %s\n", rc(kill(-a, SIGTERM)));
	int leader = 0, member = 0;
	for (int i = 0; i < 2; i++) {
		pid_t w = waitpid(-a, &st, 0);
		int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		if (w == a)
			leader = sig;
		else if (w == bb)
			member = sig;
	}
	printf("reaped leader: signal %d, member: signal %d\n", leader, member);
	printf("waitpid(-pgid) again: %s\n", waitpid(-a, &st, 0) < 0 ? errname(errno) : "?");
	printf("kill(-pgid, 0) when empty: %s\n", rc(kill(-a, 0)));

	/* kill(0) and waitpid(0) inside a child that leads its own group. */
	c = fork();
	if (c == 0) {
		setpgid(0, 0);
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr1;
		sigaction(SIGUSR1, &sa, NULL);
		sigset_t usr1, old;
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		sigprocmask(SIG_BLOCK, &usr1, &old);
		pid_t g = fork();
		if (g == 0) {
			while (!got)
				sigsuspend(&old);
			_exit(3);
		}
		pid_t other = fork();
		if (other == 0) {
			setpgid(0, 0);
			_exit(9);
		}
		setpgid(other, other);
		kill(0, SIGUSR1);
		while (!got)
			sigsuspend(&old);
		printf("group leader got its own SIGUSR1: yes\n");
		int s2;
		pid_t w = waitpid(0, &s2, 0);
		printf("waitpid(0) reaps the member: %s, exit %d\n", w == g ? "yes" : "no", WEXITSTATUS(s2));
		printf("waitpid(0) again: %s\n", waitpid(0, &s2, 0) < 0 ? errname(errno) : "?");
		w = waitpid(-other, &s2, 0);
		printf("waitpid(-other group): %s, exit %d\n", w == other ? "yes" : "no", WEXITSTATUS(s2));
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("group child exit %d\n", WEXITSTATUS(st));
	printf("kill(-1 << 31, 0): %s\n", rc(kill(-2147483647 - 1, 0)));
	return 0;
}
