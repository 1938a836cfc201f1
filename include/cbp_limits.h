/*
 * cbp_limits.h — every ceiling cbpscan applies, with the reason for it.
 *
 * Inputs come from hostile hosts: each size, depth, count and time that a
 * parser or the scan could otherwise spend without bound is capped here.
 * Defaults marked "(option)" can be changed on the command line or in the
 * configuration file; the others are compile-time.  man/cbpscan.1 has the
 * same table (LIMITS) and a test checks that the two agree.
 */
#ifndef CBP_LIMITS_H
#define CBP_LIMITS_H

#define CBP_KIB ((size_t)1024)
#define CBP_MIB ((size_t)1024 * 1024)

/*
 * Bytes read from the start of every object before anything else is
 * decided.  16 KiB is what identification and the cheap rules need (libmagic
 * looks at the first bytes; our magic entries sit in the first KiB); it is
 * also the benchmark's "head floor" so a file no rule can match costs
 * exactly one read of this size.
 */
#define CBP_HEAD_BYTES (16 * CBP_KIB)

/*
 * Bytes of an object loaded for whole-content work (image metadata,
 * biometric record parsing, content regex with scope "file").  Images and
 * records larger than this are only partly parsed and reported as
 * unscannable "limit".  (option: limits.load_max)
 */
#define CBP_LOAD_MAX (64 * CBP_MIB)

/*
 * Bytes of a file searched for embedded biometric records (carving).  Work
 * is linear in this; beyond it the file is reported as unscannable "limit".
 * (option: limits.carve_max)
 */
#define CBP_CARVE_MAX ((size_t)1024 * CBP_MIB)
/*
 * Carving reads files in windows of this size with this much overlap, so a
 * record header straddling two windows is still seen whole (a carved record
 * needs its first few hundred bytes to validate; the parser accepts one cut
 * short by the window's end).  A small window stays in the CPU cache: see
 * scanner/read.c for the measurement.
 */
#define CBP_CARVE_WINDOW (256 * CBP_KIB)
#define CBP_CARVE_OVERLAP (16 * CBP_KIB)
/* Embedded records reported per object: a disk image full of records needs
 * one finding, not a million.  The same budget holds for base64-encoded
 * records in markup, where only runs that decode to a record count. */
#define CBP_CARVE_MAX_RECORDS 64
/*
 * Base64 runs that start like a face record ("RkFDADA...") examined per
 * markup file (XML, JSON; scanner/scan.c).  A run that does not decode to a
 * record (a decoy) does not spend the record budget above, so decoys cannot
 * hide a record placed after them; this larger cap bounds what decoys cost
 * instead: each run is decoded and parsed once and no byte is in two runs,
 * so the work stays linear in the bytes loaded.  A file with more runs is
 * reported as unscannable "limit".
 */
#define CBP_B64_MAX_RUNS 4096

/* Archive expansion budgets (option: --max-depth, limits.*). */
#define CBP_ARCHIVE_DEPTH 8			/* nesting: zip in tar in ... */
#define CBP_ARCHIVE_MEMBERS 100000		/* members in one archive tree */
#define CBP_MEMBER_MAX (256 * CBP_MIB)		/* one member held in memory */
#define CBP_ARCHIVE_TOTAL ((size_t)8192 * CBP_MIB) /* bytes expanded per top-level archive */
#define CBP_ARCHIVE_RATIO 200			/* expanded/compressed before "bomb" */
/*
 * Unscannable records about one top-level archive (its members, at every
 * nesting level), then one record with the count of the rest.  A damaged
 * archive of real members rarely has more than a few dozen bad ones, and an
 * auditor wants each of them named; past a thousand the archive is hostile
 * or garbage and the count is what matters (one 103-byte RAR5 made 100,001
 * records, 18 MB of JSON Lines).  A thousand records are about 200 KB.
 */
#define CBP_ARCHIVE_PROBLEMS 1000

/*
 * Parser workers (issue 8; options: limits.object_timeout, member_timeout,
 * worker_memory).  A worker that spends longer than this on one top-level
 * object, or on one archive member (counted from the last member that
 * began, or from the object's start), or that grows its private memory by
 * more than worker_memory, is killed: the object gets one record (timeout
 * or limit) and the scan goes on.  The largest legitimate need: an archive
 * whose members are read one at a time, each up to member_max (256 MiB) in
 * memory, plus load_max (64 MiB) of it loaded for rules, plus a nested
 * archive's member at the next level: 1 GiB leaves room for that and for
 * libarchive's own buffers, and is what a worker may take from the host
 * (workers = --threads).  Read-only data mapped before the fork (rules,
 * the magic database) is shared and not counted.  Times are generous:
 * the slowest legitimate object on the bench tree (a 200 MB jar) takes
 * seconds; a parser that loops forever costs member_timeout.
 */
#define CBP_OBJECT_TIMEOUT 600			/* seconds per top-level object */
#define CBP_MEMBER_TIMEOUT 60			/* seconds per archive member */
#define CBP_WORKER_MEMORY (1024 * CBP_MIB)	/* memory one worker may add */

/*
 * A top-level archive at least this large, where passing a member by is a
 * seek (zip and its kin, uncompressed tar, cpio, iso9660), is read in as
 * many parts as there are workers when there are several (scan.c, issue 8
 * section 4): each part a job that scans every n-th member, so one huge
 * jar or ISO image keeps all cores busy.  Each extra part costs an open, a
 * head read, identification and one pass over the archive's headers (a
 * seek per member it passes by): measured (bench/split_archive.sh, two
 * workers), a 273 MB jar of 23,618 members took 1.53 s instead of 2.72 s
 * for 4% more CPU, and 10-15% more CPU on jars of 15 and 56 MB.  A split
 * gains at most half of one archive's time, and only while the other
 * cores would idle (a big archive alone, or last in the tree); in a busy
 * tree the extra CPU is all it does.  At 32 MiB an archive takes about
 * 0.4 s of CPU, so the most a split can save, 0.2 s, is about four times
 * its cost; below, both shrink to hundredths of a second.
 * 0 turns splitting off.  (option: limits.split_min)
 */
#define CBP_SPLIT_MIN (32 * CBP_MIB)

/* Image metadata parsing. */
#define CBP_META_FIELDS 256		/* text fields kept per image */
#define CBP_META_FIELD_MAX (256 * CBP_KIB)	/* bytes kept of one text field */
#define CBP_META_TOTAL (2 * CBP_MIB)	/* bytes kept of all fields together */
#define CBP_META_INFLATE_MAX (1 * CBP_MIB)	/* one zTXt/iTXt inflated */
#define CBP_META_SEGMENTS 4096		/* JPEG segments / PNG chunks / JP2 boxes walked */
#define CBP_META_IFD_ENTRIES 1024	/* entries read from one TIFF IFD */
#define CBP_META_IFDS 16		/* IFDs followed (IFD0, Exif, GPS, IFD1 ...) */
#define CBP_META_BOX_DEPTH 8		/* JP2 superbox nesting */

/* Biometric records. */
#define CBP_RECORD_FACES 64		/* faces / representations parsed per record */
#define CBP_RECORD_FEATURES 4096	/* feature points per face */
#define CBP_RECORD_AN_RECORDS 1000	/* logical records in one ANSI/NIST transaction */
#define CBP_RECORD_AN_FIELDS 4096	/* tagged fields per logical record */
#define CBP_RECORD_FIELDS 128		/* key=value fields kept per parsed record */

/*
 * YAML files (configuration, rules, lists): scanner/yaml.c.  They are
 * written by people, a few KiB each (the shipped profile is 20 KiB); the
 * caps only have to stop a hostile file from costing unbounded memory or
 * time, since as root cbpscan may read a file another user could write.
 * A file is read whole into memory, so its size is capped; libfyaml's
 * parser and our tree cost about 150 bytes per node, so 1000000 nodes is
 * at most ~150 MiB, and a 16 MiB file of "[1,1,1,...]" (8 million nodes)
 * is refused at the cap instead of taking a GiB.  Nesting is capped below
 * libfyaml's own 256 (rule conditions need about 3 levels each, 32 deep at
 * most), and bounds the recursion that builds the tree.  Aliases are not
 * expanded at all (an error), so no cap on expansion is needed.
 */
#define CBP_YAML_FILE_MAX (16 * CBP_MIB)	/* bytes of one YAML file */
#define CBP_YAML_DEPTH 200			/* nested mappings and lists */
#define CBP_YAML_NODES 1000000		/* scalars, mappings and lists in one file */

/* Rules. */
#define CBP_RULES_MAX 10000		/* rules in one ruleset */
#define CBP_RULE_DEPTH 32		/* all/any/not nesting */
#define CBP_PCRE2_MATCH_LIMIT 1000000	/* backtracking steps per match */
#define CBP_PCRE2_DEPTH_LIMIT 10000
#define CBP_PCRE2_HEAP_LIMIT_KIB 20480	/* 20 MiB */
#define CBP_CONTENT_MAX (16 * CBP_MIB)	/* default byte cap for scope: file */

/*
 * Bytes of an object hashed for a finding's "sha256".  Every picture, record
 * and archive member cbpscan holds (load_max, member_max) is smaller, so
 * those are hashed whole; a larger file (a disk image, a 100 GB sparse file
 * that starts with a plate picture) is hashed this far only, and the finding
 * says so with "sha256_partial" and "sha256_bytes".  Without a cap one such
 * file costs minutes per finding.  It is carving's reach too: a finding's
 * file is not read further for its hash than it was searched.
 * (option: limits.hash_max)
 */
#define CBP_HASH_MAX ((size_t)1024 * CBP_MIB)
/* Streaming SHA-256 of large files reads this much at a time (the cancel
 * flag is checked between pieces). */
#define CBP_HASH_CHUNK (1 * CBP_MIB)

/* Outputs. */
#define CBP_EVIDENCE_MAX 512		/* bytes of evidence text per finding */

#endif
