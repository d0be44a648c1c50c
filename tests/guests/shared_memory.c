/* MAP_SHARED|MAP_ANONYMOUS memory stays shared across fork (both ways),
 * private memory does not, and a futex in shared memory wakes a waiter in
 * another process. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (256 * 1024)
/* From <linux/futex.h>, which musl-gcc does not see. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1

int main(void) {
	char *shared = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *private = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED || private == MAP_FAILED)
		return 1;
	memset(shared, 'p', SIZE);
	memset(private, 'p', SIZE);
	_Atomic int *word = (_Atomic int *)(shared + 128 * 1024);
	atomic_store(word, 0);

	pid_t child = fork();
	if (child == 0) {
		/* Sees the parent's data, then changes both kinds of memory. */
		int saw = shared[10] == 'p' && private[10] == 'p';
		memset(shared, 'c', 4096);
		memset(private, 'c', 4096);
		usleep(50000);
		atomic_store(word, 1);
		syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
		/* Wait for the parent's answer in shared memory. */
		while (atomic_load(word) != 2)
			syscall(SYS_futex, word, FUTEX_WAIT, 1, NULL, NULL, 0);
		_exit(saw && shared[SIZE - 1] == 'P' ? 0 : 3);
	}
	/* Sleep on the futex until the child wakes it (value 0 -> 1). */
	while (atomic_load(word) == 0)
		syscall(SYS_futex, word, FUTEX_WAIT, 0, NULL, NULL, 0);
	printf("parent woken by the child's futex wake: yes\n");
	printf("child's write to shared memory seen: %s\n", shared[0] == 'c' ? "yes" : "no");
	printf("child's write to private memory seen: %s\n", private[0] == 'c' ? "yes" : "no");
	shared[SIZE - 1] = 'P';
	atomic_store(word, 2);
	syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
	int st;
	waitpid(child, &st, 0);
	printf("child saw the parent's data and its later write: %s\n",
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	int shared_line = 0;
	while (maps && fgets(line, sizeof line, maps))
		if (strstr(line, "rw-s") && strstr(line, "/dev/zero"))
			shared_line = 1;
	printf("maps shows it shared: %s\n", shared_line ? "yes" : "no");
	return 0;
}
