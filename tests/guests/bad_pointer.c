/*
 * Hands system calls pointers they must not follow: unmapped, PROT_NONE,
 * read-only (as a destination), kernel-half, and strings that run into an
 * unmapped page. The kernel answers EFAULT (or ENAMETOOLONG for an overlong
 * path) and the program carries on; a sandbox must answer the same and must
 * neither crash nor kill the guest.
 *
 * Every call is made with syscall(2) so no libc wrapper checks or copies
 * the arguments first.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

#define PAGE 4096

static void report(const char *what, long ret)
{
	printf("%-44s %ld %s\n", what, ret, errname(ret < 0 ? errno : 0));
}

int main(void)
{
	/* Page 0: read-write, 1: PROT_NONE, 2: read-only, 3: unmapped. */
	char *area = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *rw, *ro, *none, *unmapped;
	void *kernel = (void *)0xffff880000000000ul;
	void *low = (void *)1;
	int pipefd[2];
	char longpath[5000];
	struct iovec bad_iov;

	if (area == MAP_FAILED)
		return 1;
	rw = area;
	none = area + PAGE;
	ro = area + 2 * PAGE;
	unmapped = area + 3 * PAGE;
	if (mprotect(ro, PAGE, PROT_READ) || mprotect(none, PAGE, PROT_NONE) ||
	    munmap(unmapped, PAGE))
		return 1;
	if (pipe(pipefd))
		return 1;

	/* Sources that cannot be read. */
	report("write from address 1", syscall(SYS_write, pipefd[1], low, 8));
	report("write from a PROT_NONE page", syscall(SYS_write, pipefd[1], none, 8));
	report("write from an unmapped page", syscall(SYS_write, pipefd[1], unmapped, 8));
	report("write from a kernel address", syscall(SYS_write, pipefd[1], kernel, 8));
	report("write of 0 bytes from NULL", syscall(SYS_write, pipefd[1], NULL, 0));
	bad_iov.iov_base = unmapped;
	bad_iov.iov_len = 8;
	report("writev with an unmapped iov_base", syscall(SYS_writev, pipefd[1], &bad_iov, 1));
	report("writev with an unmapped iovec array", syscall(SYS_writev, pipefd[1], unmapped, 1));

	/* Destinations that cannot be written; the pipe has data waiting. */
	if (write(pipefd[1], "12345678", 8) != 8)
		return 1;
	report("read into address 1", syscall(SYS_read, pipefd[0], low, 8));
	report("read into a read-only page", syscall(SYS_read, pipefd[0], ro, 8));
	report("read into a PROT_NONE page", syscall(SYS_read, pipefd[0], none, 8));
	report("read into a kernel address", syscall(SYS_read, pipefd[0], kernel, 8));
	report("read of 0 bytes into NULL", syscall(SYS_read, pipefd[0], NULL, 0));
	report("read into a good buffer afterwards", syscall(SYS_read, pipefd[0], rw, 8));
	printf("the data survived the failed reads: %s\n",
	       memcmp(rw, "12345678", 8) == 0 ? "yes" : "no");

	/* Path arguments. */
	report("open of path at address 1", syscall(SYS_open, low, O_RDONLY));
	report("openat of path on a PROT_NONE page",
	       syscall(SYS_openat, AT_FDCWD, none, O_RDONLY));
	memset(none - 100, 'a', 100); /* no NUL before the PROT_NONE page */
	report("open of path running into PROT_NONE", syscall(SYS_open, none - 100, O_RDONLY));
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	report("open of a 4999-byte path", syscall(SYS_open, longpath, O_RDONLY));
	report("stat of path at address 1", syscall(SYS_stat, low, rw));
	report("stat into a read-only page", syscall(SYS_stat, "/", ro));
	report("newfstatat into an unmapped page",
	       syscall(SYS_newfstatat, AT_FDCWD, "/", unmapped, 0));
	report("fstat into a kernel address", syscall(SYS_fstat, pipefd[0], kernel));

	/* Other output structures. */
	report("uname into a read-only page", syscall(SYS_uname, ro));
	report("getcwd into a PROT_NONE page", syscall(SYS_getcwd, none, 4096));
	report("clock_gettime into address 1", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, low));
	report("pipe into a read-only page", syscall(SYS_pipe, ro));

	printf("survived\n");
	return 0;
}
