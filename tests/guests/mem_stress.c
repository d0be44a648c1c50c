/*
 * Memory-management stress: anonymous mmap, munmap (including splitting a
 * mapping), mremap (grow, move, shrink), mprotect, raw brk, and malloc on
 * top of them. Each round maps 256 MiB, fills every 64-bit word with a value
 * derived from its offset, reads everything back and frees it; later rounds
 * get memory the earlier ones freed, which must come back zero-filled.
 *
 * Printed checksums depend only on offsets and the round number, never on
 * addresses, so native and sandboxed runs print the same. Exit status 0 only
 * if every check held.
 */
#define _GNU_SOURCE /* mremap */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MIB (1024ul * 1024ul)
#define PAGE 4096ul
#define ROUNDS 3
#define CHUNKS 8
#define CHUNK (32 * MIB) /* CHUNKS * CHUNK = 256 MiB */

static int failures;

static void check(int ok, const char *what, int round)
{
	if (!ok) {
		printf("round %d: CHECK FAILED: %s\n", round, what);
		failures++;
	}
}

/* A cheap bijective mix (splitmix64 finaliser) so neighbouring words differ. */
static uint64_t word_value(uint64_t index, uint64_t seed)
{
	uint64_t z = index + seed * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Fills words [from, to) of p. Returns how many were non-zero beforehand:
 * memory the program has not written yet must read as zero.
 */
static uint64_t fill(uint64_t *p, size_t from, size_t to, uint64_t seed)
{
	uint64_t dirty = 0;

	for (size_t i = from; i < to; i++) {
		dirty += p[i] != 0;
		p[i] = word_value(i, seed);
	}
	return dirty;
}

/* Returns the number of words in [from, to) that do not hold their value. */
static uint64_t verify(const uint64_t *p, size_t from, size_t to, uint64_t seed,
		       uint64_t *sum)
{
	uint64_t bad = 0;

	for (size_t i = from; i < to; i++) {
		bad += p[i] != word_value(i, seed);
		*sum += p[i];
	}
	return bad;
}

static uint64_t *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("mmap of %zu bytes failed\n", len);
		exit(1);
	}
	return p;
}

#define WORDS(bytes) ((bytes) / sizeof(uint64_t))

static void mmap_round(int round)
{
	uint64_t *chunk[CHUNKS];
	uint64_t dirty = 0, bad = 0, sum = 0;
	uint64_t seed = (uint64_t)round;

	for (int c = 0; c < CHUNKS; c++) {
		chunk[c] = map_anon(CHUNK);
		dirty += fill(chunk[c], 0, WORDS(CHUNK), seed + c);
	}
	for (int c = 0; c < CHUNKS; c++)
		bad += verify(chunk[c], 0, WORDS(CHUNK), seed + c, &sum);
	printf("round %d: mmap 256 MiB checksum %016llx\n", round,
	       (unsigned long long)sum);
	check(dirty == 0, "fresh mmap memory is zero", round);
	check(bad == 0, "mmap memory holds what was written", round);

	/* mprotect: read-only and inaccessible phases must keep the contents. */
	sum = 0;
	check(mprotect(chunk[0], CHUNK, PROT_READ) == 0, "mprotect PROT_READ", round);
	bad = verify(chunk[0], 0, WORDS(CHUNK), seed, &sum);
	check(mprotect(chunk[0], CHUNK, PROT_NONE) == 0, "mprotect PROT_NONE", round);
	check(mprotect(chunk[0], CHUNK, PROT_READ | PROT_WRITE) == 0,
	      "mprotect back to RW", round);
	bad += verify(chunk[0], 0, WORDS(CHUNK), seed, &sum);
	check(bad == 0, "contents survive mprotect", round);

	/* mremap: grow (may move), the old part keeps its data, the new is zero. */
	{
		uint64_t *grown = mremap(chunk[1], CHUNK, 2 * CHUNK, MREMAP_MAYMOVE);

		check(grown != MAP_FAILED, "mremap grow", round);
		if (grown != MAP_FAILED) {
			sum = 0;
			bad = verify(grown, 0, WORDS(CHUNK), seed + 1, &sum);
			check(bad == 0, "mremap kept the old contents", round);
			dirty = fill(grown, WORDS(CHUNK), WORDS(2 * CHUNK), seed + 1);
			check(dirty == 0, "mremap's new part is zero", round);
			bad = verify(grown, 0, WORDS(2 * CHUNK), seed + 1, &sum);
			check(bad == 0, "grown mapping verifies", round);
			chunk[1] = mremap(grown, 2 * CHUNK, CHUNK / 2, 0);
			check(chunk[1] == grown, "mremap shrink stays in place", round);
			bad = verify(chunk[1], 0, WORDS(CHUNK / 2), seed + 1, &sum);
			check(bad == 0, "shrunk mapping verifies", round);
			printf("round %d: mremap checksum %016llx\n", round,
			       (unsigned long long)sum);
			munmap(chunk[1], CHUNK / 2);
		}
	}

	/* munmap a hole in the middle: the two sides must stay intact. */
	{
		char *base = (char *)chunk[2];
		size_t hole = 4 * MIB, hole_len = 1 * MIB;

		check(munmap(base + hole, hole_len) == 0, "munmap a hole", round);
		sum = 0;
		bad = verify(chunk[2], 0, WORDS(hole), seed + 2, &sum);
		bad += verify(chunk[2], WORDS(hole + hole_len), WORDS(CHUNK),
			      seed + 2, &sum);
		check(bad == 0, "both sides of the hole verify", round);
		/* Remapping the hole with MAP_FIXED must give fresh zero pages. */
		check(mmap(base + hole, hole_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
			      base + hole,
		      "MAP_FIXED into the hole", round);
		dirty = fill(chunk[2], WORDS(hole), WORDS(hole + hole_len), 7);
		check(dirty == 0, "refilled hole was zero", round);
		printf("round %d: split-mapping checksum %016llx\n", round,
		       (unsigned long long)sum);
	}

	for (int c = 0; c < CHUNKS; c++)
		if (c != 1)
			check(munmap(chunk[c], CHUNK) == 0, "munmap", round);
}

/*
 * Raw brk(2): musl's sbrk() refuses non-zero increments, and the sandbox's
 * brk is what we want to test anyway. The system call returns the new break,
 * or the old one when it refuses.
 */
static char *brk_to(char *addr)
{
	return (char *)syscall(SYS_brk, addr);
}

static void brk_round(int round)
{
	char *start = brk_to(NULL);
	uint64_t dirty = 0, bad = 0, sum = 0;
	uint64_t *heap = (uint64_t *)start;
	size_t steps = 32;

	/* Grow 1 MiB at a time, touching each piece as it arrives. */
	for (size_t i = 1; i <= steps; i++) {
		char *want = start + i * MIB;

		if (brk_to(want) != want) {
			check(0, "brk grow", round);
			return;
		}
		dirty += fill(heap, WORDS((i - 1) * MIB), WORDS(i * MIB), 100 + round);
	}
	bad = verify(heap, 0, WORDS(steps * MIB), 100 + round, &sum);
	check(dirty == 0, "new brk memory is zero", round);
	check(bad == 0, "brk memory verifies", round);

	/* Shrink by half, then grow back: the returned pages must be zero again. */
	check(brk_to(start + 16 * MIB) == start + 16 * MIB, "brk shrink", round);
	check(brk_to(start + 32 * MIB) == start + 32 * MIB, "brk regrow", round);
	bad = verify(heap, 0, WORDS(16 * MIB), 100 + round, &sum);
	check(bad == 0, "brk memory below the shrink point survives", round);
	dirty = fill(heap, WORDS(16 * MIB), WORDS(32 * MIB), 100 + round);
	check(dirty == 0, "regrown brk memory is zero", round);
	check(brk_to(start) == start, "brk back to the start", round);
	check(brk_to(NULL) == start, "brk(0) reports the start", round);
	printf("round %d: brk 32 MiB checksum %016llx\n", round,
	       (unsigned long long)sum);
}

/* malloc/calloc/realloc of mixed sizes, on whatever the libc builds them on. */
static void malloc_round(int round)
{
	enum { N = 2000 };
	static unsigned char *block[N];
	static size_t len[N];
	uint64_t sum = 0;
	size_t bad = 0;

	for (int i = 0; i < N; i++) {
		/* Mostly small blocks, every 100th large enough to be mmapped. */
		len[i] = i % 100 == 0 ? 1 * MIB + (size_t)i : 16 + (size_t)(i * 37 % 5000);
		block[i] = calloc(1, len[i]);
		if (!block[i]) {
			check(0, "calloc", round);
			return;
		}
		for (size_t j = 0; j < len[i]; j++)
			bad += block[i][j] != 0;
		memset(block[i], (i + round) & 0xff, len[i]);
	}
	check(bad == 0, "calloc memory is zero", round);
	for (int i = 0; i < N; i += 2) {
		block[i] = realloc(block[i], len[i] * 2);
		check(block[i] != NULL, "realloc", round);
		memset(block[i] + len[i], (i + round) & 0xff, len[i]);
		len[i] *= 2;
	}
	for (int i = 0; i < N; i++) {
		for (size_t j = 0; j < len[i]; j++) {
			bad += block[i][j] != ((i + round) & 0xff);
			sum += block[i][j];
		}
		free(block[i]);
	}
	check(bad == 0, "malloc blocks verify", round);
	printf("round %d: malloc checksum %016llx\n", round,
	       (unsigned long long)sum);
}

int main(void)
{
	for (int round = 0; round < ROUNDS; round++) {
		mmap_round(round);
		brk_round(round);
		malloc_round(round);
	}
	printf("failures %d\n", failures);
	return failures ? 1 : 0;
}
