/* mlock, mlock2, munlock, mlockall, munlockall, mincore, membarrier and
 * personality: their checks and what they report. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	long page = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report("mlock inside a page", mlock(m + 10, 100));
	report("munlock", munlock(m, 4 * page));
	report("mlock2 MLOCK_ONFAULT", syscall(SYS_mlock2, m, page, 1));
	report("mlock2 bad flag", syscall(SYS_mlock2, m, page, 2));
	munmap(m + 3 * page, page);
	report("mlock over a hole", mlock(m, 4 * page));
	report("munlock over a hole", munlock(m, 4 * page));
	report("mlockall 0", mlockall(0));
	report("mlockall MCL_ONFAULT alone", mlockall(MCL_ONFAULT));
	report("mlockall MCL_FUTURE", mlockall(MCL_FUTURE));
	report("munlockall", munlockall());

	m[0] = 1;
	m[2 * page] = 1;
	unsigned char vec[3] = { 9, 9, 9 };
	report("mincore", mincore(m, 3 * page, vec));
	/* Untouched pages may be resident too (the sandbox backs memory in
	 * larger pieces); the touched ones must be. */
	printf("touched pages resident: %s\n", (vec[0] & 1) && (vec[2] & 1) ? "yes" : "no");
	report("mincore unaligned", mincore(m + 1, page, vec));
	report("mincore over a hole", mincore(m, 4 * page, vec));
	report("mincore bad vector", mincore(m, page, (void *)8));

	long q = syscall(SYS_membarrier, 0, 0, 0);
	printf("membarrier query: GLOBAL %s, PRIVATE_EXPEDITED %s, REGISTER_PRIVATE_EXPEDITED %s\n",
	       q & 1 ? "yes" : "no", q & 8 ? "yes" : "no", q & 16 ? "yes" : "no");
	report("membarrier GLOBAL", syscall(SYS_membarrier, 1, 0, 0));
	report("PRIVATE_EXPEDITED unregistered", syscall(SYS_membarrier, 8, 0, 0));
	report("REGISTER_PRIVATE_EXPEDITED", syscall(SYS_membarrier, 16, 0, 0));
	report("PRIVATE_EXPEDITED", syscall(SYS_membarrier, 8, 0, 0));
	report("bad flags", syscall(SYS_membarrier, 1, 5, 0));
	report("unknown command", syscall(SYS_membarrier, 1 << 20, 0, 0));

	report("personality query", personality(0xffffffff));
	report("set ADDR_NO_RANDOMIZE", personality(ADDR_NO_RANDOMIZE));
	report("query again", personality(0xffffffff));
	pid_t child = fork();
	if (child == 0) {
		report("child inherits", personality(0xffffffff));
		_exit(0);
	}
	waitpid(child, NULL, 0);
	report("back to PER_LINUX", personality(PER_LINUX));
	return 0;
}
