/* Changing user and group ids in forked children: setuid, setreuid,
 * setresuid, setfsuid and their group forms, the saved-id rules, what
 * /proc/self/status shows, and the owner of a file created after
 * setfsuid. Run as root, every change is allowed; otherwise the same
 * calls give EPERM, natively and in the sandbox alike. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static void show(const char *what, long r)
{
	uid_t u[3];
	gid_t g[3];
	getresuid(&u[0], &u[1], &u[2]);
	getresgid(&g[0], &g[1], &g[2]);
	printf("%s: %s; uids %u %u %u, gids %u %u %u\n", what, r < 0 ? errname(errno) : "ok", u[0],
	       u[1], u[2], g[0], g[1], g[2]);
}

static void status_line(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, strlen(key)) == 0)
			printf("status %s", line);
	if (f)
		fclose(f);
}

static void in_child(void (*body)(void))
{
	pid_t p = fork();
	if (p == 0) {
		body();
		fflush(stdout);
		_exit(0);
	}
	waitpid(p, NULL, 0);
}

static void users(void)
{
	show("setresuid(1000, 2000, 0)", setresuid(1000, 2000, 0));
	status_line("Uid:");
	show("setuid(0) back to the saved id", setuid(0));
	show("setuid(1000) with euid 0", setuid(1000));
	show("setuid(0) after giving all up", setuid(0));
	show("setresuid(-1, 1000, -1)", setresuid(-1, 1000, -1));
	show("seteuid(5)", seteuid(5));
}

static void swaps(void)
{
	show("setreuid(1000, 0)", setreuid(1000, 0));
	show("setreuid(-1, 1000) to the real id", setreuid(-1, 1000));
	show("setreuid(-1, 0) back to the saved id", setreuid(-1, 0));
	show("setreuid(7, 7)", setreuid(7, 7));
	show("setreuid(-1, 0) now", setreuid(-1, 0));
}

static void fs_ids(void)
{
	printf("setfsuid(1234) returns the old: %d\n", setfsuid(1234));
	printf("setfsuid(-1) returns the current: %d\n", setfsuid(-1));
	printf("setfsgid(4321) returns the old: %d\n", setfsgid(4321));
	status_line("Uid:");
	status_line("Gid:");
	char path[] = "/tmp/creds-XXXXXX";
	int fd = mkstemp(path);
	struct stat st;
	fstat(fd, &st);
	printf("file made after setfsuid: owner %u group %u\n", st.st_uid, st.st_gid);
	unlink(path);
}

static void groups(void)
{
	show("setresgid(100, 200, 300)", setresgid(100, 200, 300));
	show("setgid(300)", setgid(300));
	show("setregid(-1, 100)", setregid(-1, 100));
	show("setuid(1000), then", setuid(1000));
	show("setgid(0) without root", setgid(0));
	show("setgid(-1)", setgid(-1));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	show("start", 0);
	in_child(users);
	in_child(swaps);
	in_child(fs_ids);
	in_child(groups);
	show("parent unchanged", 0);
	return 0;
}
