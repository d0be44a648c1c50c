/* Smaller calls: preadv2/pwritev2 (offset -1, flags), utime, utimes and
 * futimesat, rt_tgsigqueueinfo. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

#include "errname.h"

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
}

static volatile sig_atomic_t got_value, got_code, got_tid;

static void on_sig(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	got_value = si->si_value.sival_int;
	got_code = si->si_code;
	got_tid = gettid();
}

int main(void)
{
	char path[] = "/tmp/misc-XXXXXX";
	int fd = mkstemp(path);
	char a[] = "hello ", b[] = "world";
	struct iovec w[2] = { { a, 6 }, { b, 5 } };
	report("pwritev2 at 0", syscall(SYS_pwritev2, fd, w, 2, 0L, 0L, 0));
	report("pwritev2 at the offset (-1)", syscall(SYS_pwritev2, fd, w, 1, -1L, 0L, 0));
	char buf[32] = { 0 };
	struct iovec r = { buf, sizeof buf - 1 };
	report("preadv2 at 0 with RWF_HIPRI", syscall(SYS_preadv2, fd, &r, 1, 0L, 0L, 1));
	printf("read: %s\n", buf);
	report("preadv2 unknown flag", syscall(SYS_preadv2, fd, &r, 1, 0L, 0L, 0x1000));
	report("preadv2 offset -2", syscall(SYS_preadv2, fd, &r, 1, -2L, 0L, 0));
	lseek(fd, 6, SEEK_SET);
	memset(buf, 0, sizeof buf);
	report("preadv2 at the offset (-1)", syscall(SYS_preadv2, fd, &r, 1, -1L, 0L, 0));
	printf("read: %s, offset now %ld\n", buf, (long)lseek(fd, 0, SEEK_CUR));

	struct stat st;
	struct utimbuf ub = { 1000000, 2000000 };
	report("utime", utime(path, &ub));
	stat(path, &st);
	printf("atime %ld mtime %ld\n", (long)st.st_atime, (long)st.st_mtime);
	struct timeval tv[2] = { { 3000000, 500000 }, { 4000000, 250000 } };
	report("utimes", utimes(path, tv));
	stat(path, &st);
	printf("atime %ld.%09ld mtime %ld.%09ld\n", (long)st.st_atime, st.st_atim.tv_nsec,
	       (long)st.st_mtime, st.st_mtim.tv_nsec);
	struct timeval bad[2] = { { 0, 1000000 }, { 0, 0 } };
	report("utimes usec 1e6", utimes(path, bad));
	report("utime of a missing file", utime("/tmp/no/such", &ub));
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	report("futimesat", syscall(SYS_futimesat, dir, path + 5, tv));
	report("utime NULL (now)", utime(path, NULL));
	stat(path, &st);
	printf("now is after 2001: %s\n", st.st_mtime > 1000000000 ? "yes" : "no");
	unlink(path);

	struct sigaction sa = { .sa_sigaction = on_sig, .sa_flags = SA_SIGINFO };
	sigaction(SIGUSR1, &sa, NULL);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_code = SI_QUEUE;
	si.si_value.sival_int = 77;
	si.si_pid = getpid();
	report("rt_tgsigqueueinfo to myself",
	       syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGUSR1, &si));
	printf("handler saw value %d, SI_QUEUE: %s, in me: %s\n", got_value,
	       got_code == SI_QUEUE ? "yes" : "no", got_tid == gettid() ? "yes" : "no");
	report("tid 0", syscall(SYS_rt_tgsigqueueinfo, getpid(), 0, SIGUSR1, &si));
	report("no such thread", syscall(SYS_rt_tgsigqueueinfo, getpid(), 999999, SIGUSR1, &si));
	si.si_code = SI_USER;
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	report("posing as kill to another process",
	       syscall(SYS_rt_tgsigqueueinfo, child, child, SIGUSR1, &si));
	si.si_code = SI_QUEUE;
	report("SI_QUEUE to another process", syscall(SYS_rt_tgsigqueueinfo, child, child, 0, &si));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	report("bad info pointer", syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGUSR1, (void *)8));
	return 0;
}
