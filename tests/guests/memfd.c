/* memfd_create: write and read back, ftruncate, fstat, the fd link's text,
 * reopening through /proc/self/fd, a MAP_SHARED mapping seen by read and
 * by a forked child, MAP_PRIVATE copies, and seals: each one's effect and
 * errno, EPERM without MFD_ALLOW_SEALING, EBUSY for F_SEAL_WRITE while a
 * writable shared mapping exists; bad flags, names and pointers. Prints
 * no addresses or pids. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x1U
#define MFD_ALLOW_SEALING 0x2U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x8U
#define MFD_EXEC 0x10U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x1
#define F_SEAL_SHRINK 0x2
#define F_SEAL_GROW 0x4
#define F_SEAL_WRITE 0x8
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x10
#endif

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
	fflush(stdout);
}

static int mfd(const char *name, unsigned flags)
{
	return syscall(SYS_memfd_create, name, flags);
}

static void show_link(const char *what, int fd)
{
	char link[64], target[512];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	target[n > 0 ? n : 0] = 0;
	printf("%s: %s\n", what, n > 0 ? target : errname(errno));
}

static int reopen(int fd, int flags)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	return open(link, flags);
}

/* A copy of this program in a memfd, run through its fd link as fexecve
 * does. */
static void exec_from_memfd(void)
{
	int exe = mfd("exe", MFD_CLOEXEC);
	int self = open("/proc/self/exe", O_RDONLY);
	char chunk[65536];
	ssize_t n;
	while ((n = read(self, chunk, sizeof chunk)) > 0)
		write(exe, chunk, n);
	close(self);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", exe);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { "memfd", "from-memfd", NULL };
		char *envp[] = { NULL };
		execve(path, argv, envp);
		printf("execve from memfd: %s\n", errname(errno));
		_exit(1);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("memfd program exit: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	close(exe);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "from-memfd") == 0) {
		printf("running from a memfd\n");
		return 7;
	}
	/* Plain use. */
	int fd = mfd("test", MFD_CLOEXEC);
	report("memfd_create", fd >= 0 ? 0 : -1);
	printf("cloexec: %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	printf("access mode O_RDWR: %d\n", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
	show_link("link", fd);
	report("write", write(fd, "hello memfd", 11));
	report("lseek", lseek(fd, 6, SEEK_SET));
	char buf[64] = { 0 };
	report("read", read(fd, buf, sizeof buf - 1));
	printf("read back: %s\n", buf);
	struct stat st;
	fstat(fd, &st);
	printf("fstat: reg %d mode %04o size %ld nlink %ld\n", S_ISREG(st.st_mode),
	       (unsigned)(st.st_mode & 07777), (long)st.st_size, (long)st.st_nlink);
	report("ftruncate 5", ftruncate(fd, 5));
	report("ftruncate 8192", ftruncate(fd, 8192));
	fstat(fd, &st);
	printf("size after ftruncate: %ld\n", (long)st.st_size);
	memset(buf, 0, sizeof buf);
	report("pread past old end", pread(fd, buf, 8, 3));
	printf("bytes: %d %d %d\n", buf[0], buf[1], buf[2]);

	/* A second description through the fd link. */
	int again = reopen(fd, O_RDWR);
	report("reopen via /proc/self/fd", again >= 0 ? 0 : -1);
	struct stat st2;
	fstat(again, &st2);
	printf("same inode: %d\n", st.st_ino == st2.st_ino);
	printf("own offset: %ld\n", (long)lseek(again, 0, SEEK_CUR));
	report("write via reopened", pwrite(again, "HE", 2, 0));
	memset(buf, 0, sizeof buf);
	pread(fd, buf, 5, 0);
	printf("seen through the first: %s\n", buf);
	close(again);

	/* Mappings. */
	char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	report("mmap shared", shared == MAP_FAILED ? -1 : 0);
	memcpy(shared + 100, "via map", 7);
	memset(buf, 0, sizeof buf);
	pread(fd, buf, 7, 100);
	printf("read sees the mapping: %s\n", buf);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		memcpy(shared + 200, "from child", 10);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	memset(buf, 0, sizeof buf);
	pread(fd, buf, 10, 200);
	printf("child's store in the file: %s\n", buf);
	char *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	priv[0] = 'p';
	memset(buf, 0, sizeof buf);
	pread(fd, buf, 2, 0);
	printf("private store stays private: %s %c\n", buf, priv[1]);
	munmap(priv, 4096);

	/* No sealing without MFD_ALLOW_SEALING. */
	report("F_GET_SEALS (no ALLOW_SEALING)", fcntl(fd, F_GET_SEALS));
	report("F_ADD_SEALS (no ALLOW_SEALING)", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	int p[2];
	pipe(p);
	report("F_GET_SEALS on a pipe", fcntl(p[0], F_GET_SEALS));
	close(p[0]);
	close(p[1]);

	/* Seals. */
	int s = mfd("sealed", MFD_ALLOW_SEALING);
	report("F_GET_SEALS (ALLOW_SEALING)", fcntl(s, F_GET_SEALS));
	write(s, "0123456789", 10);
	report("add unknown seal", fcntl(s, F_ADD_SEALS, 0x100));
	int ro = reopen(s, O_RDONLY);
	report("add via read-only fd", fcntl(ro, F_ADD_SEALS, F_SEAL_GROW));
	close(ro);
	report("add SHRINK", fcntl(s, F_ADD_SEALS, F_SEAL_SHRINK));
	report("shrink", ftruncate(s, 5));
	report("grow (SHRINK only)", ftruncate(s, 20));
	report("add GROW", fcntl(s, F_ADD_SEALS, F_SEAL_GROW));
	report("grow", ftruncate(s, 30));
	report("same size", ftruncate(s, 20));
	report("write within", pwrite(s, "ab", 2, 0));
	report("write past end", pwrite(s, "ab", 2, 19));
	lseek(s, 0, SEEK_END);
	report("append", write(s, "x", 1));
	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	report("add WRITE while mapped writable", fcntl(s, F_ADD_SEALS, F_SEAL_WRITE));
	m[0] = 'M';
	munmap(m, 4096);
	report("add WRITE after munmap", fcntl(s, F_ADD_SEALS, F_SEAL_WRITE));
	report("write (WRITE)", pwrite(s, "z", 1, 0));
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	report("mmap shared writable (WRITE)", m == MAP_FAILED ? -1 : 0);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, s, 0);
	report("mmap shared read-only (WRITE)", m == MAP_FAILED ? -1 : 0);
	printf("mapped byte: %c\n", m[0]);
	report("mprotect it writable", mprotect(m, 4096, PROT_READ | PROT_WRITE));
	munmap(m, 4096);
	char *pm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, s, 0);
	report("mmap private writable (WRITE)", pm == MAP_FAILED ? -1 : 0);
	report("add SEAL", fcntl(s, F_ADD_SEALS, F_SEAL_SEAL));
	report("F_GET_SEALS", fcntl(s, F_GET_SEALS));
	report("add after SEAL", fcntl(s, F_ADD_SEALS, F_SEAL_SHRINK));

	/* F_SEAL_FUTURE_WRITE keeps existing writable mappings working. */
	int f = mfd("future", MFD_ALLOW_SEALING);
	ftruncate(f, 4096);
	char *fm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	report("add FUTURE_WRITE while mapped", fcntl(f, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	fm[0] = 'F';
	memset(buf, 0, sizeof buf);
	pread(f, buf, 1, 0);
	printf("old mapping still writes: %s\n", buf);
	report("write (FUTURE_WRITE)", write(f, "x", 1));
	report("mmap writable (FUTURE_WRITE)",
	       mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0) == MAP_FAILED ? -1 : 0);
	report("ftruncate (FUTURE_WRITE)", ftruncate(f, 100));

	/* MFD_NOEXEC_SEAL and MFD_EXEC. */
	int nx = mfd("nx", MFD_NOEXEC_SEAL);
	fstat(nx, &st);
	printf("NOEXEC_SEAL mode: %04o\n", (unsigned)(st.st_mode & 07777));
	report("NOEXEC_SEAL seals", fcntl(nx, F_GET_SEALS));
	int ex = mfd("ex", MFD_EXEC);
	fstat(ex, &st);
	printf("EXEC mode: %04o\n", (unsigned)(st.st_mode & 07777));

	/* Bad input. */
	report("unknown flag", mfd("x", 0x100));
	report("EXEC|NOEXEC_SEAL", mfd("x", MFD_EXEC | MFD_NOEXEC_SEAL));
	char name[300];
	memset(name, 'n', sizeof name);
	name[249] = 0;
	int ok = mfd(name, 0);
	report("249-byte name", ok >= 0 ? 0 : -1);
	show_link("long link", ok);
	name[249] = 'n';
	name[250] = 0;
	report("250-byte name", mfd(name, 0));
	report("bad name pointer", mfd((const char *)8, 0));
	report("empty name", mfd("", 0) >= 0 ? 0 : -1);

	exec_from_memfd();
	return 0;
}
