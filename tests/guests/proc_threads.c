/* /proc of threads and of another process: /proc/self/task lists the
 * threads, each with its own stat, status and comm; Threads: counts them;
 * /proc/thread-self names the caller; a child's stat and status show its
 * parent, group, session, name and state (sleeping, stopped, zombie) and
 * its directory goes once it is reaped. Pids are printed only as relations
 * ("is mine"), so the output is the same natively and in the sandbox. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#define WORKERS 3

static pthread_barrier_t started, finish;

static const char *yes(int ok)
{
	return ok ? "yes" : "NO";
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The whole of a small file, or "" with the error printed. */
static char *slurp(const char *path)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n = 0, r;
	buf[0] = 0;
	if (fd < 0) {
		printf("open /proc/...%s: %s\n", strrchr(path, '/'), errname(errno));
		return buf;
	}
	while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += r;
	buf[n] = 0;
	close(fd);
	return buf;
}

/* Field `n` (1-based) of a stat line, counted after the name's ')'. */
static long stat_field(const char *stat, int n)
{
	const char *p = strrchr(stat, ')');
	if (!p || n < 3)
		return -1;
	p += 2;
	for (int i = 3; i < n; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return n == 3 ? *p : strtol(p, NULL, 10);
}

/* The value after "Key:\t" in a status text. */
static long status_field(const char *status, const char *key)
{
	char want[64];
	snprintf(want, sizeof want, "\n%s:\t", key);
	const char *p = strstr(status, want);
	return p ? strtol(p + strlen(want), NULL, 10) : -1;
}

static void *worker(void *arg)
{
	char name[16];
	snprintf(name, sizeof name, "worker-%ld", (long)arg);
	prctl(PR_SET_NAME, name);
	char link[64], want[64];
	ssize_t n = readlink("/proc/thread-self", link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof want, "%d/task/%d", getpid(), gettid_());
	if (arg == 0)
		printf("thread-self in a thread names it: %s\n", yes(strcmp(link, want) == 0));
	pthread_barrier_wait(&started);
	pthread_barrier_wait(&finish);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Names and (sorted) states of the threads in /proc/self/task. */
static int list_tasks(char names[][16], char *states, int cap)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	char path[128];
	while (d && (e = readdir(d)) && n < cap) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		snprintf(names[n], 16, "%s", slurp(path));
		names[n][strcspn(names[n], "\n")] = 0;
		snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
		char *stat = slurp(path);
		states[n] = (char)stat_field(stat, 3);
		if (atoi(e->d_name) != atoi(stat))
			printf("task %s: stat names another pid\n", names[n]);
		snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
		char *status = slurp(path);
		if (status_field(status, "Pid") != atoi(e->d_name) ||
		    status_field(status, "Tgid") != getpid())
			printf("task %s: status Pid/Tgid wrong\n", names[n]);
		n++;
	}
	if (d)
		closedir(d);
	states[n] = 0;
	return n;
}

static void threads(void)
{
	pthread_t t[WORKERS];
	pthread_barrier_init(&started, NULL, WORKERS + 1);
	pthread_barrier_init(&finish, NULL, WORKERS + 1);
	for (long i = 0; i < WORKERS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	pthread_barrier_wait(&started);

	char names[16][16], states[17];
	int n = 0;
	/* Wait (briefly) until the workers sleep in the barrier. */
	for (int tries = 0; tries < 2000; tries++) {
		n = list_tasks(names, states, 16);
		if (strchr(states, 'R') == strrchr(states, 'R'))
			break;
		usleep(1000);
	}
	qsort(names, n, sizeof names[0], cmp);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (states[j] < states[i]) {
				char c = states[i];
				states[i] = states[j];
				states[j] = c;
			}
	printf("/proc/self/task: %d threads:", n);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("; states %s\n", states);
	printf("Threads: %ld\n", status_field(slurp("/proc/self/status"), "Threads"));
	printf("stat num_threads: %ld\n", stat_field(slurp("/proc/self/stat"), 20));

	char link[64], want[64];
	ssize_t len = readlink("/proc/thread-self", link, sizeof link - 1);
	link[len > 0 ? len : 0] = 0;
	snprintf(want, sizeof want, "%d/task/%d", getpid(), getpid());
	printf("thread-self in main names it: %s\n", yes(strcmp(link, want) == 0));

	pthread_barrier_wait(&finish);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	n = list_tasks(names, states, 16);
	printf("after join: %d task, Threads: %ld\n", n,
	       status_field(slurp("/proc/self/status"), "Threads"));
}

/* The child's state letter, once it is no longer `R` (or after 2 s). */
static char child_state(const char *path)
{
	char s = 0;
	for (int tries = 0; tries < 2000; tries++) {
		s = (char)stat_field(slurp(path), 3);
		if (s != 'R')
			break;
		usleep(1000);
	}
	return s;
}

static void child_process(void)
{
	int ready[2];
	pipe(ready);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_NAME, "kid");
		write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	setpgid(pid, pid);
	char c;
	read(ready[0], &c, 1);

	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	char state = child_state(path);
	char *stat = slurp(path);
	printf("child stat: pid %s, comm %s, ppid is me: %s, pgrp its own: %s, "
	       "session mine: %s, tty_nr %ld, threads %ld, state %c\n",
	       yes(atoi(stat) == pid), strstr(stat, "(kid)") ? "kid" : "?",
	       yes(stat_field(stat, 4) == getpid()), yes(stat_field(stat, 5) == pid),
	       yes(stat_field(stat, 6) == getsid(0)), stat_field(stat, 7),
	       stat_field(stat, 20), state);

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	char *status = slurp(path);
	printf("child status: Name kid: %s, PPid is me: %s, NSpgid its own: %s, "
	       "NSsid mine: %s, Threads %ld\n",
	       yes(strstr(status, "Name:\tkid\n") != NULL),
	       yes(status_field(status, "PPid") == getpid()),
	       yes(status_field(status, "NSpgid") == pid),
	       yes(status_field(status, "NSsid") == getsid(0)),
	       status_field(status, "Threads"));

	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	printf("child comm: %s", slurp(path));
	static char mine[4096];
	snprintf(mine, sizeof mine, "%s", slurp("/proc/self/cmdline"));
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	printf("child cmdline is mine: %s\n", yes(strcmp(slurp(path), mine) == 0 && mine[0]));

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	kill(pid, SIGSTOP);
	int st;
	waitpid(pid, &st, WUNTRACED);
	printf("stopped child state %c\n", (char)stat_field(slurp(path), 3));
	kill(pid, SIGKILL);
	siginfo_t si;
	waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
	printf("killed child, not reaped: state %c, comm %s", (char)stat_field(slurp(path), 3),
	       strstr(slurp(path), "(kid)") ? "kid\n" : "?\n");
	waitpid(pid, &st, 0);
	printf("reaped child: /proc/PID is %s\n",
	       access(path, F_OK) == 0 ? "still there" : errname(errno));
}

int main(void)
{
	threads();
	child_process();
	return 0;
}
