/* Working directory and umask with threads (CLONE_FS): chdir, fchdir and
 * umask in one thread are seen by the others and by files they create;
 * a forked child gets a copy that changes on its own; execve keeps them.
 * Prints no paths, only whether they match. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/rvisor-thread-fs-XXXXXX";
static char sub[PATH_MAX];

static int cwd_is(const char *want)
{
	char buf[PATH_MAX];
	return getcwd(buf, sizeof buf) && strcmp(buf, want) == 0;
}

static const char *yes(int ok)
{
	return ok ? "yes" : "NO";
}

static void *do_chdir(void *arg)
{
	return (void *)(long)chdir((const char *)arg);
}

static void *do_umask(void *arg)
{
	umask((mode_t)(long)arg);
	return NULL;
}

/* fchdir in a thread to a descriptor the main thread opened. */
static void *do_fchdir(void *arg)
{
	return (void *)(long)fchdir((int)(long)arg);
}

/* Creates "made-by-thread" in the (shared) cwd with mode 0666. */
static void *do_create(void *arg)
{
	(void)arg;
	int fd = open("made-by-thread", O_CREAT | O_WRONLY, 0666);
	if (fd >= 0)
		close(fd);
	return (void *)(long)fd;
}

static void run(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_create(&t, NULL, fn, arg);
	pthread_join(t, NULL);
}

static int after_exec(const char *want_cwd)
{
	mode_t m = umask(0);
	printf("after execve: cwd kept: %s, umask %03o\n", yes(cwd_is(want_cwd)), m);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
		return after_exec(argv[2]);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sub, sizeof sub, "%s/sub", dir);
	mkdir(sub, 0755);

	run(do_chdir, dir);
	printf("chdir in a thread seen by main: %s\n", yes(cwd_is(dir)));
	umask(022);
	run(do_umask, (void *)027);
	mode_t seen = umask(027);
	printf("umask set in a thread, main sees %03o\n", seen);

	int fd = open(sub, O_RDONLY | O_DIRECTORY);
	run(do_fchdir, (void *)(long)fd);
	close(fd);
	printf("fchdir in a thread seen by main: %s\n", yes(cwd_is(sub)));

	/* Created by a thread, relative to the cwd main chose, with the
	 * umask main set. */
	chdir(dir);
	umask(077);
	run(do_create, NULL);
	struct stat st;
	int made = stat("made-by-thread", &st) == 0;
	printf("thread's file in main's cwd: %s, mode %03o\n", yes(made),
	       made ? st.st_mode & 0777 : 0);
	unlink("made-by-thread");

	/* A child's changes stay its own. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		chdir(sub);
		umask(0);
		_exit(cwd_is(sub) ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	mode_t m = umask(077);
	printf("child changed its own copy: %s; parent's cwd kept: %s, umask %03o\n",
	       yes(WIFEXITED(status) && WEXITSTATUS(status) == 0), yes(cwd_is(dir)), m);

	/* execve keeps the cwd and umask. */
	chdir(sub);
	umask(023);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "after-exec", sub, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);

	chdir("/");
	rmdir(sub);
	printf("cleaned up: %s\n", yes(rmdir(dir) == 0));
	return 0;
}
