/* execveat: a path relative to a directory descriptor, the file a
 * descriptor is (AT_EMPTY_PATH, as fexecve), AT_SYMLINK_NOFOLLOW, and the
 * errors. Each successful exec runs this program again with "child N". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static char *const envp[] = { NULL };

/* Run execveat in a child; report how the child ended. */
static void try(const char *what, int dirfd, const char *path, int flags, const char *tag)
{
	pid_t p = fork();
	if (p == 0) {
		char *argv[] = { "execveat", "child", (char *)tag, NULL };
		syscall(SYS_execveat, dirfd, path, argv, envp, flags);
		printf("%s: %s\n", what, errname(errno));
		_exit(0);
	}
	int status;
	waitpid(p, &status, 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && strcmp(argv[1], "child") == 0) {
		printf("ran: %s\n", argv[2]);
		return 0;
	}
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	const char *dir = self, *name = slash + 1;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	int exefd = open("/proc/self/exe", O_RDONLY);

	try("absolute path", AT_FDCWD, "/proc/self/exe", 0, "absolute path");
	try("relative to a directory descriptor", dirfd, name, 0, "relative to dirfd");
	try("AT_EMPTY_PATH on the program's descriptor", exefd, "", AT_EMPTY_PATH, "fexecve");
	try("empty path without AT_EMPTY_PATH", exefd, "", 0, "x");
	try("unknown flag", AT_FDCWD, "/proc/self/exe", 0x2, "x");
	try("relative to a file descriptor", exefd, "x", 0, "x");
	try("bad descriptor", 99, "x", 0, "x");
	char link[] = "/tmp/execveat-XXXXXX";
	close(mkstemp(link));
	unlink(link);
	symlink("/proc/self/exe", link);
	try("AT_SYMLINK_NOFOLLOW on a symlink", AT_FDCWD, link, AT_SYMLINK_NOFOLLOW, "x");
	try("through the symlink", AT_FDCWD, link, 0, "through a symlink");
	unlink(link);
	try("missing program", AT_FDCWD, "/no/such/program", 0, "x");
	return 0;
}
