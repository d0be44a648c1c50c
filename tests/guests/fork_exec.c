/* Processes: fork and wait for exit codes and fatal signals, WNOHANG, a
 * pipe between parent and child, execve of this program and of a #!
 * script, and getppid in the child. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
		printf("exec'd child: argv[2]=%s\n", argv[2]);
		return 42;
	}
	setvbuf(stdout, NULL, _IONBF, 0);

	pid_t parent = getpid();
	pid_t p = fork();
	if (p == 0) {
		printf("child sees its parent: %s\n", getppid() == parent ? "yes" : "no");
		_exit(7);
	}
	int st;
	printf("waitpid returns the child: %s\n", waitpid(p, &st, 0) == p ? "yes" : "no");
	printf("exit status %d\n", WEXITSTATUS(st));

	p = fork();
	if (p == 0) {
		raise(SIGTERM);
		_exit(0);
	}
	waitpid(p, &st, 0);
	printf("killed by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);

	printf("no children left: %s\n", waitpid(-1, &st, WNOHANG) == -1 ? "ECHILD" : "?");

	int fds[2];
	pipe(fds);
	p = fork();
	if (p == 0) {
		close(fds[0]);
		const char *msg = "through the pipe";
		write(fds[1], msg, strlen(msg));
		_exit(0);
	}
	close(fds[1]);
	char buf[64] = {0};
	ssize_t n, total = 0;
	while ((n = read(fds[0], buf + total, sizeof buf - 1 - total)) > 0)
		total += n;
	waitpid(p, &st, 0);
	printf("parent read: %s\n", buf);

	p = fork();
	if (p == 0) {
		char *args[] = {argv[0], "exec-child", "hello", NULL};
		execv(argv[0], args);
		_exit(99);
	}
	waitpid(p, &st, 0);
	printf("exec'd child exit status %d\n", WEXITSTATUS(st));

	if (argc > 1) {
		/* argv[1] is a #! script that runs this program. */
		p = fork();
		if (p == 0) {
			char *args[] = {argv[1], NULL};
			execv(argv[1], args);
			_exit(98);
		}
		waitpid(p, &st, 0);
		printf("script exit status %d\n", WEXITSTATUS(st));
	}
	return 0;
}
