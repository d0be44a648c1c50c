/* waitid: P_PID, P_PGID, P_ALL; WEXITED, WSTOPPED, WCONTINUED, WNOHANG,
 * WNOWAIT; the siginfo_t it fills in; its errors. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static const char *code_name(int c) {
	switch (c) {
	case 0: return "0";
	case CLD_EXITED: return "CLD_EXITED";
	case CLD_KILLED: return "CLD_KILLED";
	case CLD_STOPPED: return "CLD_STOPPED";
	case CLD_CONTINUED: return "CLD_CONTINUED";
	default: return "?";
	}
}

/* waitid with a siginfo full of garbage first, then what it holds. */
static void show(const char *what, idtype_t type, id_t id, int options, pid_t expect) {
	siginfo_t si;
	memset(&si, 0x5a, sizeof si);
	int r = waitid(type, id, &si, options);
	if (r < 0) {
		printf("%s: %s\n", what, errname(errno));
		return;
	}
	printf("%s: signo %s, code %s, status %d, pid %s, uid %s, errno %d\n", what,
	       si.si_signo == SIGCHLD ? "SIGCHLD" : si.si_signo == 0 ? "0" : "?",
	       code_name(si.si_code), si.si_status,
	       si.si_pid == expect ? "the child" : si.si_pid == 0 ? "0" : "other",
	       si.si_uid == getuid() ? "ours" : si.si_uid == 0 ? "0" : "other", si.si_errno);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	siginfo_t si;
	printf("no options: %s\n", waitid(P_ALL, 0, &si, 0) < 0 ? errname(errno) : "?");
	printf("only WNOHANG: %s\n", waitid(P_ALL, 0, &si, WNOHANG) < 0 ? errname(errno) : "?");
	printf("bad idtype: %s\n", waitid((idtype_t)7, 0, &si, WEXITED) < 0 ? errname(errno) : "?");
	printf("unknown option: %s\n", waitid(P_ALL, 0, &si, WEXITED | 0x100) < 0 ? errname(errno) : "?");
	printf("P_PID 0: %s\n", waitid(P_PID, 0, &si, WEXITED) < 0 ? errname(errno) : "?");
	printf("no children: %s\n", waitid(P_ALL, 0, &si, WEXITED) < 0 ? errname(errno) : "?");

	int go[2];
	pipe(go);
	pid_t c = fork();
	if (c == 0) {
		char b;
		read(go[0], &b, 1);
		_exit(5);
	}
	show("running, WNOHANG", P_PID, c, WEXITED | WNOHANG, c);
	write(go[1], "x", 1);
	show("WNOWAIT", P_PID, c, WEXITED | WNOWAIT, c);
	show("again after WNOWAIT", P_ALL, 0, WEXITED | WNOWAIT, c);
	show("only stops asked", P_PID, c, WSTOPPED | WNOHANG, c);
	show("reap", P_PID, c, WEXITED, c);
	show("reaped already", P_PID, c, WEXITED, c);

	/* Killed child, chosen by process group (ours, as id 0, and its own). */
	c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	kill(c, SIGKILL);
	show("P_PGID 0, killed", P_PGID, 0, WEXITED, c);
	c = fork();
	if (c == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(c, c);
	show("P_PGID of another group", P_PGID, getpgrp(), WEXITED | WNOHANG, c);
	kill(c, SIGTERM);
	show("P_PGID of its group", P_PGID, c, WEXITED, c);

	/* Stopped and continued. */
	int done[2];
	pipe(done);
	c = fork();
	if (c == 0) {
		raise(SIGSTOP);
		char b;
		read(done[0], &b, 1);
		_exit(6);
	}
	show("WSTOPPED", P_PID, c, WSTOPPED, c);
	show("stop reported once", P_PID, c, WSTOPPED | WNOHANG, c);
	kill(c, SIGSTOP);
	kill(c, SIGCONT);
	show("WCONTINUED|WNOWAIT", P_PID, c, WCONTINUED | WNOWAIT, c);
	show("WCONTINUED", P_PID, c, WCONTINUED, c);
	show("continue reported once", P_PID, c, WCONTINUED | WNOHANG, c);
	write(done[1], "x", 1);
	show("exit", P_PID, c, WEXITED, c);
	return 0;
}
