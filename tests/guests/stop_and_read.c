/* A program a host shell runs in the foreground and stops with ^Z: it
 * waits for a line on the terminal, says when SIGCONT reaches it (its
 * handler restarts the read), and once it has the line whether its group
 * is the terminal's foreground again. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_cont(int sig)
{
	(void)sig;
	static const char msg[] = "continued\n";
	if (write(1, msg, sizeof msg - 1) < 0)
		_exit(1);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_cont;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCONT, &sa, NULL);
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("reading a line\n");
	char line[64];
	if (!fgets(line, sizeof line, stdin)) {
		printf("no line\n");
		return 1;
	}
	printf("got %s", line);
	printf("in front: %s\n", tcgetpgrp(0) == getpgrp() ? "yes" : "no");
	return 0;
}
