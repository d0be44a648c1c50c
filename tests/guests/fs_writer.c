/*
 * fs_writer: changes a file tree every way a program commonly does and
 * prints what it observes afterwards through stat, readdir and readlink.
 *
 * It works in ./work, which it makes first and removes at the end, so a
 * native run and a sandboxed one start from the same tree and leave it as
 * they found it. Only deterministic things are printed: no inode numbers,
 * no times it did not set itself, no file system types.
 *
 * Exit status: 0 when it got to the end.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errname.h"

/* Print what a call returned: its value, or its errno's name. */
static long show(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
	return r;
}

static void put(const char *path, const char *text, int flags)
{
	int fd = open(path, flags, 0644);

	if (fd < 0) {
		printf("open %s: %s\n", path, errname(errno));
		return;
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		printf("write %s: %s\n", path, errname(errno));
	close(fd);
}

static void cat(const char *path)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		printf("cat %s: %s\n", path, errname(errno));
		return;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		printf("cat %s: read %s\n", path, errname(errno));
		return;
	}
	buf[n] = 0;
	printf("cat %s: \"%s\"\n", path, buf);
}

static void st(const char *path, int follow)
{
	struct stat s;
	int r = follow ? stat(path, &s) : lstat(path, &s);

	if (r < 0) {
		printf("%s %s: %s\n", follow ? "stat" : "lstat", path, errname(errno));
		return;
	}
	printf("%s %s: type %o mode %04o size %lld nlink %ld\n",
	       follow ? "stat" : "lstat", path, (s.st_mode & S_IFMT) >> 12,
	       s.st_mode & 07777, S_ISDIR(s.st_mode) ? -1LL : (long long)s.st_size,
	       S_ISDIR(s.st_mode) ? -1L : (long)s.st_nlink);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ls(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char *names[64];
	int n = 0;

	if (!d) {
		printf("ls %s: %s\n", path, errname(errno));
		return;
	}
	while ((e = readdir(d)) && n < 64) {
		char *s = malloc(strlen(e->d_name) + 4);

		sprintf(s, "%s/%c", e->d_name,
			e->d_type == DT_DIR ? 'd' : e->d_type == DT_LNK ? 'l' :
			e->d_type == DT_REG ? 'f' : '?');
		names[n++] = s;
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp);
	printf("ls %s:", path);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void links(void)
{
	char buf[64];
	ssize_t n;

	show("link b c", link("b", "c"));
	st("b", 1);
	show("symlink b s", symlink("b", "s"));
	n = readlink("s", buf, sizeof buf);
	printf("readlink s: \"%.*s\"\n", (int)(n < 0 ? 0 : n), buf);
	st("s", 1);
	st("s", 0);
	show("symlink loop1", symlink("loop2", "loop1"));
	show("symlink loop2", symlink("loop1", "loop2"));
	show("open loop1", open("loop1", O_RDONLY));
	show("symlink dangling", symlink("made-through-link", "dangling"));
	put("dangling", "via link", O_CREAT | O_WRONLY);
	cat("made-through-link");
	show("open O_NOFOLLOW s", open("s", O_RDONLY | O_NOFOLLOW));
	show("open O_CREAT|O_EXCL s", open("s", O_CREAT | O_EXCL | O_WRONLY, 0644));
}

static void dirs(void)
{
	show("mkdir d", mkdir("d", 0755));
	show("mkdir d again", mkdir("d", 0755));
	put("d/f", "in d", O_CREAT | O_WRONLY);
	show("rename d d/x", rename("d", "d/x"));
	show("rmdir d (full)", rmdir("d"));
	show("unlink d", unlink("d"));
	show("rmdir b", rmdir("b"));
	show("mkdir e", mkdir("e", 0700));
	show("rename d e (e empty)", rename("d", "e"));
	ls("e");
	show("mkdir g", mkdir("g", 0755));
	show("rename g e (e full)", rename("g", "e"));
	show("rename b e", rename("b", "e"));
	show("rename e b", rename("e", "b"));
	show("rmdir g", rmdir("g"));
	show("mkdir missing/x", mkdir("missing/x", 0755));
	show("mkdir b/x", mkdir("b/x", 0755));
	show("open new/ O_CREAT", open("newdir/", O_CREAT | O_WRONLY, 0644));
	show("open e O_WRONLY", open("e", O_WRONLY));
}

static void renames(void)
{
	put("x", "xx", O_CREAT | O_WRONLY);
	put("y", "yyy", O_CREAT | O_WRONLY);
	show("renameat2 NOREPLACE", syscall(SYS_renameat2, AT_FDCWD, "x", AT_FDCWD, "y", 1));
	show("renameat2 EXCHANGE", syscall(SYS_renameat2, AT_FDCWD, "x", AT_FDCWD, "y", 2));
	cat("x");
	cat("y");
	show("rename x y", rename("x", "y"));
	st("x", 1);
	cat("y");
	show("rename y y", rename("y", "y"));
}

static void descriptors(void)
{
	int fd = open("b", O_RDWR), fd2, fd3;
	char buf[32] = {0};

	show("dup", fd2 = dup(fd));
	show("dup2 to 20", dup2(fd, 20));
	show("dup3 to 21 cloexec", dup3(fd, 21, O_CLOEXEC));
	show("dup3 same", dup3(fd, fd, 0));
	show("F_GETFD 21", fcntl(21, F_GETFD));
	show("F_SETFD 20", fcntl(20, F_SETFD, FD_CLOEXEC));
	show("F_GETFD 20", fcntl(20, F_GETFD));
	show("F_DUPFD 30", fd3 = fcntl(fd, F_DUPFD, 30));
	show("F_GETFL accmode", fcntl(fd, F_GETFL) & O_ACCMODE);
	show("F_SETFL append", fcntl(fd, F_SETFL, O_APPEND));
	show("F_GETFL append", !!(fcntl(fd2, F_GETFL) & O_APPEND));
	show("F_SETFL none", fcntl(fd, F_SETFL, 0));
	/* Dups share the offset. */
	show("read 2 via fd", read(fd, buf, 2));
	show("lseek via dup", lseek(fd2, 0, SEEK_CUR));
	show("ftruncate 3", ftruncate(fd, 3));
	show("lseek end", lseek(fd, 0, SEEK_END));
	show("write at 10", pwrite(fd, "Z", 1, 10));
	st("b", 1);
	memset(buf, 1, sizeof buf);
	show("pread hole", pread(fd, buf, 11, 0));
	printf("hole bytes: %d %d %d\n", buf[3], buf[9], buf[10]);
	show("fsync", fsync(fd));
	show("fdatasync", fdatasync(fd));
	show("flock", flock(fd, LOCK_EX));
	{
		struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		show("F_SETLK", fcntl(fd, F_SETLK, &l));
		l.l_type = F_RDLCK;
		show("F_GETLK", fcntl(fd, F_GETLK, &l));
		show("F_GETLK type unlocked", l.l_type == F_UNLCK);
	}
	show("ftruncate rdonly", ftruncate(open("b", O_RDONLY), 0));
	show("close 20", close(20));
	show("close 20 again", close(20));
	close(21);
	close(fd3);
	close(fd2);
	close(fd);
}

static void copies(void)
{
	int in = open("copy-src", O_CREAT | O_RDWR | O_TRUNC, 0644);
	int out = open("copy-dst", O_CREAT | O_RDWR | O_TRUNC, 0644);
	loff_t off_in = 2, off_out = 0;
	off_t off = 1;

	show("write src", write(in, "0123456789", 10));
	show("sendfile", sendfile(out, in, &off, 4));
	show("sendfile offset", off);
	show("copy_file_range", syscall(SYS_copy_file_range, in, &off_in, out, &off_out, 3, 0));
	show("copy_file_range offsets", off_in * 100 + off_out);
	close(in);
	close(out);
	cat("copy-dst");
}

static void attributes(void)
{
	struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 5}, {.tv_sec = 1234567890, .tv_nsec = 0}};
	struct stat s;
	mode_t old;

	show("chmod b 0600", chmod("b", 0600));
	st("b", 1);
	show("fchmodat c 0640", fchmodat(AT_FDCWD, "c", 0640, 0));
	st("c", 1);
	old = umask(077);
	printf("old umask %03o\n", old);
	put("masked", "", O_CREAT | O_WRONLY);
	st("masked", 1);
	show("mkdir masked-dir", mkdir("masked-dir", 0777));
	st("masked-dir", 1);
	umask(old);
	show("utimensat", utimensat(AT_FDCWD, "b", ts, 0));
	stat("b", &s);
	printf("times: %lld.%ld %lld.%ld\n", (long long)s.st_atime, s.st_atim.tv_nsec,
	       (long long)s.st_mtime, s.st_mtim.tv_nsec);
	show("truncate b 2", truncate("b", 2));
	cat("b");
	show("truncate e", truncate("e", 0));
}

static void devices(void)
{
	char buf[4] = {1, 1, 1, 1};
	int fd = open("/dev/null", O_WRONLY);

	show("write /dev/null", write(fd, "abc", 3));
	close(fd);
	fd = open("/dev/zero", O_RDONLY);
	show("read /dev/zero", read(fd, buf, 4));
	printf("zeros: %d\n", buf[0] + buf[1] + buf[2] + buf[3]);
	close(fd);
	fd = open("/dev/full", O_WRONLY);
	show("write /dev/full", write(fd, "abc", 3));
	close(fd);
	fd = open("/dev/urandom", O_RDONLY);
	show("read /dev/urandom", read(fd, buf, 4));
	close(fd);
}

static void cleanup(void)
{
	const char *files[] = {"b", "c", "s", "loop1", "loop2", "dangling",
			       "made-through-link", "y", "copy-src", "copy-dst",
			       "masked", "e/f", "a"};

	for (unsigned i = 0; i < sizeof files / sizeof *files; i++)
		unlink(files[i]);
	rmdir("e");
	rmdir("masked-dir");
	chdir("..");
	show("rmdir work", rmdir("work"));
}

int main(void)
{
	char cwd[4096];

	show("mkdir work", mkdir("work", 0755));
	show("chdir work", chdir("work"));
	put("a", "hello", O_CREAT | O_WRONLY | O_TRUNC);
	st("a", 1);
	cat("a");
	show("rename a b", rename("a", "b"));
	st("a", 1);
	cat("b");
	links();
	dirs();
	renames();
	descriptors();
	copies();
	attributes();
	devices();
	ls(".");
	getcwd(cwd, sizeof cwd);
	printf("cwd ends in /work: %d\n", strlen(cwd) >= 5 && !strcmp(cwd + strlen(cwd) - 5, "/work"));
	cleanup();
	ls(".");
	printf("done\n");
	return 0;
}
