/* SIGALRM from setitimer and alarm: pause() and sigsuspend() wake with
 * EINTR after the handler ran, nanosleep is interrupted and reports the
 * time left, the interval re-arms, and the mask is restored after
 * sigsuspend. Prints only what is the same on every run. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

static void arm(long usec, long interval_usec) {
	struct itimerval it = {{0, interval_usec}, {0, usec}};
	setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGALRM, on_alarm);

	arm(20000, 0);
	int r = pause();
	printf("pause: %d %s, alarms=%d\n", r, strerror(errno), alarms);

	arm(20000, 0);
	struct timespec req = {5, 0}, rem = {0, 0};
	r = nanosleep(&req, &rem);
	printf("nanosleep: %d %s, rem between 4 and 5 s: %s\n", r, strerror(errno),
	       rem.tv_sec >= 4 && rem.tv_sec < 5 ? "yes" : "no");

	sigset_t block, empty, now;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &block, NULL);
	arm(20000, 0);
	r = sigsuspend(&empty);
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("sigsuspend: %d %s, alarms=%d, SIGALRM blocked again: %s\n", r, strerror(errno), alarms,
	       sigismember(&now, SIGALRM) ? "yes" : "no");
	sigprocmask(SIG_UNBLOCK, &block, NULL);

	/* SIGALRM stays blocked outside sigsuspend, so exactly one alarm is
	 * handled per wake-up and none lands between the loop and the print,
	 * however loaded the machine is. */
	sigprocmask(SIG_BLOCK, &block, NULL);
	arm(10000, 10000);
	while (alarms < 6)
		sigsuspend(&empty);
	struct itimerval cur;
	getitimer(ITIMER_REAL, &cur);
	printf("interval timer: alarms=%d interval=%ldus\n", alarms, (long)cur.it_interval.tv_usec);
	arm(0, 0);
	sigprocmask(SIG_UNBLOCK, &block, NULL);

	printf("alarm(5) then alarm(0) returns %u\n", (alarm(5), alarm(0)));
	alarm(1);
	signal(SIGALRM, SIG_DFL);
	pause();
	printf("not reached\n");
	return 0;
}
