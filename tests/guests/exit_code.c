/* Exits with the status given as argv[1]; the harness tries every 0..=255. */
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 255;
	exit(atoi(argv[1]));
}
