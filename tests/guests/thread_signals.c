/* Signals and processes with threads: sigwait in a dedicated thread,
 * a signal for the process reaching the one thread that does not block
 * it, sigtimedwait timing out, fork from a thread, and execve from a
 * non-main thread (the new program keeps the pid). Prints only what is
 * the same on every run. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int waited;

static void *waiter(void *arg) {
	sigset_t *set = arg;
	for (int i = 0; i < 3; i++) {
		int sig;
		if (sigwait(set, &sig) != 0 || sig != SIGUSR1)
			return NULL;
		pthread_mutex_lock(&m);
		waited++;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&m);
	}
	return NULL;
}

static volatile pid_t handler_tid;
static pid_t worker_tid;
static void on_usr2(int sig) {
	(void)sig;
	handler_tid = tid();
}

static void *worker(void *arg) {
	(void)arg;
	worker_tid = tid();
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
	while (!handler_tid)
		usleep(1000);
	return NULL;
}

static void *forker(void *arg) {
	(void)arg;
	pid_t child = fork();
	if (child == 0)
		_exit(3);
	int st;
	waitpid(child, &st, 0);
	return (void *)(long)(WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static volatile int spin_stop;
static void on_spin_signal(int sig) {
	(void)sig;
	spin_stop = 1;
}

/* Spins in user mode, never entering the kernel, until a signal's handler
 * sets the flag. */
static void *spinner(void *arg) {
	(void)arg;
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	while (!spin_stop) {
	}
	return NULL;
}

static const char *self;
static void *execer(void *arg) {
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	(void)arg;
	execl(self, self, "exec-child", pid, (char *)NULL);
	printf("execl failed: %s\n", strerror(errno));
	exit(1);
}

static void *idle(void *arg) {
	(void)arg;
	for (;;)
		pause();
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "exec-child") == 0) {
		printf("exec from a thread: same pid: %s, tid == pid: %s\n",
		       atoi(argv[2]) == getpid() ? "yes" : "no", tid() == getpid() ? "yes" : "no");
		return 0;
	}
	self = argv[0];
	setvbuf(stdout, NULL, _IONBF, 0);

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigaddset(&usr1, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	sigdelset(&usr1, SIGUSR2);

	pthread_t w;
	pthread_create(&w, NULL, waiter, &usr1);
	for (int i = 1; i <= 3; i++) {
		kill(getpid(), SIGUSR1);
		pthread_mutex_lock(&m);
		while (waited < i)
			pthread_cond_wait(&cv, &m);
		pthread_mutex_unlock(&m);
	}
	pthread_join(w, NULL);
	printf("sigwait in a thread took %d signals for the process\n", waited);

	struct sigaction sa = {.sa_handler = on_usr2};
	sigaction(SIGUSR2, &sa, NULL);
	pthread_t h;
	pthread_create(&h, NULL, worker, NULL);
	while (!worker_tid)
		usleep(1000);
	usleep(20000);
	pid_t parent = getpid();
	if (fork() == 0) {
		kill(parent, SIGUSR2);
		_exit(0);
	}
	pthread_join(h, NULL);
	wait(NULL);
	printf("SIGUSR2 from another process ran in the one thread not blocking it: %s\n",
	       handler_tid == worker_tid ? "yes" : "no");

	struct timespec short_wait = {0, 50 * 1000 * 1000};
	int r = sigtimedwait(&usr1, NULL, &short_wait);
	printf("sigtimedwait with nothing pending: %d %s\n", r, strerror(errno));

	pthread_t f;
	void *code;
	pthread_create(&f, NULL, forker, NULL);
	pthread_join(f, &code);
	printf("fork from a thread: child status %ld\n", (long)code);

	struct sigaction spin = {.sa_handler = on_spin_signal};
	sigaction(SIGUSR1, &spin, NULL);
	pthread_t sp;
	pthread_create(&sp, NULL, spinner, NULL);
	usleep(20000);
	pthread_kill(sp, SIGUSR1);
	pthread_join(sp, NULL);
	printf("a thread spinning in user mode took a signal: %s\n", spin_stop ? "yes" : "no");

	pthread_t i1, i2, e;
	pthread_create(&i1, NULL, idle, NULL);
	pthread_create(&i2, NULL, idle, NULL);
	pthread_create(&e, NULL, execer, NULL);
	pthread_join(e, NULL);
	printf("not reached\n");
	return 1;
}
