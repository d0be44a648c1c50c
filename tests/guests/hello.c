/*
 * The smallest useful guest: one raw write(2) and one line through stdio.
 *
 * The first line goes through write() directly so that `rvisor --strace`
 * shows it as `write(1, "hello, world\n", 13) = 13` whatever libc buffering
 * does; the second exercises the libc's own stdio path (musl flushes with
 * writev, glibc with write) and the exit-time flush.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	static const char msg[] = "hello, world\n";
	ssize_t n = write(STDOUT_FILENO, msg, strlen(msg));

	if (n != (ssize_t)strlen(msg))
		return 1;
	printf("hello again, through stdio\n");
	return 0;
}
