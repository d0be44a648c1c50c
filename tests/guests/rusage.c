/* getrusage and wait4's rusage: the calling thread, the process and its
 * reaped children; errors. A child that makes many system calls uses CPU
 * time on every platform (on ptrace the guest's own user time is not
 * counted, so nothing here depends on it). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static double cpu(const struct rusage *r)
{
	return r->ru_utime.tv_sec + r->ru_utime.tv_usec / 1e6 + r->ru_stime.tv_sec +
	       r->ru_stime.tv_usec / 1e6;
}

static void busy_child(int calls)
{
	for (int i = 0; i < calls; i++)
		syscall(SYS_getppid);
}

int main(void)
{
	struct rusage self, thread, children, reaped;
	printf("RUSAGE_SELF: %s\n", getrusage(RUSAGE_SELF, &self) ? errname(errno) : "ok");
	printf("RUSAGE_THREAD: %s\n", getrusage(RUSAGE_THREAD, &thread) ? errname(errno) : "ok");
	printf("RUSAGE_CHILDREN: %s\n",
	       getrusage(RUSAGE_CHILDREN, &children) ? errname(errno) : "ok");
	printf("who 5: %s\n", getrusage(5, &self) ? errname(errno) : "ok");
	printf("bad pointer: %s\n", getrusage(RUSAGE_SELF, (void *)8) ? errname(errno) : "ok");
	getrusage(RUSAGE_SELF, &self);
	printf("resident set > 0: %s\n", self.ru_maxrss > 0 ? "yes" : "no");
	printf("no children reaped yet, no children time: %s\n", cpu(&children) == 0 ? "yes" : "no");

	pid_t child = fork();
	if (child == 0) {
		busy_child(20000);
		_exit(0);
	}
	int status;
	pid_t got = wait4(child, &status, 0, &reaped);
	printf("wait4 reaped the child: %s, its CPU time > 0: %s\n", got == child ? "yes" : "no",
	       cpu(&reaped) > 0 ? "yes" : "no");
	getrusage(RUSAGE_CHILDREN, &children);
	printf("RUSAGE_CHILDREN now counts it: %s\n",
	       cpu(&children) >= cpu(&reaped) && cpu(&children) > 0 ? "yes" : "no");

	/* A grandchild reaped by the child counts for the child's parent too. */
	struct rusage before;
	getrusage(RUSAGE_CHILDREN, &before);
	child = fork();
	if (child == 0) {
		pid_t grandchild = fork();
		if (grandchild == 0) {
			busy_child(20000);
			_exit(0);
		}
		waitpid(grandchild, NULL, 0);
		_exit(0);
	}
	siginfo_t si;
	struct rusage via_waitid;
	long r = syscall(SYS_waitid, P_PID, child, &si, WEXITED, &via_waitid);
	getrusage(RUSAGE_CHILDREN, &children);
	printf("waitid: %s, its rusage has the grandchild's time: %s, children total grew: %s\n",
	       r == 0 ? "ok" : errname(errno), cpu(&via_waitid) > 0 ? "yes" : "no",
	       cpu(&children) > cpu(&before) ? "yes" : "no");
	return 0;
}
