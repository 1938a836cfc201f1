/*
 * microbench.c — per-file cost of the stages cbpscan runs on every object.
 *
 *   build/microbench DIR...
 *
 * Reads every regular file below DIR (heads and whole images into memory
 * first, so the disk is out of the measurement), then times, per file:
 *   - identification with the fast database (build/cbpscan.mgc) vs the
 *     system database (what `file --mime-type` runs), both on the 16 KiB
 *     head, both through libmagic's magic_buffer();
 *   - metadata extraction (cbp_meta_sniff + cbp_meta_extract) on images,
 *     and the sniff alone on non-images (all they pay).
 * Prints microseconds per file.  CPU time of this thread only, so other
 * load on the machine disturbs it little.
 *
 *   build/microbench --gzip DIR...
 *
 * Loads only the gzip files below DIR and times decompressing them all
 * with ISA-L (scanner/gunzip.c, what the scan uses) and with zlib (what
 * libarchive's gzip filter uses), in MB of output per CPU second.
 *
 *   build/microbench --floor N DIR...
 *
 * The decompression floor of a scan (issue 8): for every regular file below
 * DIR, read its 16 KiB head, and when the head says archive or compressed
 * stream (floor_is_container: magic numbers only), one libarchive pass
 * over it: every header, every member's data by blocks, nothing kept, no
 * identification, no rules.  N processes share the files (file i goes to
 * process i mod N), as the scan's N workers do.  Prints wall seconds, so it
 * sits beside `cbpscan scan --threads N` in one run (bench/run.sh).
 *   build/microbench --ident DIR...
 *
 * The one identification answer as the scan gets it (issue 9): for every
 * regular file below DIR, open it, read its head (not timed), then time
 * cbp_identify_object() on the file, probes (preads) included.  Prints CPU
 * microseconds per object and the work per object from the handle's
 * counters: libmagic calls, objects probed, reads past the head and their
 * bytes, and how many containers were found by a probe.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <magic.h>
#include <sys/wait.h>
#include <zlib.h>

#include "cbp_expand.h"
#include "cbp_gunzip.h"
#include "cbp_identify.h"
#include "cbp_limits.h"
#include "cbp_meta.h"

struct item {
	unsigned char *data;
	size_t len;
	int image;
};

static struct item *items;
static size_t nitems, aitems;
static const size_t max_items = 200000;
static int gzip_only;		/* --gzip: load gzip files whole, nothing else */

/* --ident: totals over the files walked. */
static struct cbp_identify *ident_id;
static double ident_cpu;
static uint64_t ident_hidden, ident_containers;

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
add_file(const char *path, const struct stat *st)
{
	int fd;
	size_t want = (size_t)st->st_size;
	unsigned char head[16];
	ssize_t n;
	struct item *it;

	if (nitems == max_items || (fd = open(path, O_RDONLY | O_NONBLOCK)) < 0)
		return;
	n = pread(fd, head, sizeof(head), 0);
	if (n < 0)
		n = 0;
	if (gzip_only != (n >= 3 && memcmp(head, "\x1f\x8b\x08", 3) == 0)) {
		close(fd);
		return;
	}
	/* Images are loaded whole (as the scan does for them); others, the head. */
	if (!gzip_only && cbp_meta_sniff(head, (size_t)n) == CBP_IMG_NONE &&
	    want > CBP_HEAD_BYTES)
		want = CBP_HEAD_BYTES;
	if (want > 64 * CBP_MIB)
		want = 64 * CBP_MIB;
	if (nitems == aitems) {
		aitems = aitems ? aitems * 2 : 1024;
		items = realloc(items, aitems * sizeof(*items));
	}
	it = &items[nitems];
	it->data = malloc(want ? want : 1);
	n = pread(fd, it->data, want, 0);
	close(fd);
	if (n < 0) {
		free(it->data);
		return;
	}
	it->len = (size_t)n;
	it->image = cbp_meta_sniff(it->data, it->len) != CBP_IMG_NONE;
	nitems++;
}

static void
walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			walk(path);
		else if (S_ISREG(st.st_mode))
			add_file(path, &st);
	}
	closedir(d);
}

/* --ident: one file as the scan meets it (fd, head, then identification). */
static void
ident_file(const char *path, const struct stat *st)
{
	struct cbp_object o;
	struct cbp_ident id;
	struct cbp_error e = { 0 };
	int fd = open(path, O_RDONLY | O_NONBLOCK);
	double t0;

	if (fd < 0)
		return;
	cbp_object_init(&o);
	o.path = o.name = path;
	o.fd = fd;
	o.size = (uint64_t)st->st_size;
	if (cbp_read_head(&o, CBP_HEAD_BYTES, &e) == CBP_OK) {
		t0 = cpu_s();
		(void)cbp_identify_object(ident_id, &o, &id, &e);
		ident_cpu += cpu_s() - t0;
		if (id.kind == CBP_KIND_ARCHIVE || id.kind == CBP_KIND_COMPRESSED)
			ident_containers++;
		if (id.hidden)
			ident_hidden++;
	}
	cbp_object_release(&o);
	close(fd);
}

static void
walk_ident(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			walk_ident(path);
		else if (S_ISREG(st.st_mode))
			ident_file(path, &st);
	}
	closedir(d);
}

static int
bench_ident(const char *db, char **dirs, int n)
{
	struct cbp_error err = { 0 };
	struct cbp_identify_stats st;
	double per;
	int i;

	if ((ident_id = cbp_identify_new(db, NULL, &err)) == NULL) {
		fprintf(stderr, "microbench: %s\n", err.message);
		return 2;
	}
	for (i = 0; i < n; i++)
		walk_ident(dirs[i]);
	cbp_identify_get_stats(ident_id, &st);
	per = st.objects ? 1.0 / (double)st.objects : 0;
	printf("objects: %llu (containers %llu, of them found by a probe %llu)\n",
	    (unsigned long long)st.objects, (unsigned long long)ident_containers,
	    (unsigned long long)ident_hidden);
	printf("identify (cbp_identify_object):    %8.2f us/object\n",
	    ident_cpu * per * 1e6);
	printf("libmagic calls:                    %8.3f per object\n",
	    (double)st.magic_calls * per);
	printf("objects probed past the head:      %8.3f per object\n",
	    (double)st.probes * per);
	printf("reads past the head:               %8.3f per object, %.0f bytes\n",
	    (double)st.probe_reads * per, (double)st.probe_bytes * per);
	cbp_identify_free(ident_id);
	return 0;
}

/* Identification cost: cbpscan's own handle (id) or the system database (m). */
static double
time_identify(struct cbp_identify *id, magic_t m)
{
	double t0 = cpu_s();
	size_t i;

	for (i = 0; i < nitems; i++) {
		size_t len = items[i].len < CBP_HEAD_BYTES ? items[i].len : CBP_HEAD_BYTES;
		if (id != NULL)
			(void)cbp_identify_mime(id, items[i].data, len);
		else
			(void)magic_buffer(m, items[i].data, len);
	}
	return nitems ? (cpu_s() - t0) / (double)nitems * 1e6 : 0;
}

/* ---- gzip: ISA-L (what the scan uses) against zlib ------------------ */

struct memsrc {
	const unsigned char *p;
	size_t len;
	int given;
};

static ssize_t
memsrc_read(void *arg, const unsigned char **p)
{
	struct memsrc *m = arg;

	if (m->given)
		return 0;
	m->given = 1;
	*p = m->p;
	return (ssize_t)m->len;
}

static size_t
gunzip_isal(const struct item *it, unsigned char *out, size_t cap)
{
	struct memsrc m = { it->data, it->len, 0 };
	struct cbp_gunzip *gz = cbp_gunzip_new(memsrc_read, &m);
	size_t total = 0;
	ssize_t n;

	if (gz == NULL)
		return 0;
	while ((n = cbp_gunzip_read(gz, out, cap)) > 0)
		total += (size_t)n;
	cbp_gunzip_free(gz);
	return total;
}

static size_t
gunzip_zlib(const struct item *it, unsigned char *out, size_t cap)
{
	z_stream z;
	size_t total = 0;
	int r;

	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return 0;
	z.next_in = it->data;
	z.avail_in = (uInt)it->len;
	for (;;) {
		z.next_out = out;
		z.avail_out = (uInt)cap;
		r = inflate(&z, Z_NO_FLUSH);
		total += cap - z.avail_out;
		/* Concatenated members, as gzip -d and the scan read them. */
		if (r == Z_STREAM_END && z.avail_in >= 3 &&
		    memcmp(z.next_in, "\x1f\x8b\x08", 3) == 0) {
			inflateReset(&z);
			continue;
		}
		if (r != Z_OK)
			break;
	}
	inflateEnd(&z);
	return total;
}

static int
bench_gzip(void)
{
	static unsigned char out[64 * 1024];
	size_t i, in = 0, made_isal = 0, made_zlib = 0;
	double t0, t_isal, t_zlib;

	for (i = 0; i < nitems; i++)
		in += items[i].len;
	t0 = cpu_s();
	for (i = 0; i < nitems; i++)
		made_isal += gunzip_isal(&items[i], out, sizeof out);
	t_isal = cpu_s() - t0;
	t0 = cpu_s();
	for (i = 0; i < nitems; i++)
		made_zlib += gunzip_zlib(&items[i], out, sizeof out);
	t_zlib = cpu_s() - t0;
	printf("gzip files: %zu, %.1f MB in, %.1f MB out\n", nitems, in / 1e6,
	    made_isal / 1e6);
	if (made_isal != made_zlib)
		printf("  (zlib made %zu bytes: the decoders disagree)\n", made_zlib);
	printf("gunzip, ISA-L (scanner/gunzip.c):       %8.0f MB/s (%.2f s)\n",
	    made_isal / 1e6 / t_isal, t_isal);
	printf("gunzip, zlib (libarchive's filter):     %8.0f MB/s (%.2f s)\n",
	    made_zlib / 1e6 / t_zlib, t_zlib);
	return made_isal == made_zlib ? 0 : 1;
}

/* ---- --floor: head read + one libarchive pass over every container ---- */

static char **fpaths;
static size_t nfpaths, afpaths;

static void
floor_walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			floor_walk(path);
		} else if (S_ISREG(st.st_mode)) {
			if (nfpaths == afpaths) {
				afpaths = afpaths ? 2 * afpaths : 1024;
				if ((fpaths = realloc(fpaths, afpaths *
				    sizeof(*fpaths))) == NULL)
					exit(2);
			}
			if ((fpaths[nfpaths++] = strdup(path)) == NULL)
				exit(2);
		}
	}
	closedir(d);
}

/*
 * The floor's own container test: leading magic numbers only, the least a
 * scanner could decide on (the scan's identification does more: libmagic,
 * hidden containers).  Bench code, not a second identification in the
 * scanner.
 */
static int
floor_is_container(const unsigned char *h, size_t n)
{
	static const struct { const char *m; size_t len, off; } magic[] = {
		{ "PK\3\4", 4, 0 }, { "\x1f\x8b", 2, 0 },
		{ "7z\xbc\xaf\x27\x1c", 6, 0 }, { "\xfd" "7zXZ", 5, 0 },
		{ "BZh", 3, 0 }, { "\x28\xb5\x2f\xfd", 4, 0 },
		{ "Rar!\x1a\x07", 6, 0 }, { "ustar", 5, 257 },
		{ "070707", 6, 0 }, { "07070", 5, 0 }, { "MSCF", 4, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if (n >= magic[i].off + magic[i].len &&
		    memcmp(h + magic[i].off, magic[i].m, magic[i].len) == 0)
			return 1;
	return 0;
}

static void
floor_one(const char *path, unsigned char *head, size_t *containers)
{
	struct archive *a;
	struct archive_entry *e;
	const void *buf;
	size_t len;
	la_int64_t off;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = pread(fd, head, CBP_HEAD_BYTES, 0);
	if (n > 0 && floor_is_container(head, (size_t)n) &&
	    (a = archive_read_new()) != NULL) {
		(*containers)++;
		archive_read_support_filter_all(a);
		archive_read_support_format_all(a);
		archive_read_support_format_raw(a);
		if (archive_read_open_fd(a, fd, 64 * 1024) == ARCHIVE_OK)
			while (archive_read_next_header(a, &e) == ARCHIVE_OK)
				while (archive_read_data_block(a, &buf, &len,
				    &off) == ARCHIVE_OK)
					;
		archive_read_free(a);
	}
	close(fd);
}

static int
bench_floor(unsigned nproc)
{
	unsigned char *head = malloc(CBP_HEAD_BYTES);
	struct timespec t0, t1;
	size_t i, containers = 0;
	unsigned p;
	pid_t pid;

	if (head == NULL)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (p = 0; p < nproc; p++) {
		if ((pid = fork()) < 0)
			return 2;
		if (pid == 0) {
			for (i = p; i < nfpaths; i += nproc)
				floor_one(fpaths[i], head, &containers);
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < nfpaths; i++) {
		ssize_t n;
		int fd = open(fpaths[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		n = pread(fd, head, CBP_HEAD_BYTES, 0);
		if (n > 0 && floor_is_container(head, (size_t)n))
			containers++;
		close(fd);
	}
	printf("floor: %zu files, %zu containers, %u process%s: %.2f s\n",
	    nfpaths, containers, nproc, nproc == 1 ? "" : "es",
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(head);
	return 0;
}

int
main(int argc, char **argv)
{
	struct cbp_error err = { 0 };
	struct cbp_identify *fast;
	magic_t full;
	/* A developer tool run from the top of the tree: the build's database. */
	const char *db = getenv("CBPSCAN_MAGIC") != NULL ?
	    getenv("CBPSCAN_MAGIC") : "build/cbpscan.mgc";
	size_t i, nimg = 0, nother = 0;
	double t0, meta_img = 0, meta_other = 0;
	size_t bytes_img = 0;

	if (argc >= 4 && strcmp(argv[1], "--floor") == 0) {
		unsigned np = (unsigned)strtoul(argv[2], NULL, 10);

		for (i = 3; i < (size_t)argc; i++)
			floor_walk(argv[i]);
		return bench_floor(np > 0 && np <= 64 ? np : 1);
	}
	if (argc >= 3 && strcmp(argv[1], "--ident") == 0)
		return bench_ident(db, argv + 2, argc - 2);
	if (argc >= 2 && strcmp(argv[1], "--gzip") == 0) {
		gzip_only = 1;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: microbench [--gzip | --ident] DIR...\n"
		    "       microbench --floor N DIR...\n");
		return 2;
	}
	for (i = 1; i < (size_t)argc; i++)
		walk(argv[i]);
	if (gzip_only)
		return bench_gzip();
	if (access(db, R_OK) != 0) {
		fprintf(stderr, "microbench: %s not found (run make)\n", db);
		return 2;
	}
	fast = cbp_identify_new(db, NULL, &err);
	full = magic_open(MAGIC_MIME_TYPE);
	if (fast == NULL || full == NULL || magic_load(full, NULL) != 0) {
		fprintf(stderr, "microbench: cannot load magic databases\n");
		return 2;
	}
	for (i = 0; i < nitems; i++) {
		struct cbp_meta m;
		if (items[i].image) {
			t0 = cpu_s();
			memset(&m, 0, sizeof(m));
			(void)cbp_meta_extract(items[i].data, items[i].len, 1, &m);
			cbp_meta_free(&m);
			meta_img += cpu_s() - t0;
			bytes_img += items[i].len;
			nimg++;
		} else {
			t0 = cpu_s();
			(void)cbp_meta_sniff(items[i].data, items[i].len);
			meta_other += cpu_s() - t0;
			nother++;
		}
	}
	printf("files: %zu (%zu images, %zu other)\n", nitems, nimg, nother);
	printf("identify, fast database (cbpscan.mgc):  %8.2f us/file\n", time_identify(fast, NULL));
	printf("identify, system database (file(1)):    %8.2f us/file\n", time_identify(NULL, full));
	if (nimg)
		printf("metadata extraction, images:            %8.2f us/image (avg %.0f kB)\n",
		    meta_img / (double)nimg * 1e6, (double)bytes_img / (double)nimg / 1e3);
	if (nother)
		printf("metadata, non-images (sniff only):      %8.3f us/file\n",
		    meta_other / (double)nother * 1e6);
	cbp_identify_free(fast);
	magic_close(full);
	return 0;
}
