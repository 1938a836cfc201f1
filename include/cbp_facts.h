/*
 * cbp_facts.h — what is known about one object, computed lazily.
 *
 * Matching asks questions in order of cost (cheap-first); each answer is
 * computed the first time a rule needs it and kept for the other rules:
 * name, size and MIME type (from the head) are free; the libmagic
 * description, the whole content, image metadata, a standalone record
 * parse and carving for embedded records each cost more.  A file that no
 * rule can match therefore costs one head read.
 *
 * Anything that could not be fully computed (a corrupt image, a file that
 * shrank, a carve cap) is remembered as the object's first problem, and the
 * scan reports it as an unscannable record after matching.
 */
#ifndef CBP_FACTS_H
#define CBP_FACTS_H

#include <stddef.h>
#include <stdint.h>

#include "cbp_err.h"
#include "cbp_finding.h"
#include "cbp_identify.h"
#include "cbp_meta.h"
#include "cbp_object.h"
#include "cbp_pdq.h"
#include "cbp_record.h"

/* Runtime caps (defaults from cbp_limits.h, overridable by options/config). */
struct cbp_scan_caps {
	size_t load_max;	/* CBP_LOAD_MAX */
	size_t carve_max;	/* CBP_CARVE_MAX */
	uint64_t hash_max;	/* CBP_HASH_MAX; 0 = the default */
	const volatile int *cancel;	/* long computations stop when set; may be NULL */
	/*
	 * Images are decoded for PDQ at full scale (cbpscan hash: hashes
	 * equal to the reference's) instead of the smallest DCT scale that
	 * keeps 512 pixels on the short side (scan: within ~4 bits, measured
	 * by bench/pdq_scale.sh, for a fraction of the time).
	 */
	int pdq_full_scale;
};

enum cbp_fact_state { CBP_FACT_UNKNOWN = 0, CBP_FACT_DONE, CBP_FACT_FAILED };

struct cbp_facts {
	struct cbp_object *obj;
	struct cbp_identify *id;		/* worker's libmagic handles */
	const struct cbp_scan_caps *caps;
	const char *display_path;		/* path, then "/" + each member */
	struct cbp_ident ident;			/* the one identification (cbp_identify.h) */
	const char *mime;			/* ident.mime */

	enum cbp_fact_state desc_state, meta_state, rec_state, carve_state;
	char *desc;				/* owned copy of the description */
	struct cbp_meta meta;
	int meta_rc;
	struct cbp_record rec;
	int rec_rc;
	struct cbp_record_list carved;

	int no_carve;				/* set by the scan: members are searched instead */
	struct cbp_dynbuf *scratch;		/* worker's reusable read buffer, or NULL */

	enum cbp_fact_state sha_state;
	char sha256[65];			/* lowercase hex, "" when it failed */
	struct cbp_hash_extent sha_ext;
	int sha_rc;

	enum cbp_fact_state pdq_state;
	struct cbp_pdq pdq;			/* hash, quality, 8 dihedral hashes */
	int pdq_rc;

	/* First problem met while computing facts (code 0 = none). */
	struct cbp_error problem;
	/*
	 * Memory ran out somewhere for this object (a fact, matching, the
	 * hash).  Set even when problem already holds an earlier cause, so the
	 * scan can still give the "nomem" record that problem alone would lose.
	 */
	int nomem;
};

/*
 * Set up facts for o (head already read): identifies it (f->ident, f->mime);
 * a probe that could not read becomes f->problem.
 */
void cbp_facts_init(struct cbp_facts *f, struct cbp_object *o,
    struct cbp_identify *id, const struct cbp_scan_caps *caps,
    const char *display_path);
void cbp_facts_free(struct cbp_facts *f);

/* libmagic description from the full database; CBP_OK or an error code. */
int cbp_facts_description(struct cbp_facts *f, const char **out);

/*
 * The first min(size, cap) bytes (cap 0 = caps->load_max).  *complete set
 * when that is the whole object.  Pointer valid until cbp_facts_free.
 */
int cbp_facts_content(struct cbp_facts *f, size_t cap,
    const unsigned char **p, size_t *n, int *complete);

/* Image metadata; CBP_ENOTFOUND when the object is not an image we parse. */
int cbp_facts_meta(struct cbp_facts *f, const struct cbp_meta **out);

/* A record starting at offset 0; CBP_ENOTFOUND when there is none. */
int cbp_facts_record(struct cbp_facts *f, const struct cbp_record **out);

/* Records embedded at offsets > 0 (carving up to caps->carve_max). */
int cbp_facts_carved(struct cbp_facts *f, const struct cbp_record_list **out);

/*
 * SHA-256 of the object as hex, no further than caps->hash_max (ext says
 * how far, and whether that is short of the whole).  Computed once;
 * CBP_OK, or the error (also kept as the object's problem).
 */
int cbp_facts_sha256(struct cbp_facts *f, const char **hex,
    struct cbp_hash_extent *ext);

/*
 * The PDQ hash of an image (with its quality and 8 dihedral variants),
 * decoded in this process (a confined worker) with the pixel cap of
 * cbp_decode.h.  Only for objects identified as images in a format the
 * decoder reads: anything else is CBP_ENOTFOUND and costs nothing, so no
 * text or binary is ever decoded.  Computed once.  A broken image
 * (CBP_ECORRUPT), one over the pixel or load cap or of a variant not
 * decoded (CBP_ELIMIT) also becomes the object's problem.
 */
int cbp_facts_pdq(struct cbp_facts *f, const struct cbp_pdq **out);

/*
 * What was already computed, without computing it: for the scan to search
 * the pictures inside records, carved records and Exif thumbnails that
 * rule evaluation had a reason to parse, and nothing more.  NULL when the
 * fact was not computed, or failed.
 */
const struct cbp_record *cbp_facts_record_computed(const struct cbp_facts *f);
const struct cbp_record_list *cbp_facts_carved_computed(
    const struct cbp_facts *f);
const struct cbp_meta *cbp_facts_meta_computed(const struct cbp_facts *f);

#endif
