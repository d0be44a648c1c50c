/* The first thread leaves with pthread_exit while another runs: Linux
 * keeps it as a zombie thread (/proc/PID/task/PID stays, state Z), the
 * process's own /proc entries stay, and the parent can reap the process
 * only once its last thread has exited, with the leader's status. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int to_parent[2], to_worker[2];
static pid_t leader;

/* The state letter of a stat file, '?' if unreadable. */
static char state_of(const char *path)
{
	char buf[1024];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* The value of field `name` in a status file, "" if missing. */
static const char *status_field(const char *path, const char *name)
{
	static char buf[4096];
	static char val[64];
	int fd = open(path, O_RDONLY);
	val[0] = 0;
	if (fd < 0)
		return val;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return val;
	buf[n] = 0;
	size_t len = strlen(name);
	for (char *line = buf; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			char *v = line + len + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t k = strcspn(v, "\n");
			if (k >= sizeof val)
				k = sizeof val - 1;
			memcpy(val, v, k);
			val[k] = 0;
			break;
		}
	}
	return val;
}

static void *worker(void *arg)
{
	(void)arg;
	char path[128];
	/* Wait until the leader has gone: its task entry turns Z. */
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", leader);
	for (int i = 0; i < 2000 && state_of(path) != 'Z'; i++)
		usleep(1000);
	int tasks = 0, leader_listed = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		tasks++;
		leader_listed |= atoi(e->d_name) == leader;
	}
	if (d)
		closedir(d);
	printf("task dir: %d entries, leader listed: %s\n", tasks, leader_listed ? "yes" : "no");
	printf("leader task state: %c\n", state_of(path));
	printf("process state: %c\n", state_of("/proc/self/stat"));
	printf("status State: %s\n", status_field("/proc/self/status", "State"));
	printf("status Threads: %s\n", status_field("/proc/self/status", "Threads"));
	snprintf(path, sizeof path, "/proc/self/task/%ld/stat", (long)syscall(SYS_gettid));
	printf("worker task state: %c\n", state_of(path));
	fflush(stdout);
	char c = 'r';
	if (write(to_parent[1], &c, 1) != 1 || read(to_worker[0], &c, 1) != 1)
		syscall(SYS_exit, 9);
	/* The last thread leaves with a status of its own. */
	syscall(SYS_exit, 5);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe(to_parent) || pipe(to_worker))
		return 1;
	pid_t child = fork();
	if (child == 0) {
		leader = getpid();
		pthread_t t;
		if (pthread_create(&t, NULL, worker, NULL))
			_exit(2);
		pthread_exit(NULL);
	}
	char c;
	if (read(to_parent[0], &c, 1) != 1)
		return 1;
	int status;
	printf("parent: waitpid WNOHANG while a thread runs: %d\n", waitpid(child, &status, WNOHANG));
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", child);
	printf("parent: child state %c\n", state_of(path));
	if (write(to_worker[1], "x", 1) != 1)
		return 1;
	pid_t got = waitpid(child, &status, 0);
	printf("parent: reaped: %s, ", got == child ? "yes" : "no");
	if (WIFEXITED(status))
		printf("exit %d\n", WEXITSTATUS(status));
	else
		printf("signal %d\n", WTERMSIG(status));
	return 0;
}
