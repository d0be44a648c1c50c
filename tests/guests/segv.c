/*
 * Dies of SIGSEGV (shell status 139) by storing through a null pointer.
 *
 * Both the pointer and the pointee are volatile: the compiler must neither
 * see that the pointer is null (gcc would turn a known null store into ud2,
 * giving SIGILL) nor drop the store as dead.
 */
#include <stdio.h>

int main(void)
{
	volatile int *volatile p = NULL;

	/* Flushed first, to check output written before a fatal fault survives. */
	printf("about to store through NULL\n");
	fflush(stdout);
	*p = 42;
	printf("still alive after the store\n");
	return 0;
}
