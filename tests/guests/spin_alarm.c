/* A guest spinning in user mode, making no system calls, must still get
 * its SIGALRM promptly: the platform interrupts running guest code. */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>

static volatile int flag;
static void on_alarm(int sig) { (void)sig; flag = 1; }

int main(void) {
	signal(SIGALRM, on_alarm);
	struct itimerval it = {{0, 0}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, 0);
	while (!flag)
		;
	puts("woke from spin");
	return 0;
}
