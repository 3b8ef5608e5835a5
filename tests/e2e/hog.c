/* e2e-hog: the deliberate memory hog of the end-to-end test.
 *
 * Fills N MiB of anonymous memory with data that can be regenerated from
 * (seed, page index), so that a verification pass proves every page that
 * went to swap came back bit for bit, and names the first bad page if not.
 * On purpose, one page in eight is all zeros and one in eight is one
 * 8-byte word repeated (the daemon keeps such pages as their word; they
 * must come back as they were), and one in 32 is such a word with its last
 * one different (data, which must not be taken for a same-filled page).
 *
 *   e2e-hog MIB SEED READYFILE
 *   e2e-hog --image MIB SEED FILE
 *
 * After filling it writes READYFILE and waits: SIGUSR1 verifies every page
 * (touching them all, so swapped pages are read back) and prints one line;
 * SIGTERM exits 0 if every pass was good (and there was one), else 1; it
 * does not verify again, since under TCG each pass costs the test time.
 * With --image it writes the same pages to FILE instead and prints how
 * many are same-filled (zeros included), as zram and the daemon count
 * them.
 * Built static so the guest needs no extra libraries for it. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u
#define WORDS (PAGE / sizeof(uint64_t))

static uint64_t mix(uint64_t x)
{
	/* splitmix64 finaliser: cheap, and different for every (seed, page) */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int zero_page(size_t i) { return i % 8 == 7; }
static int same_page(size_t i) { return i % 8 == 3; }
static int nearly_same_page(size_t i) { return i % 32 == 13; }

static void fill_page(uint64_t *p, uint64_t seed, size_t i)
{
	uint64_t s = mix(seed ^ (i * 0x100000001b3ull));
	if (zero_page(i)) {
		memset(p, 0, PAGE);
		return;
	}
	if (same_page(i) || nearly_same_page(i)) {
		for (size_t w = 0; w < WORDS; w++)
			p[w] = s;
		if (nearly_same_page(i))
			p[WORDS - 1] = ~s;
		return;
	}
	for (size_t w = 0; w < WORDS; w++) {
		s ^= s << 13; s ^= s >> 7; s ^= s << 17; /* xorshift64 */
		p[w] = s;
	}
}

/* FNV-1a over 64-bit words: a checksum to print, not to trust alone */
static uint64_t sum_page(const uint64_t *p, uint64_t h)
{
	for (size_t w = 0; w < WORDS; w++)
		h = (h ^ p[w]) * 0x100000001b3ull;
	return h;
}

static int verify(uint64_t *mem, size_t pages, uint64_t seed, const char *why)
{
	static uint64_t want[WORDS];
	size_t bad = 0, first = 0;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < pages; i++) {
		uint64_t *p = mem + i * WORDS;
		fill_page(want, seed, i);
		h = sum_page(p, h);
		if (memcmp(p, want, PAGE) != 0) {
			if (!bad)
				first = i;
			bad++;
		}
	}
	if (bad)
		printf("hog: verify(%s) BAD pages=%zu of %zu first=%zu sum=%016llx\n",
		       why, bad, pages, first, (unsigned long long)h);
	else
		printf("hog: verify(%s) ok pages=%zu sum=%016llx\n", why, pages,
		       (unsigned long long)h);
	fflush(stdout);
	return bad == 0;
}

static int image(size_t pages, uint64_t seed, const char *path)
{
	static uint64_t p[WORDS];
	size_t same = 0;
	FILE *f = fopen(path, "w");
	if (!f) {
		perror("e2e-hog: image");
		return 1;
	}
	for (size_t i = 0; i < pages; i++) {
		fill_page(p, seed, i);
		same += zero_page(i) || same_page(i);
		if (fwrite(p, PAGE, 1, f) != 1)
			break;
	}
	int err = ferror(f);
	if (fclose(f) != 0 || err) {
		perror("e2e-hog: image");
		return 1;
	}
	printf("pages=%zu same=%zu\n", pages, same);
	return 0;
}

int main(int argc, char **argv)
{
	int img = argc == 5 && !strcmp(argv[1], "--image");
	if (argc != 4 && !img) {
		fprintf(stderr, "usage: e2e-hog MIB SEED READYFILE\n"
		                "       e2e-hog --image MIB SEED FILE\n");
		return 2;
	}
	size_t mib = strtoull(argv[1 + img], NULL, 10);
	uint64_t seed = strtoull(argv[2 + img], NULL, 0);
	size_t pages = mib * (1024 * 1024 / PAGE);
	if (!pages) {
		fprintf(stderr, "e2e-hog: bad size '%s'\n", argv[1 + img]);
		return 2;
	}
	if (img)
		return image(pages, seed, argv[4]);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	uint64_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("e2e-hog: mmap");
		return 1;
	}
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < pages; i++) {
		fill_page(mem + i * WORDS, seed, i);
		h = sum_page(mem + i * WORDS, h);
	}
	printf("hog: filled %zu MiB pages=%zu sum=%016llx\n", mib, pages,
	       (unsigned long long)h);
	fflush(stdout);

	FILE *f = fopen(argv[3], "w");
	if (!f || fclose(f) != 0) {
		perror("e2e-hog: ready file");
		return 1;
	}

	int good = 1, passes = 0, sig;
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM) {
			printf("hog: exit after %d verify pass(es), %s\n", passes,
			       good && passes ? "all ok" : "NOT all ok");
			return good && passes ? 0 : 1;
		}
		good &= verify(mem, pages, seed, "usr1");
		passes++;
	}
}
