/*
 * fuzz_expand.c — libFuzzer target for archive expansion (scanner/expand.c).
 *
 * The input is expanded twice, as the scan would meet it: as a memory
 * object (an archive member) and through an fd (a file on disk; a memfd,
 * so the pread/skip/seek callbacks run).  The member callback reads every
 * byte and name it is given (so ASan checks them) and expands members that
 * look like archives again, as the scan does, with the depth limit at 3.
 * Limits are small so bombs, member caps and budget sharing are reached
 * within the fuzzer's time; the two runs use different ones so both the
 * ratio and the total-bytes budget get exercised.
 *
 * Members, and the input itself, are identified as the scan does
 * (cbp_identify_object, database from CBPSCAN_MAGIC or build/cbpscan.mgc
 * next to this binary's tree), so its hand-written probes (executable
 * stubs, zip end records, skippable frames, ISO 9660) are fuzzed too; the
 * input is then expanded with that answer when it names a container, and
 * with none (every reader bids) otherwise.
 *
 * The fd run of an input of odd length is read as part 1 of 2 of a split
 * archive (cbp_expand.h: want, shares, members_only), as a worker does
 * with a large zip: entries at even indexes are passed by unread.
 *
 * Must never crash, hang, leak, or read out of bounds, whatever the input.
 * Seeds: tests/fuzz/seeds/fuzz_expand/ (tests/fuzz/gen_expand_seeds.sh).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cbp_expand.h"
#include "cbp_identify.h"
#include "cbp_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/*
 * libarchive 3.6's 7-Zip reader callocs whatever a crafted header asks
 * (5 GB for a 308-byte input, seed 7z-huge-calloc).  The scan's workers
 * run under a data cap where that calloc fails and the archive is
 * reported; here ASan would instead poison 650 MB of shadow for it and
 * take tens of seconds on a busy machine, past -timeout (44 s seen in a
 * CI run on a loaded machine; 0.1 s refused).  Single allocations over
 * 4 GiB get NULL, as under the cap; smaller ones are still allowed, as
 * before, up to run.sh's -malloc_limit_mb.  (Not lower: libarchive calls
 * exit() when some allocations fail, e.g. converting a member name, which
 * the scan's worker processes survive but a fuzzer does not.)
 */
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=4096";
}

struct fz {
	const struct cbp_expand_limits *lim;
	struct cbp_expand_budget *budget;
	uint64_t sink;
	uint64_t members, problems;
};

static int on_member(void *arg, struct cbp_object *m);
static void on_problem(void *arg, const struct cbp_object *where,
    const char *member_name, enum cbp_reason reason, const char *detail);

static const struct cbp_expand_ops ops = { on_member, on_problem, NULL };

/* Part 1 of 2: the odd entries. */
static int
want_odd(void *arg, uint64_t index, const char *name)
{
	struct fz *z = arg;

	z->sink += strlen(name);
	return index % 2 == 1;
}

static const struct cbp_expand_ops part_ops = { on_member, on_problem, want_odd };

static struct cbp_identify *g_id;	/* loaded once, on the first input */

static void
load_identify(void)
{
	static int tried;
	struct cbp_error e = { 0 };
	char exe[4096], db[4200], *slash;
	ssize_t n;

	if (tried++)
		return;
	if (getenv("CBPSCAN_MAGIC") != NULL &&
	    (g_id = cbp_identify_new(getenv("CBPSCAN_MAGIC"), NULL, &e)) != NULL)
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return;
	*slash = '\0';
	snprintf(db, sizeof(db), "%s/../build/cbpscan.mgc", exe);
	g_id = cbp_identify_new(db, NULL, &e);
}

/* The identification of o, or NULL without a database. */
static const struct cbp_ident *
identify(struct cbp_object *o, struct cbp_ident *out)
{
	struct cbp_error e = { 0 };
	int r;

	if (g_id == NULL)
		return NULL;
	r = cbp_identify_object(g_id, o, out, &e);
	if (r != CBP_OK && r != CBP_EIO && r != CBP_ENOMEM)
		abort();
	if ((out->kind == CBP_KIND_ARCHIVE || out->kind == CBP_KIND_COMPRESSED) &&
	    out->offset >= (o->fd >= 0 ? o->size : o->mem_len) && out->offset > 0)
		abort();	/* a container must start inside the object */
	return out;
}

static int
is_container(const struct cbp_ident *id)
{
	return id != NULL && (id->kind == CBP_KIND_ARCHIVE ||
	    id->kind == CBP_KIND_COMPRESSED);
}

static void
touch_chain(struct fz *z, const struct cbp_object *o)
{
	size_t i;

	for (i = 0; i < o->nmember; i++)
		z->sink += strlen(o->member[i]);
	if (o->name != NULL)
		z->sink += strlen(o->name);
}

static int
on_member(void *arg, struct cbp_object *m)
{
	struct fz *z = arg;
	size_t i;

	z->members++;
	if (m->fd != -1 || m->mem == NULL || m->depth == 0 ||
	    (!m->mem_partial && m->size != m->mem_len) ||
	    m->mem_len > z->lim->member_max)
		abort();	/* the member contract of cbp_expand.h */
	for (i = 0; i < m->mem_len; i++)
		z->sink += m->mem[i];
	touch_chain(z, m);
	/* The scan reads a member's head before anything else (cbp_read_head). */
	m->head = m->mem;
	m->head_len = m->mem_len < CBP_HEAD_BYTES ? m->mem_len : CBP_HEAD_BYTES;
	{
		struct cbp_ident id;
		const struct cbp_ident *idp = identify(m, &id);

		if (idp == NULL || is_container(idp))
			(void)cbp_expand_object(m, idp, z->lim, z->budget, &ops, z);
	}
	return 0;
}

static void
on_problem(void *arg, const struct cbp_object *where, const char *member_name,
    enum cbp_reason reason, const char *detail)
{
	struct fz *z = arg;

	z->problems++;
	if (detail == NULL || reason > CBP_REASON_TIMEOUT)
		abort();
	z->sink += strlen(detail) + (unsigned)reason;
	if (member_name != NULL)
		z->sink += strlen(member_name);
	touch_chain(z, where);
}

static void
run(struct cbp_object *o, const struct cbp_expand_limits *lim, int part)
{
	struct cbp_expand_budget budget = { .top_size = o->size };
	struct cbp_ident id;
	const struct cbp_ident *idp = identify(o, &id);
	struct fz z;
	int r;

	memset(&z, 0, sizeof z);
	z.lim = lim;
	z.budget = &budget;
	if (part) {
		budget.shares = 2;
		budget.members_only = 1;
	}
	r = cbp_expand_object(o, is_container(idp) ? idp : NULL, lim, &budget,
	    part ? &part_ops : &ops, &z);
	if (r != CBP_OK && r != CBP_ECORRUPT && r != CBP_EIO &&
	    r != CBP_ELIMIT && r != CBP_EENCRYPTED && r != CBP_ENOMEM)
		abort();
	/* A failure is always explained to the problem callback (a part
	 * leaves the archive's own problems to part 0). */
	if (r != CBP_OK && r != CBP_ENOMEM && z.problems == 0 && !part)
		abort();
	/* The members budget may be passed by one (the refused member), no more. */
	if (budget.members > lim->max_members + 1)
		abort();
}

/* One memfd for the whole run: the fd path needs a real file. */
static int
input_fd(const uint8_t *data, size_t size)
{
	static int fd = -1;
	size_t off = 0;

	if (fd < 0 && (fd = memfd_create("fuzz_expand", MFD_CLOEXEC)) < 0)
		return -1;
	if (ftruncate(fd, 0) != 0)
		return -1;
	while (off < size) {
		ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Memory path: the ratio budget (2 x the 1 MiB floor) binds first. */
	static const struct cbp_expand_limits lim_mem = {
		3, 64, 256 * CBP_KIB, 8 * CBP_MIB, 2,
	};
	/* Fd path: the total-bytes budget binds first. */
	static const struct cbp_expand_limits lim_fd = {
		3, 64, 128 * CBP_KIB, 1 * CBP_MIB, 200,
	};
	static const unsigned char empty[1];
	struct cbp_object o;
	int fd;

	load_identify();

	memset(&o, 0, sizeof o);
	o.fd = -1;
	o.path = "/fuzz/input.bin";
	o.name = "input.bin.gz";
	o.mtime = CBP_MTIME_UNKNOWN;
	o.mem = size > 0 ? data : empty;
	o.mem_len = size;
	o.size = size;
	o.head = o.mem;
	o.head_len = size < CBP_HEAD_BYTES ? size : CBP_HEAD_BYTES;
	run(&o, &lim_mem, 0);

	if ((fd = input_fd(data, size)) >= 0) {
		memset(&o, 0, sizeof o);
		o.path = "/fuzz/input.bin";
		o.name = "input.bin";
		o.mtime = CBP_MTIME_UNKNOWN;
		o.fd = fd;
		o.size = size;
		/* The same bytes: what cbp_read_head would read. */
		o.head = size > 0 ? data : empty;
		o.head_len = size < CBP_HEAD_BYTES ? size : CBP_HEAD_BYTES;
		run(&o, &lim_fd, size % 2 == 1);
	}
	return 0;
}
