/*
 * fs_leak: tries to change or reach the host through the sandbox's tree.
 *
 *   fs_leak change DIR   creates, writes, renames and deletes files in DIR
 *                        (a host directory given by path), in /etc and in
 *                        /, and checks each change shows inside.
 *   fs_leak escape PATH  makes symbolic links to PATH (a host file outside
 *                        --root) every way it can and tries to read and
 *                        create through them and through "..".
 *
 * Prints one line per step: the step and OK or the errno name. Run under
 * rvisor only: natively it would change the host.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errname.h"

static void step(const char *what, int r)
{
	printf("%s: %s\n", what, r < 0 ? errname(errno) : "OK");
}

static int put(const char *path, const char *text)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) < 0)
		return -1;
	return close(fd);
}

/* 0 if path holds exactly text. */
static int holds(const char *path, const char *text)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n != (ssize_t)strlen(text) || memcmp(buf, text, n)) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int gone(const char *path)
{
	struct stat s;

	if (lstat(path, &s) == 0) {
		errno = EEXIST;
		return -1;
	}
	return errno == ENOENT ? 0 : -1;
}

static void change(const char *dir)
{
	char p[4096], q[4096];

	if (chdir(dir) < 0) {
		step("chdir", -1);
		return;
	}
	step("create new.txt", put("new.txt", "new"));
	step("new.txt reads back", holds("new.txt", "new"));
	step("overwrite keep.txt", put("keep.txt", "changed"));
	step("keep.txt reads back", holds("keep.txt", "changed"));
	step("rename old.txt", rename("old.txt", "renamed.txt"));
	step("renamed.txt reads back", holds("renamed.txt", "old"));
	step("unlink victim.txt", unlink("victim.txt"));
	step("victim.txt is gone", gone("victim.txt"));
	step("mkdir newdir", mkdir("newdir", 0755));
	step("rmdir emptydir", rmdir("emptydir"));
	step("rename sub to sub2", rename("sub", "sub2"));
	step("sub2/inner reads back", holds("sub2/inner", "inner"));
	step("symlink", symlink("/etc/passwd", "link"));
	step("chmod keep.txt", chmod("keep.txt", 0600));
	step("truncate renamed.txt", truncate("renamed.txt", 1));

	step("create /etc/rvisor-leak", put("/etc/rvisor-leak", "leak"));
	step("/etc/rvisor-leak reads back", holds("/etc/rvisor-leak", "leak"));
	step("unlink /etc/hostname", unlink("/etc/hostname"));
	step("/etc/hostname is gone", gone("/etc/hostname"));
	step("rename /etc/passwd", rename("/etc/passwd", "/etc/passwd.moved"));
	step("/etc/passwd is gone", gone("/etc/passwd"));
	step("mkdir /rvisor-leak-dir", mkdir("/rvisor-leak-dir", 0755));
	step("create /rvisor-leak-file", put("/rvisor-leak-file", "leak"));
	snprintf(p, sizeof p, "%s/new.txt", dir);
	snprintf(q, sizeof q, "/rvisor-leak-moved");
	step("rename across the tree", rename(p, q));
	step("moved file reads back", holds(q, "new"));
}

static void escape(const char *outside)
{
	char up[4096];
	const char *names[] = {"l_abs", "l_up", "l_dots", "l_up_abs"};

	snprintf(up, sizeof up, "/../../../../..%s", outside);
	step("symlink absolute", symlink(outside, "/l_abs"));
	step("symlink ../", symlink("../outside.txt", "/l_up"));
	step("symlink /../", symlink("/../outside.txt", "/l_dots"));
	step("symlink /../../..", symlink(up, "/l_up_abs"));
	for (unsigned i = 0; i < 4; i++) {
		char path[64];

		snprintf(path, sizeof path, "/%s", names[i]);
		printf("open %s: %s\n", names[i],
		       open(path, O_RDONLY) < 0 ? errname(errno) : "OPENED");
	}
	printf("open outside path: %s\n", open(outside, O_RDONLY) < 0 ? errname(errno) : "OPENED");
	printf("open ../outside.txt: %s\n",
	       open("/../outside.txt", O_RDONLY) < 0 ? errname(errno) : "OPENED");
	/* Creating through a link makes a file inside, if anywhere. */
	step("write through /l_dots", put("/l_dots", "overwritten"));
	step("write through /l_abs", put("/l_abs", "overwritten"));
	step("write /../outside.txt", put("/../outside.txt", "overwritten"));
	step("unlink /../outside.txt", unlink("/../outside.txt"));
	step("/outside.txt is gone again", gone("/outside.txt"));
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	if (!strcmp(argv[1], "change"))
		change(argv[2]);
	else
		escape(argv[2]);
	return 0;
}
