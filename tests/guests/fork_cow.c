/* Copy-on-write across fork: a parent fills a large buffer and forks
 * children that each change their own part of it (by plain stores and by
 * read() from a pipe, which the kernel writes), then check that they see
 * their own writes and the parent's data everywhere else; the parent
 * changes the buffer while they live and checks at the end that its data
 * holds only its own writes. Last, a thread keeps writing while its
 * process forks: the child's copy must not change afterwards. Prints only
 * what is the same on every run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (16 << 20)
#define CHILDREN 4
#define PART (SIZE / CHILDREN)

static unsigned char *buf;

static unsigned char original(size_t i) { return (unsigned char)(i * 7 + (i >> 12)); }

/* The first offset in [lo, hi) that does not hold the original byte, or hi. */
static size_t first_changed(size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++)
		if (buf[i] != original(i))
			return i;
	return hi;
}

/* Child n: change part n (one spot by read() from a pipe, which the
 * kernel writes into a still-shared page, then every 3rd page by stores),
 * and check it and the others. */
static int child(int n, int pipe_fd)
{
	size_t lo = (size_t)n * PART, hi = lo + PART;
	char msg[64];
	int len = snprintf(msg, sizeof msg, "child %d was here", n);
	size_t at = lo + 4096 + 100;
	if (read(pipe_fd, buf + at, (size_t)len) != len)
		return 10;
	for (size_t i = lo; i < hi; i += 3 * 4096)
		memset(buf + i, 0x40 + n, 4096);
	if (memcmp(buf + at, msg, (size_t)len) != 0)
		return 11;
	for (size_t i = lo; i < hi; i++) {
		if (i >= at && i < at + (size_t)len)
			continue;
		int changed = (i - lo) % (3 * 4096) < 4096;
		if (buf[i] != (changed ? 0x40 + n : original(i)))
			return 12;
	}
	if (first_changed(0, lo) != lo || first_changed(hi, SIZE) != SIZE)
		return 13;
	/* Wait until the parent has written too; it must stay invisible. */
	char go;
	if (read(pipe_fd, &go, 1) != 1)
		return 14;
	if (first_changed(0, lo) != lo)
		return 15;
	return 0;
}

/* A thread that keeps counting into the first page of its buffer. */
static atomic_int stop;
static volatile unsigned long *counter;

static void *spin(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		(*counter)++;
	return NULL;
}

static int fork_while_a_thread_writes(void)
{
	counter = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (counter == MAP_FAILED)
		return -1;
	pthread_t t;
	if (pthread_create(&t, NULL, spin, NULL) != 0)
		return -1;
	while (*counter < 1000)
		sched_yield();
	int bad = 0;
	for (int round = 0; round < 5; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			unsigned long seen = *counter;
			for (int i = 0; i < 200; i++) {
				usleep(100);
				if (*counter != seen)
					_exit(1);
			}
			_exit(0);
		}
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bad++;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	return bad;
}

int main(void)
{
	buf = malloc(SIZE);
	if (!buf)
		return 1;
	for (size_t i = 0; i < SIZE; i++)
		buf[i] = original(i);

	int pipes[CHILDREN][2];
	pid_t pids[CHILDREN];
	for (int n = 0; n < CHILDREN; n++) {
		if (pipe(pipes[n]) != 0)
			return 1;
		pids[n] = fork();
		if (pids[n] < 0)
			return 1;
		if (pids[n] == 0)
			_exit(child(n, pipes[n][0]));
	}
	for (int n = 0; n < CHILDREN; n++) {
		char msg[64];
		int len = snprintf(msg, sizeof msg, "child %d was here", n);
		if (write(pipes[n][1], msg, (size_t)len) != len)
			return 1;
	}
	/* The parent's own writes, while the children still look: the last
	 * byte of every page of part 0 (the children check part 0 last). */
	for (size_t i = 4095; i < PART; i += 4096)
		buf[i] = 0xff;
	for (int n = 0; n < CHILDREN; n++) {
		if (write(pipes[n][1], "g", 1) != 1)
			return 1;
	}
	for (int n = 0; n < CHILDREN; n++) {
		int status;
		if (waitpid(pids[n], &status, 0) != pids[n])
			return 1;
		printf("child %d: exit %d\n", n, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	size_t bad = 0;
	for (size_t i = 0; i < SIZE; i++) {
		unsigned char want = (i < PART && i % 4096 == 4095) ? 0xff : original(i);
		bad += buf[i] != want;
	}
	printf("parent: %zu bytes differ from its own data\n", bad);
	printf("forks while a thread writes: %d children saw it\n", fork_while_a_thread_writes());
	return 0;
}
