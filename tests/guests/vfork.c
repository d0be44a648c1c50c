/* Processes that share their parent's memory: vfork (the child's writes
 * are the parent's, and the parent waits until the child exits or execs),
 * clone(CLONE_VM) with a stack of its own, a child whose exit signal is not
 * SIGCHLD (seen only by __WCLONE waits), and posix_spawn of a program that
 * exists and of one that does not (the error comes back through the
 * memory the spawned child shares). Built with musl and with glibc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static volatile int shared_value;
static volatile int child_done;

static void pause_a_little(void) {
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static void check_vfork(void) {
	pid_t p = vfork();
	if (p == 0) {
		/* The parent must still be waiting when this lands. */
		pause_a_little();
		shared_value = 42;
		child_done = 1;
		_exit(3);
	}
	int seen = shared_value, done = child_done;
	int st = 0;
	pid_t w = waitpid(p, &st, 0);
	printf("vfork: parent sees %d, child finished first: %s, status %d, reaped: %s\n", seen,
	       done ? "yes" : "no", WEXITSTATUS(st), w == p ? "yes" : "no");
}

static void check_vfork_exec(const char *self) {
	shared_value = 0;
	pid_t p = vfork();
	if (p == 0) {
		shared_value = 7;
		char *args[] = {(char *)self, "exec-child", NULL};
		execve(self, args, environ);
		_exit(99);
	}
	int seen = shared_value;
	int st = 0;
	waitpid(p, &st, 0);
	/* The exec'd program (which writes 99 there) had memory of its own. */
	printf("vfork+exec: parent sees %d, then %d; exec'd child status %d\n", seen,
	       shared_value, WEXITSTATUS(st));
}

static char clone_stack[256 * 1024] __attribute__((aligned(16)));

static int clone_child(void *arg) {
	*(volatile int *)arg = 1234;
	return 5;
}

static void check_clone_vm(void) {
	volatile int value = 0;
	pid_t p = clone(clone_child, clone_stack + sizeof clone_stack, CLONE_VM | SIGCHLD,
			(void *)&value);
	if (p < 0) {
		printf("clone(CLONE_VM): %s\n", strerror(errno));
		return;
	}
	int st = 0;
	pid_t w = waitpid(p, &st, 0);
	printf("clone(CLONE_VM): child wrote %d, status %d, own pid: %s\n", value,
	       WEXITSTATUS(st), w == p && p != getpid() ? "yes" : "no");

	/* No exit signal: a "clone" child, invisible to a plain wait. */
	value = 0;
	p = clone(clone_child, clone_stack + sizeof clone_stack, CLONE_VM, (void *)&value);
	errno = 0;
	w = waitpid(p, &st, 0);
	printf("plain wait for a clone child: %s\n", w < 0 ? strerror(errno) : "found");
	w = waitpid(p, &st, __WCLONE);
	printf("__WCLONE wait: %s, status %d, child wrote %d\n", w == p ? "found" : "missed",
	       WEXITSTATUS(st), value);
}

static int orphan_pipe[2];

static int slow_child(void *arg) {
	(void)arg;
	pause_a_little();
	for (int i = 0; i < 1000; i++)
		shared_value++;
	char buf[64];
	int n = snprintf(buf, sizeof buf, "%d", shared_value);
	write(orphan_pipe[1], buf, n);
	return 0;
}

/* The memory outlives a parent that exits first; a vfork parent killed
 * while it waits leaves its child running. */
static void check_orphans(void) {
	pipe(orphan_pipe);
	shared_value = 0;
	pid_t a = fork();
	if (a == 0) {
		clone(slow_child, clone_stack + sizeof clone_stack, CLONE_VM | SIGCHLD, NULL);
		_exit(0);
	}
	waitpid(a, NULL, 0);
	close(orphan_pipe[1]);
	char buf[64] = {0};
	read(orphan_pipe[0], buf, sizeof buf - 1);
	close(orphan_pipe[0]);
	printf("CLONE_VM child ran on after its parent exited: counted to %s\n", buf);

	pipe(orphan_pipe);
	a = fork();
	if (a == 0) {
		if (vfork() == 0) {
			kill(getppid(), SIGKILL);
			pause_a_little();
			write(orphan_pipe[1], "ran on", 6);
			_exit(0);
		}
		_exit(1);
	}
	int st = 0;
	waitpid(a, &st, 0);
	close(orphan_pipe[1]);
	memset(buf, 0, sizeof buf);
	read(orphan_pipe[0], buf, sizeof buf - 1);
	close(orphan_pipe[0]);
	printf("vfork parent killed while waiting: signal %d; its child %s\n",
	       WIFSIGNALED(st) ? WTERMSIG(st) : 0, buf);
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig) {
	(void)sig;
	got_usr1 = 1;
}

static int exec_child(void *self) {
	char *args[] = {self, "exec-child", NULL};
	execve(self, args, environ);
	return 99;
}

/* A child sharing the descriptor table and signal actions makes them its
 * own when it execs: the parent's close-on-exec files stay open and its
 * handlers stay installed. */
static void check_shared_exec(const char *self) {
	signal(SIGUSR1, on_usr1);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_SIGHAND | SIGCHLD;
	pid_t p = clone(exec_child, clone_stack + sizeof clone_stack, flags, (void *)self);
	int st = 0;
	waitpid(p, &st, 0);
	raise(SIGUSR1);
	printf("after a CLONE_FILES|CLONE_SIGHAND child exec'd (status %d): close-on-exec file %s, "
	       "handler %s\n",
	       WEXITSTATUS(st), fcntl(fd, F_GETFD) >= 0 ? "open" : "closed",
	       got_usr1 ? "kept" : "lost");
	close(fd);
	signal(SIGUSR1, SIG_DFL);
}

static void check_flags(void) {
	errno = 0;
	pid_t p = clone(clone_child, clone_stack + sizeof clone_stack, CLONE_SIGHAND | SIGCHLD, NULL);
	printf("CLONE_SIGHAND without CLONE_VM: %s\n", p < 0 ? strerror(errno) : "accepted");
	if (p > 0)
		waitpid(p, NULL, 0);
}

static void check_spawn(const char *self) {
	pid_t p;
	char *args[] = {(char *)self, "spawned", NULL};
	int err = posix_spawn(&p, self, NULL, NULL, args, environ);
	int st = 0;
	if (err == 0)
		waitpid(p, &st, 0);
	printf("posix_spawn of this program: %s, status %d\n", err ? strerror(err) : "ok",
	       WEXITSTATUS(st));

	char *missing[] = {"/no/such/program", NULL};
	err = posix_spawn(&p, missing[0], NULL, NULL, missing, environ);
	printf("posix_spawn of a missing program: %s\n", err ? strerror(err) : "ok");
	if (err == 0)
		waitpid(p, &st, 0);

	char *missing_p[] = {"no-such-program-anywhere", NULL};
	err = posix_spawnp(&p, missing_p[0], NULL, NULL, missing_p, environ);
	printf("posix_spawnp of a missing name: %s\n", err ? strerror(err) : "ok");
	if (err == 0)
		waitpid(p, &st, 0);
	printf("children left: %s\n", waitpid(-1, &st, WNOHANG) < 0 ? "none" : "some");
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
		shared_value = 99;
		return 8;
	}
	if (argc > 1 && strcmp(argv[1], "spawned") == 0) {
		printf("spawned child ran\n");
		return 4;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	check_vfork();
	check_vfork_exec(argv[0]);
	check_clone_vm();
	check_flags();
	check_shared_exec(argv[0]);
	check_spawn(argv[0]);
	/* Last: in the sandbox, this process (pid 1) inherits the orphans. */
	check_orphans();
	return 0;
}
