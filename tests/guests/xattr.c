/* Extended attributes in a fresh directory under /tmp: set, get, list and
 * remove by path, without following a symlink, and by descriptor; the
 * size rules (asking for the length, ERANGE, E2BIG), XATTR_CREATE and
 * XATTR_REPLACE, bad names, namespaces and pointers, and files that keep
 * no attributes. Prints no values that depend on the file system. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "errname.h"

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
}

/* The names a list holds, sorted, so the order a file system keeps them
 * in does not show. */
static void print_list(const char *what, const char *list, long len)
{
	const char *names[16];
	int n = 0;
	for (long i = 0; i < len && n < 16; i += strlen(list + i) + 1)
		names[n++] = list + i;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				const char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	printf("%s:", what);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

int main(void)
{
	char dir[] = "/tmp/xattr-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char file[64], link[64], sub[64];
	snprintf(file, sizeof file, "%s/file", dir);
	snprintf(link, sizeof link, "%s/link", dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	close(open(file, O_CREAT | O_WRONLY, 0644));
	symlink(file, link);
	mkdir(sub, 0755);

	char buf[256];
	report("set user.color", setxattr(file, "user.color", "blue", 4, 0));
	report("get user.color (length)", getxattr(file, "user.color", NULL, 0));
	long n = getxattr(file, "user.color", buf, sizeof buf);
	printf("get user.color: %.*s\n", (int)(n > 0 ? n : 0), buf);
	report("get into 2 bytes", getxattr(file, "user.color", buf, 2));
	report("create existing", setxattr(file, "user.color", "red", 3, XATTR_CREATE));
	report("replace missing", setxattr(file, "user.shape", "round", 5, XATTR_REPLACE));
	report("replace existing", setxattr(file, "user.color", "red", 3, XATTR_REPLACE));
	n = getxattr(file, "user.color", buf, sizeof buf);
	printf("after replace: %.*s\n", (int)(n > 0 ? n : 0), buf);
	report("flags 4", setxattr(file, "user.color", "x", 1, 4));
	report("empty value", setxattr(file, "user.empty", "", 0, 0));
	report("get empty value", getxattr(file, "user.empty", buf, sizeof buf));
	report("get missing", getxattr(file, "user.missing", buf, sizeof buf));

	long len = listxattr(file, NULL, 0);
	report("list length", len);
	n = listxattr(file, buf, sizeof buf);
	print_list("list", buf, n);
	report("list into 3 bytes", listxattr(file, buf, 3));

	report("empty name", setxattr(file, "", "v", 1, 0));
	char longname[300];
	memset(longname, 'a', sizeof longname);
	memcpy(longname, "user.", 5);
	longname[256] = 0;
	report("256-byte name", setxattr(file, longname, "v", 1, 0));
	longname[255] = 0;
	report("255-byte name", setxattr(file, longname, "v", 1, 0));
	report("remove 255-byte name", removexattr(file, longname));
	report("bare user.", setxattr(file, "user.", "v", 1, 0));
	report("unknown namespace", setxattr(file, "bogus.x", "v", 1, 0));
	report("no namespace", getxattr(file, "color", buf, sizeof buf));
	static char big[65537];
	report("65537-byte value", setxattr(file, "user.big", big, sizeof big, 0));
	report("ACL of a file without one", getxattr(file, "system.posix_acl_access", buf, sizeof buf));

	/* Through and at a symlink. */
	n = getxattr(link, "user.color", buf, sizeof buf);
	printf("get through the symlink: %.*s\n", (int)(n > 0 ? n : 0), buf);
	report("lget on the symlink", lgetxattr(link, "user.color", buf, sizeof buf));
	report("lset user.* on the symlink", lsetxattr(link, "user.x", "v", 1, 0));
	report("llist on the symlink", llistxattr(link, buf, sizeof buf));

	/* By descriptor. */
	int fd = open(file, O_RDONLY);
	report("fset", fsetxattr(fd, "user.fd", "1", 1, 0));
	n = flistxattr(fd, buf, sizeof buf);
	print_list("flist", buf, n);
	report("fremove", fremovexattr(fd, "user.fd"));
	report("fremove again", fremovexattr(fd, "user.fd"));
	close(fd);
	int opath = open(file, O_PATH);
	report("fget on O_PATH", fgetxattr(opath, "user.color", buf, sizeof buf));
	close(opath);
	report("fget on a closed descriptor", fgetxattr(opath, "user.color", buf, sizeof buf));
	int p[2];
	pipe(p);
	report("fset on a pipe", fsetxattr(p[0], "user.x", "v", 1, 0));
	report("flist on a pipe", flistxattr(p[0], buf, sizeof buf));

	report("get on a procfs file", getxattr("/proc/self/status", "user.x", buf, sizeof buf));
	report("set on a procfs file", setxattr("/proc/self/status", "user.x", "v", 1, 0));
	report("list on a procfs file", listxattr("/proc/self/status", buf, sizeof buf));

	/* Directories keep user.* too. */
	report("set on a directory", setxattr(sub, "user.dir", "d", 1, 0));
	report("get on a directory", getxattr(sub, "user.dir", buf, sizeof buf));

	report("missing file", getxattr("/tmp/no/such/file", "user.a", buf, sizeof buf));
	report("bad name pointer", getxattr(file, (char *)8, buf, sizeof buf));
	report("bad value pointer", setxattr(file, "user.v", (char *)8, 4, 0));
	report("bad list pointer", listxattr(file, (char *)8, sizeof buf));

	report("remove", removexattr(file, "user.color"));
	report("remove again", removexattr(file, "user.color"));
	removexattr(file, "user.empty");
	report("list after removing all", listxattr(file, buf, sizeof buf));

	/* A new file of the same name starts with none. */
	unlink(file);
	close(open(file, O_CREAT | O_WRONLY, 0644));
	report("recreated file's list", listxattr(file, buf, sizeof buf));

	unlink(link);
	unlink(file);
	rmdir(sub);
	rmdir(dir);
	return 0;
}
