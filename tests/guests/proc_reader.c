/*
 * proc_reader
 *
 * Reads its own /proc/self entries and prints facts about them that are
 * the same whether it runs natively or in the sandbox: names, states,
 * whether a link points where it should, whether maps holds its stack and
 * its code, never addresses, pids of the host or inode numbers. Comparing
 * the two runs checks rvisor's procfs against the host kernel's.
 *
 * Exit status: 0 if every check held, 2 if some check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "errname.h"

static int failures;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", what, ok ? "yes" : "NO");
	if (!ok)
		failures++;
}

/* The whole of a /proc file, read in pieces of `chunk` bytes. */
static size_t slurp(const char *path, char *buf, size_t cap, size_t chunk)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;
	ssize_t n;

	if (fd < 0) {
		printf("open %s: %s\n", path, errname(errno));
		failures++;
		return 0;
	}
	while (len + chunk < cap && (n = read(fd, buf + len, chunk)) > 0)
		len += n;
	buf[len] = 0;
	close(fd);
	return len;
}

/* The line of `text` that starts with `key`, printed as is. */
static void print_line(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	if (!p) {
		printf("%s missing\n", key);
		failures++;
		return;
	}
	printf("%.*s\n", (int)strcspn(p, "\n"), p);
}

/* What a descriptor link names, reduced to its kind. */
static const char *link_kind(const char *target)
{
	if (!strncmp(target, "pipe:", 5))
		return "pipe";
	if (!strncmp(target, "socket:", 7))
		return "socket";
	if (!strcmp(target, "/dev/null"))
		return "/dev/null";
	return target[0] == '/' ? "path" : "other";
}

int main(int argc, char **argv)
{
	static char buf[1 << 16];
	char exe[PATH_MAX], real[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	size_t len;
	int local = 0;

	(void)argc;
	/* cmdline: argv, NUL after each, read one byte at a time. */
	len = slurp("/proc/self/cmdline", buf, sizeof buf, 1);
	{
		size_t want = 0;
		int same = 1;
		for (char **a = argv; *a; a++) {
			same &= !memcmp(buf + want, *a, strlen(*a) + 1);
			want += strlen(*a) + 1;
		}
		check(same && len == want, "cmdline is argv");
	}

	slurp("/proc/self/comm", buf, sizeof buf, 4096);
	printf("comm: %s", buf);

	/* exe: readlink and open both reach the program itself. */
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	check(realpath(argv[0], real) && !strcmp(exe, real), "exe is the program");
	{
		struct stat a, b;
		check(!stat("/proc/self/exe", &a) && !stat(real, &b) &&
			      a.st_size == b.st_size && S_ISREG(a.st_mode),
		      "stat through exe");
		int fd = open("/proc/self/exe", O_RDONLY);
		char magic[4] = {0};
		check(fd >= 0 && read(fd, magic, 4) == 4 && !memcmp(magic, "\177ELF", 4),
		      "open through exe");
		if (fd >= 0)
			close(fd);
	}

	/* maps: the stack holds `local`, an executable mapping of the program holds main. */
	slurp("/proc/self/maps", buf, sizeof buf, 100);
	{
		int stack = 0, code = 0, lines = 0;
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			unsigned long lo, hi;
			char perms[5];
			int name_at = 0;
			lines++;
			if (sscanf(line, "%lx-%lx %4s %*x %*x:%*x %*u %n", &lo, &hi, perms, &name_at) < 3)
				continue;
			const char *name = name_at ? line + name_at : "";
			uintptr_t l = (uintptr_t)&local, m = (uintptr_t)&main;
			if (lo <= l && l < hi && !strcmp(name, "[stack]"))
				stack = 1;
			if (lo <= m && m < hi && perms[2] == 'x' && !strcmp(name, exe))
				code = 1;
		}
		check(lines > 3, "maps has lines");
		check(stack, "maps: [stack] holds a local");
		check(code, "maps: the program's code holds main");
	}

	/* status, read in odd-sized pieces. */
	slurp("/proc/self/status", buf, sizeof buf, 7);
	print_line(buf, "Name:");
	print_line(buf, "State:");
	print_line(buf, "Threads:");
	print_line(buf, "Umask:");
	{
		char want[32];
		snprintf(want, sizeof want, "\nPid:\t%d\n", getpid());
		check(strstr(buf, want) != NULL, "status Pid is getpid");
	}

	/* stat: 52 fields, the name in parentheses. */
	slurp("/proc/self/stat", buf, sizeof buf, 4096);
	{
		char *close_paren = strrchr(buf, ')');
		int fields = 2;
		for (char *t = strtok(close_paren + 1, " \n"); t; t = strtok(NULL, " \n"))
			fields++;
		printf("stat fields: %d\n", fields);
		check(atoi(buf) == getpid(), "stat pid is getpid");
		check(!strncmp(strchr(buf, '('), "(proc_reader) R", 15), "stat name and state");
	}

	/* fd: 0-2 and a file opened now. */
	int fd = open(real, O_RDONLY);
	for (int i = 0; i <= 2; i++) {
		char link[64];
		snprintf(link, sizeof link, "/proc/self/fd/%d", i);
		n = readlink(link, target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		printf("fd %d: %s\n", i, n > 0 ? link_kind(target) : errname(errno));
	}
	{
		char link[64];
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		check(n > 0 && !strcmp(target, real), "fd link names the opened file");
		struct stat st;
		check(!lstat(link, &st) && (st.st_mode & 0777) == 0500, "fd link mode r-x------");
	}

	/* Seeking back gives the same bytes again. */
	{
		int sfd = open("/proc/self/comm", O_RDONLY);
		char a[8] = {0}, b[8] = {0};
		check(read(sfd, a, 4) == 4 && lseek(sfd, 1, SEEK_SET) == 1 && read(sfd, b, 3) == 3 &&
			      !memcmp(a + 1, b, 3),
		      "lseek in a proc file");
		close(sfd);
	}

	/* Modes, file system type, writes. */
	{
		struct stat st;
		struct statfs sf;
		stat("/proc/self/status", &st);
		printf("status mode %o\n", st.st_mode);
		stat("/proc/self/", &st);
		printf("pid dir mode %o\n", st.st_mode);
		lstat("/proc/self", &st);
		printf("self is a link: %s\n", S_ISLNK(st.st_mode) ? "yes" : "no");
		check(!statfs("/proc", &sf) && sf.f_type == 0x9fa0, "statfs says proc");
		int w = open("/proc/self/status", O_WRONLY);
		if (w < 0) {
			printf("open status for writing: %s\n", errname(errno));
		} else {
			printf("write status: %s\n", write(w, "x", 1) < 0 ? errname(errno) : "OK");
			close(w);
		}
		printf("create in /proc: %s\n",
		       open("/proc/newfile", O_CREAT | O_WRONLY, 0644) < 0 ? errname(errno) : "OK");
	}

	/* The system part. */
	{
		struct utsname u;
		uname(&u);
		slurp("/proc/sys/kernel/osrelease", buf, sizeof buf, 4096);
		buf[strcspn(buf, "\n")] = 0;
		check(!strcmp(buf, u.release), "osrelease is uname's");
		slurp("/proc/meminfo", buf, sizeof buf, 4096);
		check(!strncmp(buf, "MemTotal:", 9), "meminfo starts with MemTotal");
		slurp("/proc/cpuinfo", buf, sizeof buf, 4096);
		check(!strncmp(buf, "processor\t: 0", 13), "cpuinfo starts with processor 0");
		slurp("/proc/uptime", buf, sizeof buf, 4096);
		double up, idle;
		check(sscanf(buf, "%lf %lf", &up, &idle) == 2 && up > 0, "uptime parses");
	}

	printf("failures %d\n", failures);
	return failures ? 2 : 0;
}
