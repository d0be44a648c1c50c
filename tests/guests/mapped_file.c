/* MAP_SHARED mappings of a regular file are the file: stores through them
 * reach read(), other mappings (after fork or mapped independently, in
 * this or another process) and the file after munmap; write() reaches
 * them; a page wholly past the end of the file raises SIGBUS. MAP_PRIVATE
 * shows the file but keeps its stores. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define RW (PROT_READ | PROT_WRITE)

static sigjmp_buf jump;
static volatile int bus_code;

static void on_bus(int sig, siginfo_t *si, void *ctx) {
	(void)sig;
	(void)ctx;
	bus_code = si->si_code;
	siglongjmp(jump, 1);
}

static void show(const char *what, int ok) {
	printf("%s: %s\n", what, ok ? "yes" : "no");
}

static int child_status(pid_t child) {
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* A file unlinked while mapped keeps its pages for the mapping and for a
 * forked child's. */
static void unlinked_while_mapped(const char *path) {
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, PAGE) != 0)
		return;
	char *m = mmap(NULL, PAGE, RW, MAP_SHARED, fd, 0);
	close(fd);
	unlink(path);
	if (m == MAP_FAILED)
		return;
	strcpy(m, "still here");
	pid_t child = fork();
	if (child == 0)
		_exit(strcmp(m, "still here") == 0 ? 0 : 1);
	show("an unlinked file's mapping keeps its data", child_status(child) == 0 && strcmp(m, "still here") == 0);
	munmap(m, PAGE);
}

/* `mapped_file host FILE`: a shared writable mapping of a file of the
 * read-only host tree: the sandbox copies it up, so the store is the
 * guest's file's and never the host's. */
static int host_file(const char *name) {
	int fd = open(name, O_RDWR);
	if (fd < 0)
		return 1;
	char *m = mmap(NULL, PAGE, RW, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 2;
	printf("mapped: %.9s\n", m);
	memcpy(m, "GUEST", 5);
	char buf[10] = {0};
	pread(fd, buf, 9, 0);
	printf("read back: %s\n", buf);
	int ro = open(name, O_RDONLY);
	char *r = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
	if (r == MAP_FAILED)
		return 3;
	printf("read-only mapping: %.9s\n", r);
	printf("mprotect to writable: %s\n", mprotect(r, PAGE, RW) == 0 ? "allowed" : "refused");
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "host") == 0)
		return host_file(argv[2]);
	char path[64];
	snprintf(path, sizeof path, "/tmp/mapped_file.%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 2 * PAGE) != 0)
		return 1;
	char *m = mmap(NULL, 2 * PAGE, RW, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 2;
	char buf[64] = {0};

	memcpy(m, "stored through the mapping", 26);
	memcpy(m + PAGE + 100, "second page", 11);
	show("read() sees the mapping's store", read(fd, buf, 26) == 26 && memcmp(buf, "stored through the mapping", 26) == 0);
	show("pread() sees the second page", pread(fd, buf, 11, PAGE + 100) == 11 && memcmp(buf, "second page", 11) == 0);

	pid_t child = fork();
	if (child == 0) {
		int saw = memcmp(m, "stored", 6) == 0;
		memcpy(m + 50, "child", 5);
		_exit(saw ? 0 : 1);
	}
	int status = child_status(child);
	show("the child sees the parent's stores", status == 0);
	show("the parent sees the child's store", memcmp(m + 50, "child", 5) == 0);

	int fd2 = open(path, O_RDWR);
	char *m2 = mmap(NULL, PAGE, RW, MAP_SHARED, fd2, PAGE);
	if (m2 == MAP_FAILED)
		return 3;
	show("a second mapping sees the first's stores", memcmp(m2 + 100, "second page", 11) == 0);
	m2[200] = 'Z';
	show("the first sees the second's", m[PAGE + 200] == 'Z');

	child = fork();
	if (child == 0) {
		int f = open(path, O_RDWR);
		char *c = mmap(NULL, PAGE, RW, MAP_SHARED, f, 0);
		if (c == MAP_FAILED)
			_exit(1);
		memcpy(c + 300, "independent", 11);
		_exit(0);
	}
	status = child_status(child);
	show("a child's own mapping's store is seen", status == 0 && memcmp(m + 300, "independent", 11) == 0);

	pwrite(fd, "pwritten", 8, 400);
	lseek(fd, 500, SEEK_SET);
	write(fd, "written", 7);
	show("pwrite() is seen through the mapping", memcmp(m + 400, "pwritten", 8) == 0);
	show("write() is seen through the mapping", memcmp(m + 500, "written", 7) == 0);

	char *p = mmap(NULL, PAGE, RW, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return 4;
	show("a private mapping shows the file", memcmp(p, "stored", 6) == 0);
	p[0] = 'X';
	show("a private store stays private", m[0] == 's' && p[0] == 'X');
	show("msync succeeds", msync(m, 2 * PAGE, MS_SYNC) == 0);

	struct sigaction sa = {.sa_sigaction = on_bus, .sa_flags = SA_SIGINFO};
	sigaction(SIGBUS, &sa, NULL);
	char *big = mmap(NULL, 3 * PAGE, RW, MAP_SHARED, fd, 0);
	if (big == MAP_FAILED)
		return 5;
	if (sigsetjmp(jump, 1) == 0) {
		volatile char c = big[2 * PAGE + 5];
		(void)c;
		printf("read past the end: no signal\n");
	} else {
		printf("read past the end: SIGBUS code %d\n", bus_code);
	}
	if (sigsetjmp(jump, 1) == 0) {
		big[2 * PAGE] = 1;
		printf("write past the end: no signal\n");
	} else {
		printf("write past the end: SIGBUS code %d\n", bus_code);
	}
	show("read() of the pages past the end fails with EFAULT", pread(fd, big + 2 * PAGE, 16, 0) == -1);

	ftruncate(fd, PAGE + 10);
	show("a shrunk file's last page reads zero past its end", m[PAGE + 100] == 0 && m[PAGE + 200] == 0);
	ftruncate(fd, 2 * PAGE);

	munmap(m, 2 * PAGE);
	munmap(m2, PAGE);
	munmap(p, PAGE);
	munmap(big, 3 * PAGE);
	close(fd);
	close(fd2);
	fd = open(path, O_RDONLY);
	memset(buf, 0, sizeof buf);
	show("the file keeps the stores after munmap", pread(fd, buf, 26, 0) == 26 && memcmp(buf, "stored through the mapping", 26) == 0 && pread(fd, buf, 5, 50) == 5 && memcmp(buf, "child", 5) == 0 && pread(fd, buf, 11, 300) == 11 && memcmp(buf, "independent", 11) == 0);
	close(fd);
	unlink(path);

	unlinked_while_mapped(path);
	printf("done\n");
	return 0;
}
