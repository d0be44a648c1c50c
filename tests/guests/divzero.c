/*
 * Dies of SIGFPE (shell status 136) from an integer division by zero (#DE).
 *
 * Both operands are volatile so the compiler can neither fold the division
 * nor drop it as undefined behaviour.
 */
#include <stdio.h>

int main(void)
{
	volatile int dividend = 1;
	volatile int divisor = 0;
	int quotient;

	printf("about to divide by zero\n");
	fflush(stdout);
	quotient = dividend / divisor;
	printf("still alive, quotient %d\n", quotient);
	return 0;
}
