/* NUMA policies on a one-node machine: get_mempolicy, set_mempolicy and
 * mbind, their answers and errors. */
#define _GNU_SOURCE
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include "errname.h"
#define P(name, call) do { errno = 0; long _r = (call); printf("%s: %ld %s\n", name, _r, _r < 0 ? errname(errno) : "ok"); } while (0)
int main(void)
{
	/* The sandbox is one node; natively a bigger machine answers
	 * otherwise, so only one-node hosts compare. */
	if (access("/sys/devices/system/node/node1", F_OK) == 0) {
		printf("more than one NUMA node: skipped\n");
		return 0;
	}
 int mode=-1; unsigned long mask[2]={0,0};
 P("get null", syscall(SYS_get_mempolicy, NULL, NULL, 0, 0, 0));
 P("get mode", syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 0)); printf("mode %d\n", mode);
 P("get mask maxnode 0", syscall(SYS_get_mempolicy, &mode, mask, 0, 0, 0));
 P("get mask maxnode 64", syscall(SYS_get_mempolicy, &mode, mask, 64, 0, 0)); printf("mask %lx\n", mask[0]);
 P("mems allowed", syscall(SYS_get_mempolicy, &mode, mask, 64, 0, 4)); printf("mode %d mask %lx\n", mode, mask[0]);
 char *m = mmap(0, 4096, 3, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0); m[0]=1;
 P("node of addr", syscall(SYS_get_mempolicy, &mode, NULL, 0, m, 3)); printf("node %d\n", mode);
 P("F_NODE alone", syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 1));
 P("F_ADDR unmapped", syscall(SYS_get_mempolicy, &mode, NULL, 0, (void*)4096, 2));
 P("bad flags", syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 8));
 P("allowed+addr", syscall(SYS_get_mempolicy, &mode, NULL, 0, m, 6));
 mask[0]=1;
 P("set bind 0", syscall(SYS_set_mempolicy, 2, mask, 64));
 P("get after", syscall(SYS_get_mempolicy, &mode, mask, 64, 0, 0)); printf("mode %d mask %lx\n", mode, mask[0]);
 mask[0]=2;
 P("set bind 1", syscall(SYS_set_mempolicy, 2, mask, 64));
 P("set default with mask", syscall(SYS_set_mempolicy, 0, mask, 64));
 P("set default", syscall(SYS_set_mempolicy, 0, NULL, 0));
 P("set bad mode", syscall(SYS_set_mempolicy, 9, NULL, 0));
 P("set interleave empty", syscall(SYS_set_mempolicy, 3, NULL, 0));
 mask[0]=1;
 P("mbind", syscall(SYS_mbind, m, 4096, 2, mask, 64, 0));
 P("mbind unaligned", syscall(SYS_mbind, m+1, 4096, 2, mask, 64, 0));
 P("mbind unmapped", syscall(SYS_mbind, (void*)4096, 4096, 2, mask, 64, 0));
 P("mbind bad flags", syscall(SYS_mbind, m, 4096, 2, mask, 64, 1<<10));
}
