/*
 * wicketctl persons: import households, persons and credentials into the
 * registry (STATE_DIR/registry.db) and export them again.
 *
 * An import parses every file first and applies nothing unless all of
 * them are clean; then one reg_import() applies them together, in one
 * transaction, so a household in one file and its persons in another
 * resolve against each other.  wicketd notices the new version by itself
 * (it polls the database) and swaps its in-memory registry.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"
#include "fsutil.h"
#include "registry.h"

#define FILE_MAX ((size_t)1 << 30)	/* an import file, bytes */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons import [--replace] [--format json|csv] FILE...\n"
		"       wicketctl persons export [--format json|csv] [--table TABLE]\n"
		"\n"
		"  import   read FILEs (households, persons, credentials; JSON or CSV,\n"
		"           by extension or --format; - is standard input) and apply\n"
		"           them together, or nothing when any has an error\n"
		"  export   write the registry to standard output\n"
		"\n"
		"See 'wicketctl persons import --help', docs/registry.md and wicketctl(1).\n");
}

static void usage_import(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons import [--replace] [--format json|csv] FILE...\n"
		"\n"
		"Adds and updates the households, persons and credentials the files\n"
		"name (by id; a row sets every field of its entry).  All files are\n"
		"checked first; an error in any of them is printed as\n"
		"FILE:LINE: FIELD: message and nothing is applied (exit 1).\n"
		"\n"
		"  --replace          also remove, from each table the files carry,\n"
		"                     every entry they do not name\n"
		"  --format FORMAT    json or csv for every FILE (default: by the\n"
		"                     extension, .json or .csv)\n"
		"\n"
		"A CSV file holds one table, named by its header row: households\n"
		"(id,unit,landlord), persons (id,household,role,...) or credentials\n"
		"(value,kind,person,...).  See docs/registry.md.\n");
}

static void usage_export(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons export [--format json|csv] [--table TABLE]\n"
		"\n"
		"Writes the registry to standard output in the import format, times\n"
		"in UTC.  JSON (the default) holds every table, or only --table;\n"
		"CSV holds one table, so it needs --table households, persons or\n"
		"credentials.\n");
}

static void print_error(void *ctx, const char *file, int line,
			const char *field, const char *msg)
{
	(void)ctx;
	if (file && line > 0)
		fprintf(stderr, "%s:%d: ", file, line);
	else if (file)
		fprintf(stderr, "%s: ", file);
	else
		fprintf(stderr, "wicketctl: ");
	if (field && *field)
		fprintf(stderr, "%s: ", field);
	fprintf(stderr, "%s\n", msg);
}

static int parse_format(const char *s, enum reg_format *fmt)
{
	if (strcmp(s, "json") == 0)
		*fmt = REG_JSON;
	else if (strcmp(s, "csv") == 0)
		*fmt = REG_CSV;
	else
		return -1;
	return 0;
}

static int format_of(const char *path, enum reg_format *fmt)
{
	const char *dot = strrchr(path, '.');

	if (dot && strcasecmp(dot, ".json") == 0)
		*fmt = REG_JSON;
	else if (dot && strcasecmp(dot, ".csv") == 0)
		*fmt = REG_CSV;
	else
		return -1;
	return 0;
}

/* STATE_DIR/registry.db; create: make the state directory if missing (an
 * import before wicketd's first start) */
static char *registry_path(const struct ctl_opts *o, int create)
{
	char *dir = ctl_state_dir(o), *path;
	size_t len;
	int rc;

	if (dir == NULL)
		return NULL;
	if (create && (rc = fs_mkdirs(dir, 0750)) < 0) {
		fprintf(stderr, "wicketctl: cannot create %s: %s\n", dir,
			strerror(-rc));
		free(dir);
		return NULL;
	}
	len = strlen(dir) + sizeof("/" REG_FILE);
	path = malloc(len);
	if (path)
		snprintf(path, len, "%s/%s", dir, REG_FILE);
	else
		fprintf(stderr, "wicketctl: out of memory\n");
	free(dir);
	return path;
}

static int cmd_import(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replace", no_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct reg_batch **batches = NULL;
	enum reg_format forced = REG_JSON;
	int have_format = 0, replace = 0, ch, nfiles, errors = 0;
	int ret = CTL_FAIL;
	size_t nh = 0, np = 0, nc = 0;
	struct reg_db *db = NULL;
	char *path = NULL, err[512];

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			replace = 1;
			break;
		case 'f':
			if (parse_format(optarg, &forced) != 0) {
				fprintf(stderr, "wicketctl: --format: '%s' is "
					"not json or csv\n", optarg);
				return CTL_USAGE;
			}
			have_format = 1;
			break;
		case 'h':
			usage_import(stdout);
			return CTL_OK;
		default:
			usage_import(stderr);
			return CTL_USAGE;
		}
	}
	nfiles = argc - optind;
	if (nfiles < 1) {
		fprintf(stderr, "wicketctl: persons import: no FILE given\n");
		usage_import(stderr);
		return CTL_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		enum reg_format fmt = forced;

		if (!have_format && format_of(argv[i], &fmt) != 0) {
			fprintf(stderr, "wicketctl: %s: cannot tell the format "
				"from the name (.json or .csv); give --format\n",
				argv[i]);
			return CTL_USAGE;
		}
	}
	batches = calloc((size_t)nfiles, sizeof(*batches));
	if (batches == NULL) {
		fprintf(stderr, "wicketctl: out of memory\n");
		return CTL_FAIL;
	}
	for (int i = 0; i < nfiles; i++) {
		const char *file = argv[optind + i];
		enum reg_format fmt = forced;
		size_t len = 0;
		char *text = NULL;
		int rc;

		if (!have_format)
			format_of(file, &fmt);
		rc = fs_read_file(file, FILE_MAX, &text, &len);
		if (rc != 0) {
			fprintf(stderr, "%s: %s\n", file, strerror(-rc));
			errors++;
			continue;
		}
		rc = reg_batch_parse(text, len, file, fmt, &batches[i],
				     print_error, NULL);
		free(text);
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", file, strerror(-rc));
			errors++;
		} else {
			errors += rc;
		}
	}
	if (errors > 0) {
		fprintf(stderr, "wicketctl: %d error%s; nothing imported\n",
			errors, errors == 1 ? "" : "s");
		goto out;
	}
	path = registry_path(o, 1);
	if (path == NULL)
		goto out;
	if (reg_db_open(path, &db, err, sizeof(err)) != 0) {
		fprintf(stderr, "wicketctl: %s\n", err);
		goto out;
	}
	errors = reg_import(db, batches, (size_t)nfiles, replace, print_error,
			    NULL);
	if (errors != 0) {
		if (errors > 0)
			fprintf(stderr, "wicketctl: %d error%s; nothing "
				"imported\n", errors, errors == 1 ? "" : "s");
		else
			fprintf(stderr, "wicketctl: %s: import failed (%s); "
				"nothing imported\n", path, strerror(-errors));
		goto out;
	}
	for (int i = 0; i < nfiles; i++) {
		size_t h, p, c;

		reg_batch_counts(batches[i], &h, &p, &c);
		nh += h;
		np += p;
		nc += c;
	}
	if (o->json)
		printf("{\"households\":%zu,\"persons\":%zu,\"credentials\":%zu,"
		       "\"version\":%" PRId64 "}\n", nh, np, nc,
		       reg_db_version(db));
	else
		printf("imported: %zu household%s, %zu person%s, %zu "
		       "credential%s; registry version %" PRId64 "\n",
		       nh, nh == 1 ? "" : "s", np, np == 1 ? "" : "s", nc,
		       nc == 1 ? "" : "s", reg_db_version(db));
	ret = CTL_OK;
out:
	reg_db_close(db);
	for (int i = 0; i < nfiles; i++)
		reg_batch_free(batches[i]);
	free(batches);
	free(path);
	return ret;
}

static int cmd_export(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "table", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum reg_format fmt = REG_JSON;
	const char *table = NULL;
	struct reg_db *db = NULL;
	char *path, err[512];
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (parse_format(optarg, &fmt) != 0) {
				fprintf(stderr, "wicketctl: --format: '%s' is "
					"not json or csv\n", optarg);
				return CTL_USAGE;
			}
			break;
		case 't':
			if (strcmp(optarg, "households") != 0 &&
			    strcmp(optarg, "persons") != 0 &&
			    strcmp(optarg, "credentials") != 0) {
				fprintf(stderr, "wicketctl: --table: '%s' is "
					"not households, persons or "
					"credentials\n", optarg);
				return CTL_USAGE;
			}
			table = optarg;
			break;
		case 'h':
			usage_export(stdout);
			return CTL_OK;
		default:
			usage_export(stderr);
			return CTL_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wicketctl: persons export: unexpected '%s'\n",
			argv[optind]);
		usage_export(stderr);
		return CTL_USAGE;
	}
	if (fmt == REG_CSV && table == NULL) {
		fprintf(stderr, "wicketctl: persons export: CSV holds one "
			"table; give --table households, persons or "
			"credentials\n");
		return CTL_USAGE;
	}
	path = registry_path(o, 0);
	if (path == NULL)
		return CTL_FAIL;
	if (access(path, F_OK) != 0) {
		fprintf(stderr, "wicketctl: %s: %s (nothing imported yet?)\n",
			path, strerror(errno));
		free(path);
		return CTL_FAIL;
	}
	if (reg_db_open(path, &db, err, sizeof(err)) != 0) {
		fprintf(stderr, "wicketctl: %s\n", err);
		free(path);
		return CTL_FAIL;
	}
	rc = reg_export(db, fmt, table, stdout);
	if (rc != 0)
		fprintf(stderr, "wicketctl: %s: export failed: %s\n", path,
			strerror(-rc));
	reg_db_close(db);
	free(path);
	return rc == 0 ? CTL_OK : CTL_FAIL;
}

int ctl_persons(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	if (strcmp(argv[1], "import") == 0)
		return cmd_import(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return cmd_export(o, argc - 1, argv + 1);
	fprintf(stderr, "wicketctl: persons: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CTL_USAGE;
}
