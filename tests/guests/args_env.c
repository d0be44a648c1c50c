/*
 * Prints what the loader handed the program: argv, a few environment
 * variables and the auxiliary-vector entries whose values are the same on
 * every run (no addresses that ASLR moves, only facts about them).
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;
extern char _start[]; /* the entry point, defined by crt1 in both libcs */

static const char *yes_no(int b)
{
	return b ? "yes" : "no";
}

static void print_env(const char *name)
{
	const char *v = getenv(name);

	printf("env %s=%s\n", name, v ? v : "(unset)");
}

int main(int argc, char **argv)
{
	int envc = 0;
	const unsigned char *random_bytes;
	unsigned char any = 0;
	const char *execfn;

	printf("argc %d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d] \"%s\" (%zu bytes)\n", i, argv[i], strlen(argv[i]));
	printf("argv[argc] is NULL: %s\n", yes_no(argv[argc] == NULL));

	for (char **e = environ; *e; e++)
		envc++;
	printf("envc %d\n", envc);
	print_env("PATH");
	print_env("HOME");
	print_env("LANG");
	print_env("RVISOR_TEST_VAR");
	print_env("RVISOR_TEST_UNSET");

	printf("AT_PAGESZ %lu\n", getauxval(AT_PAGESZ));
	printf("AT_CLKTCK %lu\n", getauxval(AT_CLKTCK));
	printf("AT_SECURE %lu\n", getauxval(AT_SECURE));
	/* A static executable has no interpreter, so no interpreter base. */
	printf("AT_BASE %lu\n", getauxval(AT_BASE));
	printf("AT_PHENT %lu (sizeof Elf64_Phdr %zu)\n", getauxval(AT_PHENT),
	       sizeof(Elf64_Phdr));
	printf("AT_PHNUM %lu\n", getauxval(AT_PHNUM));
	printf("AT_PHDR non-null: %s\n", yes_no(getauxval(AT_PHDR) != 0));
	printf("AT_ENTRY is _start: %s\n",
	       yes_no(getauxval(AT_ENTRY) == (unsigned long)_start));
	printf("AT_UID is getuid(): %s\n", yes_no(getauxval(AT_UID) == getuid()));
	printf("AT_EUID is geteuid(): %s\n",
	       yes_no(getauxval(AT_EUID) == geteuid()));
	printf("AT_GID is getgid(): %s\n", yes_no(getauxval(AT_GID) == getgid()));
	printf("AT_EGID is getegid(): %s\n",
	       yes_no(getauxval(AT_EGID) == getegid()));

	/* AT_RANDOM points at 16 random bytes; reading them must not fault. */
	random_bytes = (const unsigned char *)getauxval(AT_RANDOM);
	printf("AT_RANDOM non-null: %s\n", yes_no(random_bytes != NULL));
	if (random_bytes) {
		for (int i = 0; i < 16; i++)
			any |= random_bytes[i];
		printf("AT_RANDOM bytes not all zero: %s\n", yes_no(any != 0));
	}

	execfn = (const char *)getauxval(AT_EXECFN);
	printf("AT_EXECFN \"%s\"\n", execfn ? execfn : "(none)");
	return 0;
}
