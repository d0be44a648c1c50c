/* Raw calls for the sched_* family: musl's wrappers refuse them. Nice values and scheduling policies: getpriority/setpriority for a
 * thread, a process group and a user; sched_* policies and parameters,
 * their ranges and errors; what fork and threads inherit; affinity. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
}

/* The raw call returns 20 - nice. */
static long raw_getpriority(int which, int who)
{
	return syscall(SYS_getpriority, which, who);
}

static long getsched(pid_t pid)
{
	return syscall(SYS_sched_getscheduler, pid);
}

static long setsched(pid_t pid, int policy, struct sched_param *p)
{
	return syscall(SYS_sched_setscheduler, pid, policy, p);
}

static void *thread_main(void *arg)
{
	(void)arg;
	report("new thread inherits nice (raw 20-nice)", raw_getpriority(PRIO_PROCESS, 0));
	report("thread sets its own nice 7", setpriority(PRIO_PROCESS, gettid(), 7));
	report("thread's nice (raw)", raw_getpriority(PRIO_PROCESS, 0));
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	report("initial nice (raw 20-nice)", raw_getpriority(PRIO_PROCESS, 0));
	report("set nice 5", setpriority(PRIO_PROCESS, 0, 5));
	report("nice now (raw)", raw_getpriority(PRIO_PROCESS, 0));
	report("set nice 100 (clamped to 19)", setpriority(PRIO_PROCESS, 0, 100));
	report("nice now (raw)", raw_getpriority(PRIO_PROCESS, 0));
	report("back to 5", setpriority(PRIO_PROCESS, 0, 5));
	report("which 7", raw_getpriority(7, 0));
	report("no such pid", raw_getpriority(PRIO_PROCESS, 999999));
	setpgid(0, 0);
	report("my own process group (raw)", raw_getpriority(PRIO_PGRP, 0));
	report("my user (raw, most favoured of all)", raw_getpriority(PRIO_USER, getuid()) > 0);

	pthread_t t;
	pthread_create(&t, NULL, thread_main, NULL);
	pthread_join(t, NULL);
	report("main thread unchanged by the thread (raw)", raw_getpriority(PRIO_PROCESS, 0));

	pid_t child = fork();
	if (child == 0) {
		report("child inherits nice (raw)", raw_getpriority(PRIO_PROCESS, 0));
		_exit(0);
	}
	waitpid(child, NULL, 0);

	report("policy", getsched(0));
	report("max FIFO", sched_get_priority_max(SCHED_FIFO));
	report("min RR", sched_get_priority_min(SCHED_RR));
	report("max OTHER", sched_get_priority_max(SCHED_OTHER));
	report("max of policy 4", sched_get_priority_max(4));
	struct sched_param p = { .sched_priority = 0 };
	report("SCHED_BATCH", setsched(0, SCHED_BATCH, &p));
	report("policy now", getsched(0));
	p.sched_priority = 5;
	report("SCHED_OTHER with priority 5", setsched(0, SCHED_OTHER, &p));
	report("SCHED_FIFO with priority 0", setsched(0, SCHED_FIFO, &(struct sched_param){ 0 }));
	report("policy 42", setsched(0, 42, &p));
	report("NULL param", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL));
	report("negative pid", getsched(-1));
	report("no such pid", getsched(999999));
	p.sched_priority = 0;
	report("SCHED_IDLE|SCHED_RESET_ON_FORK",
	       setsched(0, SCHED_IDLE | SCHED_RESET_ON_FORK, &p));
	report("policy with the flag", getsched(0));
	child = fork();
	if (child == 0) {
		report("child of SCHED_IDLE|RESET_ON_FORK keeps IDLE, no flag", getsched(0));
		_exit(0);
	}
	waitpid(child, NULL, 0);
	report("back to SCHED_OTHER", setsched(0, SCHED_OTHER, &p));
	report("getparam", syscall(SYS_sched_getparam, 0, &p));
	printf("priority: %d\n", p.sched_priority);
	report("getparam NULL", syscall(SYS_sched_getparam, 0, NULL));
	struct timespec ts;
	report("rr interval of SCHED_OTHER", syscall(SYS_sched_rr_get_interval, 0, &ts));
	printf("interval: %ld\n", ts.tv_sec * 1000000000L + ts.tv_nsec);

	cpu_set_t set;
	CPU_ZERO(&set);
	report("affinity with no CPU", sched_setaffinity(0, sizeof set, &set));
	CPU_SET(0, &set);
	report("affinity CPU 0", sched_setaffinity(0, sizeof set, &set));
	CPU_ZERO(&set);
	report("getaffinity", sched_getaffinity(0, sizeof set, &set));
	printf("CPUs now: %d, CPU 0: %s\n", CPU_COUNT(&set), CPU_ISSET(0, &set) ? "yes" : "no");
	return 0;
}
