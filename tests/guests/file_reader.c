/*
 * file_reader FILE [DIR [LINK]]
 *
 * Reads FILE every way a program commonly does (read, lseek, pread, readv)
 * and checks the ways agree with each other; optionally lists DIR sorted by
 * name and inspects the symbolic link LINK. Everything observed is printed,
 * so comparing the output of a native run with a sandboxed one checks the
 * sandbox's file system calls against the host kernel's.
 *
 * Exit status: 0 if every check held, 1 if FILE could not be opened (the
 * error name is printed on stderr), 2 if some check failed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "errname.h"

static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("CHECK FAILED: %s\n", what);
		failures++;
	}
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Reads everything from fd's current offset; returns the byte count. */
static size_t read_all(int fd, unsigned char *buf, size_t cap)
{
	size_t total = 0;

	for (;;) {
		/* Small chunks, so that multi-read files are the normal case. */
		size_t want = cap - total < 1000 ? cap - total : 1000;
		ssize_t n = read(fd, buf + total, want);

		if (n < 0) {
			printf("read: %s\n", errname(errno));
			failures++;
			return total;
		}
		if (n == 0)
			return total;
		total += (size_t)n;
	}
}

static void read_file(const char *path)
{
	struct stat st;
	unsigned char *data, *again, small[10];
	size_t size, n, half;
	off_t off;
	ssize_t got;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, errname(errno));
		exit(1);
	}
	if (fstat(fd, &st) != 0) {
		printf("fstat: %s\n", errname(errno));
		exit(2);
	}
	check(S_ISREG(st.st_mode), "fstat says regular file");
	size = (size_t)st.st_size;
	printf("size %zu\n", size);

	/* One spare byte so that reading past the end would show. */
	data = malloc(size + 1);
	again = malloc(size + 1);
	if (!data || !again)
		exit(2);
	n = read_all(fd, data, size + 1);
	printf("read %zu bytes, fnv1a %016llx\n", n,
	       (unsigned long long)fnv1a(data, n));
	check(n == size, "read length equals fstat size");
	printf("contents:\n");
	fwrite(data, 1, n, stdout);
	printf("\n(end of contents)\n");

	off = lseek(fd, 0, SEEK_CUR);
	printf("offset after reading %lld\n", (long long)off);
	check(lseek(fd, 0, SEEK_END) == (off_t)size, "SEEK_END lands at size");
	half = size / 2;
	check(lseek(fd, (off_t)half, SEEK_SET) == (off_t)half, "SEEK_SET");
	check(read_all(fd, again, size) == size - half, "read after SEEK_SET");
	check(memcmp(again, data + half, size - half) == 0,
	      "second half matches");
	errno = 0;
	off = lseek(fd, -1, SEEK_SET);
	printf("lseek to -1: %lld %s\n", (long long)off, errname(errno));

	/* pread must neither use nor move the file offset. */
	lseek(fd, 1, SEEK_SET);
	got = pread(fd, small, sizeof(small), 3);
	printf("pread 10 at 3: %zd\n", got);
	if (got > 0)
		check(memcmp(small, data + 3, (size_t)got) == 0,
		      "pread data matches");
	check(lseek(fd, 0, SEEK_CUR) == 1, "pread kept the offset");
	printf("pread past the end: %zd\n",
	       pread(fd, small, sizeof(small), (off_t)size + 100));

	/* readv fills the buffers in order; an odd split catches off-by-ones. */
	{
		unsigned char a[1], b[7];
		struct iovec iov[3] = {
			{ a, sizeof(a) },
			{ b, sizeof(b) },
			{ again, size },
		};

		lseek(fd, 0, SEEK_SET);
		got = readv(fd, iov, 3);
		printf("readv: %zd\n", got);
		if (got == (ssize_t)size && size >= 8) {
			check(a[0] == data[0], "readv first buffer");
			check(memcmp(b, data + 1, 7) == 0, "readv second buffer");
			check(memcmp(again, data + 8, size - 8) == 0,
			      "readv third buffer");
		}
	}

	close(fd);
	errno = 0;
	got = read(fd, small, 1);
	printf("read after close: %zd %s\n", got, errname(errno));
	free(data);
	free(again);
}

struct entry {
	char name[256];
	unsigned char d_type;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
		      ((const struct entry *)b)->name);
}

static char type_char(mode_t mode)
{
	return S_ISREG(mode) ? 'f' : S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : '?';
}

static char dtype_char(unsigned char t)
{
	return t == DT_REG ? 'f' : t == DT_DIR ? 'd' : t == DT_LNK ? 'l' :
	       t == DT_UNKNOWN ? 'u' : '?';
}

static void list_dir(const char *dir, const char *file)
{
	struct entry entries[128];
	size_t count = 0;
	struct dirent *de;
	struct stat st;
	char path[4096], cwd[4096];
	DIR *d = opendir(dir);

	if (!d) {
		printf("opendir %s: %s\n", dir, errname(errno));
		failures++;
		return;
	}
	while ((de = readdir(d)) != NULL && count < 128) {
		snprintf(entries[count].name, sizeof(entries[count].name), "%s",
			 de->d_name);
		entries[count].d_type = de->d_type;
		count++;
	}
	qsort(entries, count, sizeof(entries[0]), by_name);
	printf("directory: %zu entries\n", count);
	for (size_t i = 0; i < count; i++) {
		/* Relative to the open directory: exercises the *at() path. */
		if (fstatat(dirfd(d), entries[i].name, &st,
			    AT_SYMLINK_NOFOLLOW) != 0) {
			printf("  %s fstatat: %s\n", entries[i].name,
			       errname(errno));
			continue;
		}
		printf("  %s d_type=%c lstat=%c", entries[i].name,
		       dtype_char(entries[i].d_type), type_char(st.st_mode));
		if (S_ISREG(st.st_mode))
			printf(" size=%lld", (long long)st.st_size);
		printf("\n");
	}
	closedir(d);

	snprintf(path, sizeof(path), "%s/does-not-exist", dir);
	printf("stat missing file: %s\n",
	       errname(stat(path, &st) == 0 ? 0 : errno));
	snprintf(path, sizeof(path), "%s/child", file);
	printf("stat below a regular file: %s\n",
	       errname(stat(path, &st) == 0 ? 0 : errno));
	printf("access R_OK: %s\n", errname(access(file, R_OK) == 0 ? 0 : errno));
	printf("access X_OK on a 0644 file: %s\n",
	       errname(access(file, X_OK) == 0 ? 0 : errno));
	printf("access dir X_OK: %s\n", errname(access(dir, X_OK) == 0 ? 0 : errno));
	{
		char c;
		int fd = open(dir, O_RDONLY | O_DIRECTORY);

		printf("read on a directory: %s\n",
		       errname(read(fd, &c, 1) < 0 ? errno : 0));
		close(fd);
	}
	printf("getcwd: %s\n", getcwd(cwd, sizeof(cwd)) ? cwd : errname(errno));
}

static void inspect_link(const char *link, const char *file)
{
	char target[4096];
	struct stat lst, st;
	ssize_t n = readlink(link, target, sizeof(target) - 1);

	if (n < 0) {
		printf("readlink %s: %s\n", link, errname(errno));
		failures++;
		return;
	}
	target[n] = '\0';
	printf("readlink: \"%s\" (%zd bytes)\n", target, n);
	check(lstat(link, &lst) == 0 && S_ISLNK(lst.st_mode), "lstat sees a link");
	check(stat(link, &st) == 0, "stat follows the link");
	printf("stat through the link: size %lld\n", (long long)st.st_size);
	printf("readlink of a regular file: %s\n",
	       errname(readlink(file, target, sizeof(target)) < 0 ? errno : 0));
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: file_reader FILE [DIR [LINK]]\n");
		return 2;
	}
	read_file(argv[1]);
	if (argc > 2)
		list_dir(argv[2], argv[1]);
	if (argc > 3)
		inspect_link(argv[3], argv[1]);
	printf("failures %d\n", failures);
	return failures ? 2 : 0;
}
