/*
 * test_identify.c — the one identification answer (cbp_identify.h).
 *
 * Uses the fast database make unit names in CBPSCAN_MAGIC (build/cbpscan.mgc
 * compiled from rules/cbpscan.magic), as the scan does: each case checks the
 * whole answer (kind, format, image, record, offset, hidden) and, for the
 * probes, what they cost (the handle's counters).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cmocka.h>

#include "cbp_identify.h"
#include "cbp_limits.h"

static struct cbp_identify *g_id;

static int
setup(void **state)
{
	struct cbp_error e = { 0 };

	(void)state;
	if (getenv("CBPSCAN_MAGIC") == NULL)
		return -1;
	g_id = cbp_identify_new(getenv("CBPSCAN_MAGIC"), NULL, &e);
	return g_id != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	cbp_identify_free(g_id);
	return 0;
}

/* Identify bytes held in memory, as an archive member is. */
static struct cbp_ident
ident_mem(const void *p, size_t n)
{
	struct cbp_object o;
	struct cbp_ident id;
	struct cbp_error e = { 0 };

	cbp_object_init(&o);
	o.path = o.name = "mem";
	o.mem = p;
	o.mem_len = n;
	o.size = n;
	assert_int_equal(cbp_read_head(&o, CBP_HEAD_BYTES, &e), CBP_OK);
	assert_int_equal(cbp_identify_object(g_id, &o, &id, &e), CBP_OK);
	cbp_object_release(&o);
	return id;
}

/* Identify bytes as a file on disk (a memfd): probes pread. */
static struct cbp_ident
ident_fd(const void *p, size_t n)
{
	struct cbp_object o;
	struct cbp_ident id;
	struct cbp_error e = { 0 };
	int fd = memfd_create("test_identify", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	cbp_object_init(&o);
	o.path = o.name = "file";
	o.fd = fd;
	o.size = n;
	assert_int_equal(cbp_read_head(&o, CBP_HEAD_BYTES, &e), CBP_OK);
	assert_int_equal(cbp_identify_object(g_id, &o, &id, &e), CBP_OK);
	cbp_object_release(&o);
	close(fd);
	return id;
}

static struct cbp_identify_stats
stats(void)
{
	struct cbp_identify_stats st;

	cbp_identify_get_stats(g_id, &st);
	return st;
}

static void
put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void
put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xFFFF);
	put16(p + 2, v >> 16);
}

/* A zip with one stored member, "a.txt" = "hello\n"; returns its length. */
static size_t
make_zip(unsigned char *z)
{
	static const char name[] = "a.txt", data[] = "hello\n";
	uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)data, 6);
	size_t n = 0, cd;

	memcpy(z, "PK\3\4", 4);
	memset(z + 4, 0, 26);
	put16(z + 4, 20);
	put32(z + 14, crc);
	put32(z + 18, 6);
	put32(z + 22, 6);
	put16(z + 26, 5);
	n = 30;
	memcpy(z + n, name, 5);
	n += 5;
	memcpy(z + n, data, 6);
	n += 6;
	cd = n;
	memcpy(z + n, "PK\1\2", 4);
	memset(z + n + 4, 0, 42);
	put16(z + n + 4, 20);
	put16(z + n + 6, 20);
	put32(z + n + 16, crc);
	put32(z + n + 20, 6);
	put32(z + n + 24, 6);
	put16(z + n + 28, 5);
	n += 46;
	memcpy(z + n, name, 5);
	n += 5;
	memcpy(z + n, "PK\5\6", 4);
	memset(z + n + 4, 0, 18);
	put16(z + n + 8, 1);
	put16(z + n + 10, 1);
	put32(z + n + 12, (uint32_t)(n - cd));
	put32(z + n + 16, (uint32_t)cd);
	return n + 22;
}

/* A 7z signature header whose CRC adds up (good) or not. */
static void
make_7z_header(unsigned char *p, int good)
{
	memset(p, 0, 32);
	memcpy(p, "7z\xbc\xaf\x27\x1c\x00\x04", 8);
	p[12] = 0x20;	/* next header offset, size, crc: anything */
	p[20] = 0x10;
	put32(p + 8, (uint32_t)crc32(0L, p + 12, 20) ^ (good ? 0 : 1));
}

/* This test program: an ELF whose headers account for every byte. */
static unsigned char *
self_exe(size_t *n)
{
	struct stat st;
	unsigned char *p;
	int fd = open("/proc/self/exe", O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	/* Room for what the tests append. */
	p = malloc((size_t)st.st_size + 4096);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

/* A minimal PE: one 0x200-byte section at 0x200; overlay from 0x400. */
static size_t
make_pe(unsigned char *p)
{
	memset(p, 0, 0x400);
	p[0] = 'M';
	p[1] = 'Z';
	put32(p + 0x3C, 0x40);
	memcpy(p + 0x40, "PE\0\0", 4);
	put16(p + 0x44, 0x14C);
	put16(p + 0x46, 1);		/* sections */
	put16(p + 0x54, 0);		/* no optional header */
	memcpy(p + 0x58, ".text", 5);
	put32(p + 0x58 + 16, 0x200);	/* SizeOfRawData */
	put32(p + 0x58 + 20, 0x200);	/* PointerToRawData */
	memset(p + 0x200, 0xC3, 0x200);
	return 0x400;
}

/* ---- the table ------------------------------------------------------- */

static void
test_classify_table(void **state)
{
	struct cbp_ident id;

	(void)state;
	cbp_identify_classify("application/zip; charset=binary", &id);
	assert_string_equal(id.mime, "application/zip");
	assert_int_equal(id.kind, CBP_KIND_ARCHIVE);
	assert_int_equal(id.format, CBP_FMT_ZIP);
	assert_int_equal(id.offset, 0);
	assert_false(id.hidden);
	cbp_identify_classify("APPLICATION/GZIP", &id);
	assert_int_equal(id.kind, CBP_KIND_COMPRESSED);
	assert_int_equal(id.format, CBP_FMT_GZIP);
	cbp_identify_classify("image/gif", &id);
	assert_int_equal(id.kind, CBP_KIND_IMAGE);
	assert_int_equal(id.image, CBP_IMG_NONE);	/* not parsed */
	cbp_identify_classify("image/jpx", &id);
	assert_int_equal(id.image, CBP_IMG_JP2);
	cbp_identify_classify("application/x-iso19794-6", &id);
	assert_int_equal(id.kind, CBP_KIND_RECORD);
	assert_int_equal(id.record, CBP_IDREC_OTHER);
	cbp_identify_classify("text/x-c", &id);
	assert_int_equal(id.kind, CBP_KIND_TEXT);
	cbp_identify_classify("application/xml", &id);
	assert_int_equal(id.kind, CBP_KIND_TEXT);
	cbp_identify_classify("application/pdf", &id);
	assert_int_equal(id.kind, CBP_KIND_PDF);
	cbp_identify_classify("application/zipper", &id);
	assert_int_equal(id.kind, CBP_KIND_OTHER);
	cbp_identify_classify("", &id);
	assert_string_equal(id.mime, "application/octet-stream");
	cbp_identify_classify(NULL, &id);
	assert_string_equal(id.mime, "application/octet-stream");
	assert_string_equal(cbp_identify_format_name(CBP_FMT_WARC), "warc");
	assert_string_equal(cbp_identify_format_name((enum cbp_format)999), "?");
}

/* ---- the database: one answer per magic number ------------------------ */

static void
test_magic_numbers(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		enum cbp_kind kind;
		int sub;	/* format, image or record */
	} cases[] = {
		{ "PK\3\4\x14\0\0\0", 8, CBP_KIND_ARCHIVE, CBP_FMT_ZIP },
		{ "PK\5\6\0\0\0\0", 8, CBP_KIND_ARCHIVE, CBP_FMT_ZIP },
		{ "PK\7\x08PK\3\4", 8, CBP_KIND_ARCHIVE, CBP_FMT_ZIP },
		{ "PK00PK\3\4", 8, CBP_KIND_ARCHIVE, CBP_FMT_ZIP },
		{ "\x1f\x8b\x08\0\0\0\0\0", 8, CBP_KIND_COMPRESSED, CBP_FMT_GZIP },
		{ "BZh91AY&SY", 10, CBP_KIND_COMPRESSED, CBP_FMT_BZIP2 },
		{ "BZh9\x17\x72\x45\x38\x50\x90", 10, CBP_KIND_COMPRESSED, CBP_FMT_BZIP2 },
		{ "\xfd" "7zXZ\0\0\4", 8, CBP_KIND_COMPRESSED, CBP_FMT_XZ },
		{ "\x28\xb5\x2f\xfd\0\0", 6, CBP_KIND_COMPRESSED, CBP_FMT_ZSTD },
		{ "\x04\x22\x4d\x18\0\0", 6, CBP_KIND_COMPRESSED, CBP_FMT_LZ4 },
		{ "\x02\x21\x4c\x18\0\0", 6, CBP_KIND_COMPRESSED, CBP_FMT_LZ4 },
		{ "LZIP\x01\x0c", 6, CBP_KIND_COMPRESSED, CBP_FMT_LZIP },
		{ "\x1f\x9d\x90\0", 4, CBP_KIND_COMPRESSED, CBP_FMT_COMPRESS },
		/* lzma-alone as lzma and xz --format=lzma write it: size -1 */
		{ "\x5d\0\0\x80\0\xff\xff\xff\xff\xff\xff\xff\xff\0", 14,
		    CBP_KIND_COMPRESSED, CBP_FMT_LZMA },
		{ "\x5d\0\0\x80\0\x10\0\0\0\0\0\0\0\0", 14,
		    CBP_KIND_COMPRESSED, CBP_FMT_LZMA },
		{ "7z\xbc\xaf\x27\x1c\0\4", 8, CBP_KIND_ARCHIVE, CBP_FMT_7Z },
		{ "Rar!\x1a\x07\0", 7, CBP_KIND_ARCHIVE, CBP_FMT_RAR },
		{ "Rar!\x1a\x07\1\0", 8, CBP_KIND_ARCHIVE, CBP_FMT_RAR },
		{ "070701000", 9, CBP_KIND_ARCHIVE, CBP_FMT_CPIO },
		{ "070707000", 9, CBP_KIND_ARCHIVE, CBP_FMT_CPIO },
		{ "\xc7\x71\0\0", 4, CBP_KIND_ARCHIVE, CBP_FMT_CPIO },
		{ "MSCF\0\0\0\0", 8, CBP_KIND_ARCHIVE, CBP_FMT_CAB },
		{ "!<arch>\n", 8, CBP_KIND_ARCHIVE, CBP_FMT_AR },
		{ "xar!\0\x1c", 6, CBP_KIND_ARCHIVE, CBP_FMT_XAR },
		{ "\xed\xab\xee\xdb\3\0", 6, CBP_KIND_ARCHIVE, CBP_FMT_RPM },
		{ "WARC/1.0\r\n", 10, CBP_KIND_ARCHIVE, CBP_FMT_WARC },
		{ "WARC/1.1\r\n", 10, CBP_KIND_ARCHIVE, CBP_FMT_WARC },
		{ "\0\0-lh5-\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22, CBP_KIND_ARCHIVE, CBP_FMT_LHA },
		{ "\xff\xd8\xff\xe0\0\x10JFIF", 10, CBP_KIND_IMAGE, CBP_IMG_JPEG },
		{ "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16, CBP_KIND_IMAGE, CBP_IMG_PNG },
		{ "II*\0\x08\0\0\0", 8, CBP_KIND_IMAGE, CBP_IMG_TIFF },
		{ "MM\0+\0\x08\0\0", 8, CBP_KIND_IMAGE, CBP_IMG_TIFF },
		{ "\0\0\0\x0cjP  \r\n\x87\n\0\0\0\x14" "ftypjp2 ", 28, CBP_KIND_IMAGE, CBP_IMG_JP2 },
		{ "\xff\x4f\xff\x51\0\x2f", 6, CBP_KIND_IMAGE, CBP_IMG_J2K },
		{ "GIF89a\1\0\1\0", 10, CBP_KIND_IMAGE, CBP_IMG_NONE },
		{ "P6\n64 48\n255\n\0\0", 15, CBP_KIND_IMAGE, CBP_IMG_NONE },
		{ "P5\n# GIMP\n8 8\n255\n", 18, CBP_KIND_IMAGE, CBP_IMG_NONE },
		{ "P5 is a paper size\n", 19, CBP_KIND_TEXT, 0 },
		{ "FAC\0" "010\0\0\0\0\x20\0\1", 14, CBP_KIND_RECORD, CBP_IDREC_ISO19794_5 },
		{ "FAC\0" "030\0\0\0\0\x20\0\1", 14, CBP_KIND_RECORD, CBP_IDREC_ISO19794_5 },
		{ "1.001:123\x1d", 10, CBP_KIND_RECORD, CBP_IDREC_ANSI_NIST },
		{ "IIR\0" "010\0", 8, CBP_KIND_RECORD, CBP_IDREC_OTHER },
		{ "\x75\x10\x7f\x61\x02\x02\x01\x01", 8, CBP_KIND_RECORD, CBP_IDREC_ICAO_DG2 },
		{ "\x75\x82\x01\x00\x7f\x61\x02\x02", 8, CBP_KIND_RECORD, CBP_IDREC_ICAO_DG2 },
		{ "%PDF-1.7\n", 9, CBP_KIND_PDF, 0 },
		{ "hello world, this is text\n", 26, CBP_KIND_TEXT, 0 },
		{ "BZh9 hello", 10, CBP_KIND_TEXT, 0 },	/* bzip2 needs its block magic */
		{ "\x1f\x9d\x7f\0", 4, CBP_KIND_OTHER, 0 },	/* compress: bad flags */
		{ "PK", 2, CBP_KIND_TEXT, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cbp_ident id = ident_mem(cases[i].bytes, cases[i].len);
		int sub = id.kind == CBP_KIND_IMAGE ? (int)id.image :
		    id.kind == CBP_KIND_RECORD ? (int)id.record : (int)id.format;

		if (id.kind != cases[i].kind || sub != cases[i].sub ||
		    id.offset != 0 || id.hidden)
			fail_msg("case %zu (%s): kind %d sub %d offset %llu, want "
			    "kind %d sub %d", i, id.mime, id.kind, sub,
			    (unsigned long long)id.offset, cases[i].kind,
			    cases[i].sub);
	}
	/* Nothing at all. */
	assert_string_equal(ident_mem("", 0).mime, "application/x-empty");
	assert_int_equal(ident_mem("", 0).kind, CBP_KIND_OTHER);
}

static void
test_tar_by_magic_and_by_checksum(void **state)
{
	unsigned char h[1024] = { 0 };
	unsigned sum = 0;
	size_t i;
	struct cbp_ident id;

	(void)state;
	memcpy(h, "file.txt", 8);
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 257, "ustar", 6);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	id = ident_mem(h, sizeof h);
	assert_int_equal(id.kind, CBP_KIND_ARCHIVE);
	assert_int_equal(id.format, CBP_FMT_TAR);
	/* v7 tar: no magic, only a checksum that adds up (libmagic's own
	 * tar test, which the fast handle keeps on). */
	memset(h + 257, 0, 8);
	memset(h + 148, ' ', 8);
	for (sum = 0, i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	id = ident_mem(h, sizeof h);
	assert_int_equal(id.kind, CBP_KIND_ARCHIVE);
	assert_int_equal(id.format, CBP_FMT_TAR);
	h[0] = 'g';	/* the checksum no longer adds up */
	assert_int_not_equal(ident_mem(h, sizeof h).kind, CBP_KIND_ARCHIVE);
}

/* ---- ISO 9660: one targeted read ------------------------------------ */

static void
test_iso9660(void **state)
{
	size_t n = 40000;
	unsigned char *p = calloc(1, n);
	struct cbp_identify_stats before, after;
	struct cbp_ident id;

	(void)state;
	assert_non_null(p);
	memcpy(p + 32768, "\1CD001\1", 7);
	before = stats();
	id = ident_fd(p, n);
	after = stats();
	assert_int_equal(id.kind, CBP_KIND_ARCHIVE);
	assert_int_equal(id.format, CBP_FMT_ISO9660);
	assert_string_equal(id.mime, "application/x-iso9660-image");
	assert_int_equal(id.offset, 0);
	assert_true(id.hidden);
	assert_int_equal(after.probe_reads - before.probe_reads, 1);
	assert_int_equal(after.probe_bytes - before.probe_bytes, 7);
	/* Held in memory (an ISO inside a tar): the same answer. */
	assert_int_equal(ident_mem(p, n).format, CBP_FMT_ISO9660);
	/* A hybrid image: an MBR in the system area. */
	p[0] = 0xEB;
	p[510] = 0x55;
	p[511] = 0xAA;
	assert_int_equal(ident_fd(p, n).format, CBP_FMT_ISO9660);
	/* Anything else in the system area: not looked at, nothing read. */
	p[510] = 0;
	before = stats();
	id = ident_fd(p, n);
	after = stats();
	assert_int_equal(id.kind, CBP_KIND_OTHER);
	assert_int_equal(after.probe_bytes - before.probe_bytes, 4096);	/* the zip tail only */
	/* Zeros with no descriptor, and a descriptor too short to hold. */
	memset(p, 0, n);
	assert_int_equal(ident_fd(p, n).kind, CBP_KIND_OTHER);
	memcpy(p + 32768, "\1CD001\1", 7);
	assert_int_equal(ident_fd(p, 32768 + 100).kind, CBP_KIND_OTHER);
	free(p);
}

/* ---- executables ------------------------------------------------------ */

static void
test_plain_executable_costs_no_read(void **state)
{
	size_t n;
	unsigned char *exe = self_exe(&n);
	struct cbp_identify_stats before, after;
	struct cbp_ident id;

	(void)state;
	before = stats();
	id = ident_fd(exe, n);
	after = stats();
	assert_string_equal(id.mime, "application/x-executable");
	assert_int_equal(id.kind, CBP_KIND_EXECUTABLE);
	assert_false(id.hidden);
	assert_int_equal(after.probe_reads, before.probe_reads);
	assert_int_equal(after.magic_calls - before.magic_calls, 1);
	assert_int_equal(after.objects - before.objects, 1);
	free(exe);
}

static void
test_archive_behind_elf(void **state)
{
	size_t n, zn;
	unsigned char *exe = self_exe(&n);
	struct cbp_ident id;

	(void)state;
	zn = make_zip(exe + n);
	id = ident_fd(exe, n + zn);
	assert_int_equal(id.kind, CBP_KIND_ARCHIVE);
	assert_int_equal(id.format, CBP_FMT_ZIP);
	assert_int_equal(id.offset, n);
	assert_true(id.hidden);
	assert_string_equal(id.mime, "application/zip");
	assert_int_equal(ident_mem(exe, n + zn).offset, n);
	/* "PK\3\4" with no method zip defines: data, not a zip. */
	memset(exe + n, 0, 64);
	memcpy(exe + n, "PK\3\4\x14\0\0\0\x77\x77", 10);
	id = ident_fd(exe, n + 64);
	assert_int_equal(id.kind, CBP_KIND_EXECUTABLE);
	assert_false(id.hidden);

	make_7z_header(exe + n, 1);
	id = ident_fd(exe, n + 32);
	assert_int_equal(id.format, CBP_FMT_7Z);
	assert_int_equal(id.offset, n);
	/* A little alignment before it: still found. */
	memset(exe + n, 0, 100);
	make_7z_header(exe + n + 100, 1);
	assert_int_equal(ident_fd(exe, n + 132).offset, n + 100);
	/* The signature with a header CRC that does not add up: not 7z. */
	make_7z_header(exe + n, 0);
	id = ident_fd(exe, n + 32);
	assert_int_equal(id.kind, CBP_KIND_EXECUTABLE);
	assert_false(id.hidden);

	memcpy(exe + n, "Rar!\x1a\x07\x00\x00\x00\x73\x00\x00\x0d\x00", 14);
	id = ident_fd(exe, n + 14);
	assert_int_equal(id.format, CBP_FMT_RAR);
	assert_int_equal(id.offset, n);
	memcpy(exe + n, "Rar!\x1a\x07\x01\x00", 8);
	assert_int_equal(ident_fd(exe, n + 8).format, CBP_FMT_RAR);
	/* A RAR 4 marker not followed by the archive header: not RAR. */
	memcpy(exe + n, "Rar!\x1a\x07\x00\x00\x00\x74\x00\x00\x0d\x00", 14);
	assert_int_equal(ident_fd(exe, n + 14).kind, CBP_KIND_EXECUTABLE);
	free(exe);
}

static void
test_archive_behind_pe(void **state)
{
	unsigned char p[0x400 + 4096];
	size_t n = make_pe(p), zn;
	struct cbp_ident id;

	(void)state;
	id = ident_mem(p, n);
	assert_string_equal(id.mime, "application/vnd.microsoft.portable-executable");
	assert_int_equal(id.kind, CBP_KIND_EXECUTABLE);
	zn = make_zip(p + n);
	id = ident_fd(p, n + zn);
	assert_int_equal(id.format, CBP_FMT_ZIP);
	assert_int_equal(id.offset, 0x400);
	make_7z_header(p + n, 1);
	assert_int_equal(ident_fd(p, n + 32).format, CBP_FMT_7Z);
	/* A section table that runs past the head's bytes: not measured,
	 * so only the zip end record is looked for. */
	put16(p + 0x46, 200);
	assert_int_equal(ident_mem(p, n + 32).kind, CBP_KIND_EXECUTABLE);
}

/* ---- zips found from their end ---------------------------------------- */

static void
test_padded_zip(void **state)
{
	unsigned char p[8192] = { 0 };
	size_t zn = make_zip(p + 5000);
	struct cbp_identify_stats before, after;
	struct cbp_ident id;

	(void)state;
	before = stats();
	id = ident_fd(p, 5000 + zn);
	after = stats();
	assert_int_equal(id.kind, CBP_KIND_ARCHIVE);
	assert_int_equal(id.format, CBP_FMT_ZIP);
	assert_int_equal(id.offset, 5000);
	assert_true(id.hidden);
	/* Small enough to be all head: no read. */
	assert_int_equal(after.probe_reads, before.probe_reads);
	/* The comment must reach the end exactly. */
	p[5000 + zn] = 'x';
	assert_int_equal(ident_fd(p, 5000 + zn + 1).kind, CBP_KIND_OTHER);
	/* A central directory offset that points at nothing. */
	put32(p + 5000 + zn - 6, 3);
	assert_int_equal(ident_fd(p, 5000 + zn).kind, CBP_KIND_OTHER);
}

static void
test_big_unknown_binary_reads_one_tail_page(void **state)
{
	size_t n = 1 << 20, i;
	unsigned char *p = malloc(n);
	struct cbp_identify_stats before, after;
	struct cbp_ident id;
	uint32_t x = 12345;

	(void)state;
	assert_non_null(p);
	for (i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
	p[0] = 1;	/* neither zeros nor a skippable frame */
	before = stats();
	id = ident_fd(p, n);
	after = stats();
	assert_int_equal(id.kind, CBP_KIND_OTHER);
	assert_string_equal(id.mime, "application/octet-stream");
	assert_int_equal(after.probe_reads - before.probe_reads, 1);
	assert_int_equal(after.probe_bytes - before.probe_bytes, 4096);
	assert_int_equal(after.probes - before.probes, 1);
	/* A padded zip at the end of a big file is found from there. */
	memset(p, 0, 100);
	i = make_zip(p + n - 200);
	id = ident_fd(p, n - 200 + i);
	assert_int_equal(id.format, CBP_FMT_ZIP);
	assert_int_equal(id.offset, n - 200);
	free(p);
}

/* ---- skippable frames ------------------------------------------------- */

static void
test_skippable_frames(void **state)
{
	unsigned char p[64] = { 0 }, many[8 * 18 + 8];
	struct cbp_ident id;
	unsigned i;

	(void)state;
	put32(p, 0x184D2A50);
	put32(p + 4, 5);
	memcpy(p + 8, "meta!", 5);
	put32(p + 13, 0xFD2FB528);
	id = ident_mem(p, 20);
	assert_int_equal(id.kind, CBP_KIND_COMPRESSED);
	assert_int_equal(id.format, CBP_FMT_ZSTD);
	assert_int_equal(id.offset, 13);
	assert_true(id.hidden);
	put32(p + 13, 0x184D2204);
	id = ident_fd(p, 20);
	assert_int_equal(id.format, CBP_FMT_LZ4);
	assert_int_equal(id.offset, 13);
	/* Two frames (the second 0x184D2A5F), then zstd. */
	put32(p + 13, 0x184D2A5F);
	put32(p + 17, 0);
	put32(p + 21, 0xFD2FB528);
	assert_int_equal(ident_mem(p, 30).offset, 21);
	/* Skippable frames and then something else: nothing. */
	put32(p + 21, 0x12345678);
	assert_int_equal(ident_mem(p, 30).kind, CBP_KIND_OTHER);
	/* A length past the end. */
	put32(p + 4, 1000000);
	assert_int_equal(ident_mem(p, 30).kind, CBP_KIND_OTHER);
	/* Up to 16 frames in a row are stepped over; past that we stop. */
	memset(many, 0, sizeof many);
	for (i = 0; i < 17; i++)
		put32(many + 8 * i, 0x184D2A50);
	put32(many + 8 * 16, 0xFD2FB528);
	assert_int_equal(ident_mem(many, sizeof many).offset, 8 * 16);
	put32(many + 8 * 16, 0x184D2A50);
	put32(many + 8 * 17, 0xFD2FB528);
	assert_int_equal(ident_mem(many, sizeof many).kind, CBP_KIND_OTHER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_magic_numbers),
		cmocka_unit_test(test_tar_by_magic_and_by_checksum),
		cmocka_unit_test(test_iso9660),
		cmocka_unit_test(test_plain_executable_costs_no_read),
		cmocka_unit_test(test_archive_behind_elf),
		cmocka_unit_test(test_archive_behind_pe),
		cmocka_unit_test(test_padded_zip),
		cmocka_unit_test(test_big_unknown_binary_reads_one_tail_page),
		cmocka_unit_test(test_skippable_frames),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
