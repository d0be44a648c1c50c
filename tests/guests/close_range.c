/* close_range (closing, CLOSE_RANGE_CLOEXEC, CLOSE_RANGE_UNSHARE, errors),
 * the sync family (sync, syncfs, sync_file_range) and fallocate. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errname.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static const char *state(int fd)
{
	int flags = fcntl(fd, F_GETFD);
	if (flags < 0)
		return "closed";
	return flags & FD_CLOEXEC ? "cloexec" : "open";
}

static void report(const char *what, long r)
{
	printf("%s: %s\n", what, r < 0 ? errname(errno) : "ok");
}

int main(void)
{
	for (int fd = 10; fd < 20; fd++)
		dup2(0, fd);
	report("close 12..14", syscall(SYS_close_range, 12, 14, 0));
	printf("11 %s, 12 %s, 14 %s, 15 %s\n", state(11), state(12), state(14), state(15));
	report("cloexec 15..16", syscall(SYS_close_range, 15, 16, CLOSE_RANGE_CLOEXEC));
	printf("15 %s, 16 %s, 17 %s\n", state(15), state(16), state(17));
	report("first > last", syscall(SYS_close_range, 5, 4, 0));
	report("unknown flag", syscall(SYS_close_range, 10, 11, 1U << 5));
	report("unshare and close 17..~0", syscall(SYS_close_range, 17, ~0U, CLOSE_RANGE_UNSHARE));
	printf("16 %s, 17 %s, 19 %s\n", state(16), state(17), state(19));
	report("a range past every descriptor", syscall(SYS_close_range, 1U << 30, ~0U, 0));

	sync();
	printf("sync: ok\n");
	report("syncfs", syscall(SYS_syncfs, 1));
	report("syncfs bad fd", syscall(SYS_syncfs, 99));
	int p[2];
	pipe(p);
	report("sync_file_range on a pipe", syscall(SYS_sync_file_range, p[0], 0, 0, 0));
	int f = open("/proc/self/exe", O_RDONLY);
	report("sync_file_range on a file", syscall(SYS_sync_file_range, f, 0, 0, 1));
	report("sync_file_range bad flags", syscall(SYS_sync_file_range, f, 0, 0, 8));
	report("sync_file_range negative offset", syscall(SYS_sync_file_range, f, -1L, 0L, 0));

	char path[] = "/tmp/fallocate-XXXXXX";
	int fd = mkstemp(path);
	struct stat st;
	report("fallocate 0..8192", syscall(SYS_fallocate, fd, 0, 0L, 8192L));
	fstat(fd, &st);
	printf("size: %ld\n", (long)st.st_size);
	report("fallocate KEEP_SIZE past the end", syscall(SYS_fallocate, fd, 1, 8192L, 8192L));
	fstat(fd, &st);
	printf("size: %ld\n", (long)st.st_size);
	report("fallocate inside", syscall(SYS_fallocate, fd, 0, 100L, 100L));
	fstat(fd, &st);
	printf("size: %ld\n", (long)st.st_size);
	report("PUNCH_HOLE without KEEP_SIZE", syscall(SYS_fallocate, fd, 2, 0L, 10L));
	report("negative offset", syscall(SYS_fallocate, fd, 0, -1L, 10L));
	report("zero length", syscall(SYS_fallocate, fd, 0, 0L, 0L));
	report("unknown mode bit", syscall(SYS_fallocate, fd, 0x100, 0L, 10L));
	int ro = open(path, O_RDONLY);
	report("read-only descriptor", syscall(SYS_fallocate, ro, 0, 0L, 10L));
	report("pipe", syscall(SYS_fallocate, p[1], 0, 0L, 10L));
	int null = open("/dev/null", O_WRONLY);
	report("/dev/null", syscall(SYS_fallocate, null, 0, 0L, 10L));
	unlink(path);
	return 0;
}
