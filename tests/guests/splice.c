/* splice (file to pipe, pipe to file, pipe to pipe, offsets, non-blocking,
 * errors), tee and vmsplice. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
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

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char path[] = "/tmp/splice-XXXXXX";
	int f = mkstemp(path);
	write(f, "0123456789abcdef", 16);
	int p[2], q[2];
	pipe(p);
	pipe(q);
	loff_t off = 4;
	report("file at offset 4 into a pipe", splice(f, &off, p[1], NULL, 6, 0));
	printf("offset now %lld\n", (long long)off);
	char buf[64] = { 0 };
	report("tee the pipe into another", tee(p[0], q[1], 100, 0));
	report("read the first pipe", read(p[0], buf, sizeof buf - 1));
	printf("got %s\n", buf);
	memset(buf, 0, sizeof buf);
	report("read the tee'd copy", read(q[0], buf, sizeof buf - 1));
	printf("got %s\n", buf);

	lseek(f, 0, SEEK_SET);
	report("file at its offset into a pipe", splice(f, NULL, p[1], NULL, 3, 0));
	printf("file offset now %ld\n", (long)lseek(f, 0, SEEK_CUR));
	report("pipe into the pipe", splice(p[0], NULL, q[1], NULL, 100, 0));
	memset(buf, 0, sizeof buf);
	read(q[0], buf, sizeof buf - 1);
	printf("got %s\n", buf);

	write(p[1], "XYZ", 3);
	off = 16;
	report("pipe into the file at 16", splice(p[0], NULL, f, &off, 100, 0));
	memset(buf, 0, sizeof buf);
	pread(f, buf, sizeof buf - 1, 0);
	printf("file: %s\n", buf);

	report("empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, f, NULL, 10, SPLICE_F_NONBLOCK));
	report("two files", splice(f, NULL, f, NULL, 10, 0));
	off = 0;
	report("offset on the pipe side", splice(p[0], &off, f, NULL, 10, 0));
	report("bad flags", splice(f, NULL, p[1], NULL, 10, 0x100));
	report("write end as input", splice(p[1], NULL, f, NULL, 10, 0));
	report("tee a file", tee(f, q[1], 10, 0));

	/* A blocking splice from an empty pipe waits for the writer. */
	pid_t child = fork();
	if (child == 0) {
		usleep(50000);
		write(p[1], "late", 4);
		_exit(0);
	}
	off = 0;
	report("blocking splice waits for data", splice(p[0], NULL, f, &off, 100, 0));
	waitpid(child, NULL, 0);

	char v1[] = "vm", v2[] = "splice";
	struct iovec iov[2] = { { v1, 2 }, { v2, 6 } };
	report("vmsplice into the pipe", vmsplice(p[1], iov, 2, 0));
	memset(buf, 0, sizeof buf);
	struct iovec rd = { buf, sizeof buf - 1 };
	report("vmsplice out of the pipe", vmsplice(p[0], &rd, 1, 0));
	printf("got %s\n", buf);
	report("vmsplice on a file", vmsplice(f, iov, 1, 0));
	unlink(path);
	return 0;
}
