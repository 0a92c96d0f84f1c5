/*
 * wicketctl report DAY: one local day of the gate, computed from the
 * ledger (STATE_DIR/ledger.db, read-only): passages allowed and denied,
 * in and out; allowed passages per hour, in and out (like the daily
 * report wicketd stores), with the denied ones per hour beside them;
 * denials by reason; alarms by kind; a histogram of every passage's
 * temperature with the fever threshold; device faults.  As text, as JSON
 * (--json, the same numbers) and as one self-contained HTML page with
 * three SVG charts (--html FILE), which needs no script, font or picture
 * from anywhere.
 *
 * The day is the local calendar day, from midnight to midnight by mktime,
 * so it has 23 or 25 hours when the clocks change; its hours are local
 * too, so the repeated hour of an autumn night counts in one bin.
 *
 * The threshold comes from --threshold, else from the rules file (--rules,
 * or the config's `rules`): the rules are asked, with rules_eval() as the
 * daemon asks them, for the lowest temperature at which a resident with a
 * valid card, coming in at noon on that day in normal mode, is no longer
 * simply let in (denied or asked to measure again).  That is the number a
 * reader of the chart means by "the threshold", whatever the rules look
 * like, and it needs no access to their insides.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ctl.h"
#include "ledgerdb.h"
#include "rules.h"


/* the histogram: bins of 0.1 C from T_LO to T_HI, and one either side */
#define T_LO_TENTHS 340
#define T_HI_TENTHS 420
#define N_BINS (T_HI_TENTHS - T_LO_TENTHS)
#define THRESHOLD_MIN 30.0
#define THRESHOLD_MAX 45.0

struct count {
	char *key;
	int64_t n;
};

struct fault {
	char *device;
	int64_t n, first, last;
	char *message;		/* the last fault's */
};

struct report {
	char day[16];
	int64_t start, end;
	const char *site, *gate;	/* NULL without a config */

	int64_t total, allowed, denied, in, out;
	int64_t allowed_in, allowed_out, denied_in, denied_out;
	int64_t hour_in[24], hour_out[24], hour_denied[24];

	struct count *denials, *alarms;
	size_t n_denials, n_alarms;
	int64_t n_alarm_events;

	int64_t t_count, t_under, t_over, t_bins[N_BINS], t_at_or_above;
	double t_min, t_max, t_sum;
	int has_threshold;
	double threshold;
	char threshold_from[4200];	/* "--threshold", "rules FILE" or why not */

	struct fault *faults;
	size_t n_faults;
	int64_t fault_events;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wicketctl report DAY [--json] [--html FILE] [--rules FILE]\n"
		"                        [--threshold C]\n"
		"\n"
		"The summary of one local day from the ledger (read-only; wicketd may\n"
		"be running or stopped): passages allowed and denied, in and out,\n"
		"allowed passages per hour, denials by reason, alarms by kind, the\n"
		"temperatures taken with the fever threshold, device faults.\n"
		"\n"
		"  DAY              YYYY-MM-DD, today or yesterday\n"
		"  --json           the same numbers as JSON\n"
		"  --html FILE      also write one self-contained HTML page with charts\n"
		"                   (- : to standard output, instead of the text)\n"
		"  --rules FILE     read the fever threshold from this rules file\n"
		"                   (default: the config's rules)\n"
		"  --threshold C    the fever threshold in C, instead of the rules'\n");
}

/* --- gathering ------------------------------------------------------------ */

static int count_add(struct count **v, size_t *n, const char *key, int64_t k)
{
	struct count *c = realloc(*v, (*n + 1) * sizeof(**v));

	if (c == NULL)
		return -ENOMEM;
	*v = c;
	c[*n].key = strdup(key);
	if (c[*n].key == NULL)
		return -ENOMEM;
	c[*n].n = k;
	(*n)++;
	return 0;
}

static int by_count(const void *a, const void *b)
{
	const struct count *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->key, y->key);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *path, const char *sql,
			     const struct report *r)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, sqlite3_errmsg(db));
		return NULL;
	}
	sqlite3_bind_int64(st, 1, r->start);
	sqlite3_bind_int64(st, 2, r->end);
	return st;
}

static const char *text_or(sqlite3_stmt *st, int i, const char *dflt)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t && *t ? (const char *)t : dflt;
}

static int number(sqlite3_stmt *st, int i, double *v)
{
	int t = sqlite3_column_type(st, i);

	if (t != SQLITE_INTEGER && t != SQLITE_FLOAT)
		return 0;
	*v = sqlite3_column_double(st, i);
	return isfinite(*v);
}

static void add_temperature(struct report *r, double t)
{
	double tenths;

	if (r->t_count == 0 || t < r->t_min)
		r->t_min = t;
	if (r->t_count == 0 || t > r->t_max)
		r->t_max = t;
	r->t_count++;
	r->t_sum += t;
	/* as the rules compare */
	r->t_at_or_above += r->has_threshold && t >= r->threshold;
	/* 36.6 is 365.99999... tenths in binary: a hair up puts it in its
	 * own bin */
	tenths = floor(t * 10 + 1e-6);
	if (tenths < T_LO_TENTHS)
		r->t_under++;
	else if (tenths >= T_HI_TENTHS)
		r->t_over++;
	else
		r->t_bins[(int)tenths - T_LO_TENTHS]++;
}

static int passages(sqlite3 *db, const char *path, struct report *r)
{
	sqlite3_stmt *st = prepare(db, path,
		"SELECT time_ms, decision, direction, temperature FROM event"
		" WHERE kind = 'passage' AND time_ms >= ?1 AND time_ms < ?2", r);
	int rc;

	if (st == NULL)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *dec = text_or(st, 1, ""), *dir = text_or(st, 2, "");
		int allow = strcmp(dec, "allow") == 0;
		int deny = strcmp(dec, "deny") == 0;
		int in = strcmp(dir, "in") == 0, out = strcmp(dir, "out") == 0;
		double t, ms;
		struct tm tm;
		time_t s;

		r->total++;
		r->allowed += allow;
		r->denied += deny;
		r->in += in;
		r->out += out;
		r->allowed_in += allow && in;
		r->allowed_out += allow && out;
		r->denied_in += deny && in;
		r->denied_out += deny && out;
		if (number(st, 0, &ms)) {
			s = (time_t)floor(ms / 1000);
			if (localtime_r(&s, &tm) && tm.tm_hour >= 0 &&
			    tm.tm_hour < 24) {
				r->hour_in[tm.tm_hour] += allow && in;
				r->hour_out[tm.tm_hour] += allow && out;
				r->hour_denied[tm.tm_hour] += deny;
			}
		}
		if (number(st, 3, &t))
			add_temperature(r, t);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

/* key, count rows into a list sorted by count */
static int counts(sqlite3 *db, const char *path, const char *sql,
		  const struct report *r, struct count **v, size_t *n,
		  int64_t *total)
{
	sqlite3_stmt *st = prepare(db, path, sql, r);
	int rc;

	if (st == NULL)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 1);

		if (count_add(v, n, text_or(st, 0, "?"), k) < 0) {
			sqlite3_finalize(st);
			fprintf(stderr, "wicketctl: out of memory\n");
			return -ENOMEM;
		}
		if (total)
			*total += k;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, sqlite3_errmsg(db));
		return -EIO;
	}
	if (*n > 1)
		qsort(*v, *n, sizeof(**v), by_count);
	return 0;
}

static int faults(sqlite3 *db, const char *path, struct report *r)
{
	sqlite3_stmt *st = prepare(db, path,
		"SELECT device, count(*), min(time_ms), max(time_ms),"
		" (SELECT message FROM event m WHERE m.kind = 'device'"
		"  AND m.state = 'fault' AND m.device IS d.device"
		"  AND m.time_ms >= ?1 AND m.time_ms < ?2"
		"  ORDER BY m.time_ms DESC, m.seq DESC LIMIT 1)"
		" FROM event d WHERE kind = 'device' AND state = 'fault'"
		" AND time_ms >= ?1 AND time_ms < ?2 GROUP BY device"
		" ORDER BY device", r);
	int rc;

	if (st == NULL)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fault *f = realloc(r->faults,
					  (r->n_faults + 1) * sizeof(*f));

		if (f == NULL)
			break;
		r->faults = f;
		f += r->n_faults;
		f->device = strdup(text_or(st, 0, "?"));
		f->message = strdup(text_or(st, 4, ""));
		f->n = sqlite3_column_int64(st, 1);
		f->first = sqlite3_column_int64(st, 2);
		f->last = sqlite3_column_int64(st, 3);
		r->n_faults++;
		r->fault_events += f->n;
		if (f->device == NULL || f->message == NULL)
			break;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW) {
		fprintf(stderr, "wicketctl: out of memory\n");
		return -ENOMEM;
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

static void report_free(struct report *r)
{
	for (size_t i = 0; i < r->n_denials; i++)
		free(r->denials[i].key);
	for (size_t i = 0; i < r->n_alarms; i++)
		free(r->alarms[i].key);
	for (size_t i = 0; i < r->n_faults; i++) {
		free(r->faults[i].device);
		free(r->faults[i].message);
	}
	free(r->denials);
	free(r->alarms);
	free(r->faults);
}

/* --- the threshold -------------------------------------------------------- */

/* Does a resident at temperature t, coming in at noon of the day, get
 * anything but allow? */
static int stopped_at(const struct rules *rs, const struct rules_facts *base,
		      double t)
{
	struct rules_facts f = *base;
	struct rules_verdict v;

	f.temperature_c = t;
	rules_eval(rs, &f, &v);
	return v.decision != RULES_ALLOW;
}

static int find_threshold(const struct rules *rs, const char *day,
			  double *out)
{
	struct rules_facts f;
	double best = INFINITY;

	memset(&f, 0, sizeof(f));
	if (rules_date_parse(day, &f.date, &f.wday) != 0)
		return -EINVAL;
	f.minute = 12 * 60;
	f.mode = RULES_MODE_NORMAL;
	f.direction = RULES_DIR_IN;
	f.credential = RULES_CRED_VALID;
	f.has_person = 1;
	f.role = RULES_ROLE_RESIDENT;
	f.person = RULES_VALID;
	f.has_household = 1;
	f.temperature = RULES_TEMP_OK;
	f.last_direction = RULES_DIR_NONE;
	/* the first reading, and the second of a re-test */
	for (f.retest = 0; f.retest < 2; f.retest++) {
		double lo, hi;
		int i;

		if (stopped_at(rs, &f, 36.5))
			continue;	/* not even a normal reading passes */
		for (i = 3651; i <= 4500; i++)
			if (stopped_at(rs, &f, i / 100.0))
				break;
		if (i > 4500)
			continue;
		/* the exact edge: the rules compare doubles */
		lo = (i - 1) / 100.0;
		hi = i / 100.0;
		for (int k = 0; k < 80; k++) {
			double mid = lo + (hi - lo) / 2;

			if (mid <= lo || mid >= hi)
				break;
			if (stopped_at(rs, &f, mid))
				hi = mid;
			else
				lo = mid;
		}
		/* 37.3 in the rules is that double; a rounder one that is
		 * still on the stopped side reads better */
		lo = round(hi * 1000) / 1000;
		if (lo < hi && stopped_at(rs, &f, lo))
			hi = lo;
		if (hi < best)
			best = hi;
	}
	if (!isfinite(best))
		return -ENOENT;
	*out = best;
	return 0;
}

static void print_rules_error(void *ctx, const char *where, const char *path,
			      const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s: %s: %s\n", where, path, msg);
}

/* 0, or -1 when an explicit --rules file is unusable (exit 1). */
static int threshold_of(struct report *r, const char *rules_path,
			int explicit_rules)
{
	struct rules *rs = NULL;
	int rc;

	if (rules_path == NULL) {
		snprintf(r->threshold_from, sizeof(r->threshold_from),
			 "no rules file (give --rules FILE or --threshold C)");
		return 0;
	}
	rc = rules_load(rules_path, &rs, print_rules_error, NULL);
	if (rc != 0) {
		if (explicit_rules) {
			fprintf(stderr, "wicketctl: --rules %s: cannot use it\n",
				rules_path);
			return -1;
		}
		fprintf(stderr, "wicketctl: warning: the rules file %s cannot be "
			"used; no threshold is marked (give --threshold C)\n",
			rules_path);
		snprintf(r->threshold_from, sizeof(r->threshold_from),
			 "rules %s: cannot be used", rules_path);
		return 0;
	}
	if (find_threshold(rs, r->day, &r->threshold) == 0) {
		r->has_threshold = 1;
		snprintf(r->threshold_from, sizeof(r->threshold_from),
			 "rules %s", rules_path);
	} else {
		snprintf(r->threshold_from, sizeof(r->threshold_from),
			 "rules %s: no temperature from 36.5 to 45 C stops a "
			 "resident", rules_path);
	}
	rules_free(rs);
	return 0;
}

/* --- text ----------------------------------------------------------------- */

/* The local time of day of a moment of the day: "18:20:01". */
static void clock_of(int64_t ms, char *buf, size_t len)
{
	char t[64];

	ldb_time_local(ms, t, sizeof(t));
	snprintf(buf, len, "%s", strlen(t) == 19 ? t + 11 : "?");
}

static double hours_of(const struct report *r)
{
	return (double)(r->end - r->start) / 3600000.0;
}

static void print_text(FILE *f, const struct report *r)
{
	static const char *const wdays[] = { "Sunday", "Monday", "Tuesday",
		"Wednesday", "Thursday", "Friday", "Saturday" };
	int64_t peak = 0;
	char a[64], b[64];
	int wday = 0, date;

	rules_date_parse(r->day, &date, &wday);
	fprintf(f, "wicket report: ");
	if (r->site || r->gate) {
		ldb_put_term(f, r->site ? r->site : "-", 0);
		fputs(" / ", f);
		ldb_put_term(f, r->gate ? r->gate : "-", 0);
		fputs(", ", f);
	}
	fprintf(f, "%s (%s, %.0f hours)\n\n", r->day, wdays[wday % 7],
		hours_of(r));
	fprintf(f, "passages %8lld: allowed %lld, denied %lld\n",
		(long long)r->total, (long long)r->allowed, (long long)r->denied);
	fprintf(f, "  in     %8lld: allowed %lld, denied %lld\n",
		(long long)r->in, (long long)r->allowed_in,
		(long long)r->denied_in);
	fprintf(f, "  out    %8lld: allowed %lld, denied %lld\n",
		(long long)r->out, (long long)r->allowed_out,
		(long long)r->denied_out);

	fprintf(f, "\npassages per hour (in and out: allowed ones; denied: "
		"all; hours without\nany left out):\n"
		"  hour      in     out  denied\n");
	for (int h = 0; h < 24; h++)
		if (r->hour_in[h] || r->hour_out[h] || r->hour_denied[h])
			fprintf(f, "  %02d    %6lld  %6lld  %6lld\n", h,
				(long long)r->hour_in[h],
				(long long)r->hour_out[h],
				(long long)r->hour_denied[h]);

	fprintf(f, "\ndenials: %lld%s\n", (long long)r->denied,
		r->n_denials ? ", by reason:" : "");
	for (size_t i = 0; i < r->n_denials; i++) {
		size_t w = ldb_put_term(f, "  ", 0) +
			   ldb_put_term(f, r->denials[i].key, 0);

		fprintf(f, "%*s%6lld\n", w < 28 ? (int)(28 - w) : 1, "",
			(long long)r->denials[i].n);
	}
	fprintf(f, "\nalarms: %lld%s\n", (long long)r->n_alarm_events,
		r->n_alarms ? ", by kind:" : "");
	for (size_t i = 0; i < r->n_alarms; i++) {
		size_t w = ldb_put_term(f, "  ", 0) +
			   ldb_put_term(f, r->alarms[i].key, 0);

		fprintf(f, "%*s%6lld\n", w < 28 ? (int)(28 - w) : 1, "",
			(long long)r->alarms[i].n);
	}

	fprintf(f, "\ntemperatures: %lld reading(s)", (long long)r->t_count);
	if (r->t_count) {
		ldb_fmt_num(r->t_min, a, sizeof(a));
		ldb_fmt_num(r->t_max, b, sizeof(b));
		fprintf(f, ", %s to %s C, mean %.2f C", a, b,
			r->t_sum / (double)r->t_count);
	}
	fputc('\n', f);
	if (r->has_threshold) {
		ldb_fmt_num(r->threshold, a, sizeof(a));
		fprintf(f, "  fever threshold %s C (", a);
		ldb_put_term(f, r->threshold_from, 0);
		fprintf(f, "): %lld at or above it\n",
			(long long)r->t_at_or_above);
	} else {
		fputs("  fever threshold: unknown, ", f);
		ldb_put_term(f, r->threshold_from, 0);
		fputc('\n', f);
	}
	for (int i = 0; i < N_BINS; i++)
		if (r->t_bins[i] > peak)
			peak = r->t_bins[i];
	if (r->t_under)
		fprintf(f, "  below 34.0  %6lld\n", (long long)r->t_under);
	for (int i = 0; i < N_BINS; i++) {
		int bar;

		if (r->t_bins[i] == 0)
			continue;
		bar = (int)((r->t_bins[i] * 40 + peak - 1) / peak);
		fprintf(f, "  %4.1f%s %6lld  %.*s\n",
			(T_LO_TENTHS + i) / 10.0,
			r->has_threshold && (T_LO_TENTHS + i) / 10.0 >=
			r->threshold - 1e-9 ? " !    " : "      ",
			(long long)r->t_bins[i], bar,
			"########################################");
	}
	if (r->t_over)
		fprintf(f, "  42.0 and up %6lld\n", (long long)r->t_over);
	if (r->t_count)
		fputs("  (bins of 0.1 C; ! at or above the threshold)\n", f);

	fprintf(f, "\ndevice faults: %lld\n", (long long)r->fault_events);
	for (size_t i = 0; i < r->n_faults; i++) {
		const struct fault *x = &r->faults[i];

		clock_of(x->first, a, sizeof(a));
		clock_of(x->last, b, sizeof(b));
		fputs("  ", f);
		ldb_put_term(f, x->device, 0);
		fprintf(f, ": %lld, %s to %s, last: ", (long long)x->n, a, b);
		ldb_put_term(f, x->message, 200);
		fputc('\n', f);
	}
}

/* --- JSON ----------------------------------------------------------------- */

static void json_counts(FILE *f, const struct count *v, size_t n)
{
	fputc('{', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		ldb_put_json_str(f, v[i].key);
		fprintf(f, ":%lld", (long long)v[i].n);
	}
	fputc('}', f);
}

static void json_num(FILE *f, double v)
{
	char b[40];

	ldb_fmt_num(v, b, sizeof(b));
	fputs(b, f);
}

static void print_json(FILE *f, const struct report *r)
{
	char a[64];

	fprintf(f, "{\"day\":\"%s\"", r->day);
	ldb_time_iso(r->start, a, sizeof(a));
	fprintf(f, ",\"from\":\"%s\",\"from_ms\":%lld", a, (long long)r->start);
	ldb_time_iso(r->end, a, sizeof(a));
	fprintf(f, ",\"to\":\"%s\",\"to_ms\":%lld,\"hours\":", a,
		(long long)r->end);
	json_num(f, hours_of(r));
	fputs(",\"site\":", f);
	if (r->site)
		ldb_put_json_str(f, r->site);
	else
		fputs("null", f);
	fputs(",\"gate\":", f);
	if (r->gate)
		ldb_put_json_str(f, r->gate);
	else
		fputs("null", f);
	fprintf(f, ",\n\"passages\":{\"total\":%lld,\"allowed\":%lld,"
		"\"denied\":%lld,\"in\":%lld,\"out\":%lld,\"allowed_in\":%lld,"
		"\"allowed_out\":%lld,\"denied_in\":%lld,\"denied_out\":%lld}",
		(long long)r->total, (long long)r->allowed,
		(long long)r->denied, (long long)r->in, (long long)r->out,
		(long long)r->allowed_in, (long long)r->allowed_out,
		(long long)r->denied_in, (long long)r->denied_out);
	fputs(",\n\"per_hour\":[", f);
	for (int h = 0; h < 24; h++)
		fprintf(f, "%s{\"hour\":%d,\"in\":%lld,\"out\":%lld,"
			"\"denied\":%lld}", h ? "," : "", h,
			(long long)r->hour_in[h], (long long)r->hour_out[h],
			(long long)r->hour_denied[h]);
	fputs("],\n\"denials\":", f);
	json_counts(f, r->denials, r->n_denials);
	fputs(",\n\"alarms\":", f);
	json_counts(f, r->alarms, r->n_alarms);
	fprintf(f, ",\n\"temperature\":{\"count\":%lld", (long long)r->t_count);
	fputs(",\"min\":", f);
	if (r->t_count)
		json_num(f, r->t_min);
	else
		fputs("null", f);
	fputs(",\"max\":", f);
	if (r->t_count)
		json_num(f, r->t_max);
	else
		fputs("null", f);
	fputs(",\"mean\":", f);
	if (r->t_count)
		fprintf(f, "%.3f", r->t_sum / (double)r->t_count);
	else
		fputs("null", f);
	fputs(",\"threshold\":", f);
	if (r->has_threshold)
		json_num(f, r->threshold);
	else
		fputs("null", f);
	fputs(",\"threshold_from\":", f);
	ldb_put_json_str(f, r->threshold_from);
	fputs(",\"at_or_above_threshold\":", f);
	if (r->has_threshold)
		fprintf(f, "%lld", (long long)r->t_at_or_above);
	else
		fputs("null", f);
	fprintf(f, ",\"bin_width\":0.1,\"bins_from\":%.1f,\"bins_to\":%.1f,"
		"\"under\":%lld,\"over\":%lld,\"bins\":[",
		T_LO_TENTHS / 10.0, T_HI_TENTHS / 10.0, (long long)r->t_under,
		(long long)r->t_over);
	for (int i = 0; i < N_BINS; i++)
		fprintf(f, "%s{\"from\":%.1f,\"count\":%lld}", i ? "," : "",
			(T_LO_TENTHS + i) / 10.0, (long long)r->t_bins[i]);
	fprintf(f, "]},\n\"device_faults\":{\"count\":%lld,\"devices\":[",
		(long long)r->fault_events);
	for (size_t i = 0; i < r->n_faults; i++) {
		const struct fault *x = &r->faults[i];

		fputs(i ? ",{\"device\":" : "{\"device\":", f);
		ldb_put_json_str(f, x->device);
		fprintf(f, ",\"count\":%lld", (long long)x->n);
		ldb_time_iso(x->first, a, sizeof(a));
		fprintf(f, ",\"first\":\"%s\"", a);
		ldb_time_iso(x->last, a, sizeof(a));
		fprintf(f, ",\"last\":\"%s\",\"last_message\":", a);
		ldb_put_json_str(f, x->message);
		fputc('}', f);
	}
	fputs("]}}\n", f);
}

/* --- HTML ----------------------------------------------------------------- */

/* Chart geometry, in SVG user units. */
#define CH_W 760.0
#define CH_LEFT 56.0
#define CH_RIGHT 16.0
#define CH_TOP 24.0
#define CH_PLOT_H 180.0
#define CH_BOTTOM 48.0

/* A round upper end for an axis (1, 2 or 5 times a power of ten) and its
 * tick step, so the tick labels are whole numbers. */
static void axis(int64_t max, int64_t *top, int64_t *step)
{
	int64_t p = 1;

	if (max < 1)
		max = 1;
	while (p * 10 <= max)
		p *= 10;
	*top = max <= p ? p : max <= 2 * p ? 2 * p : max <= 5 * p ? 5 * p :
	       10 * p;
	*step = *top <= 5 ? 1 : *top / 5;
}

static void y_axis(FILE *f, int64_t top, int64_t step, const char *title)
{
	double base = CH_TOP + CH_PLOT_H;

	for (int64_t v = 0; v <= top; v += step) {
		double y = base - CH_PLOT_H * (double)v / (double)top;

		fprintf(f, "<line class=\"grid\" x1=\"%.2f\" y1=\"%.2f\" "
			"x2=\"%.2f\" y2=\"%.2f\"/>\n", CH_LEFT, y,
			CH_W - CH_RIGHT, y);
		fprintf(f, "<text class=\"tick y\" x=\"%.2f\" y=\"%.2f\" "
			"text-anchor=\"end\">%lld</text>\n", CH_LEFT - 6,
			y + 4, (long long)v);
	}
	fprintf(f, "<text class=\"axis-title y\" x=\"14\" y=\"%.2f\" "
		"transform=\"rotate(-90 14 %.2f)\" text-anchor=\"middle\">%s"
		"</text>\n", CH_TOP + CH_PLOT_H / 2, CH_TOP + CH_PLOT_H / 2,
		title);
	fprintf(f, "<line class=\"axis\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
		"y2=\"%.2f\"/>\n", CH_LEFT, base, CH_W - CH_RIGHT, base);
}

static void svg_open(FILE *f, const char *id, double h, const char *label)
{
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" "
		"class=\"chart\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%s\">\n",
		id, CH_W, h, CH_W, h, label);
	fprintf(f, "<title>%s</title>\n", label);
}

static void chart_hours(FILE *f, const struct report *r)
{
	double gw = (CH_W - CH_LEFT - CH_RIGHT) / 24, bw = (gw - 6) / 2;
	double base = CH_TOP + CH_PLOT_H;
	int64_t max = 0, top, step;

	for (int h = 0; h < 24; h++) {
		if (r->hour_in[h] > max)
			max = r->hour_in[h];
		if (r->hour_out[h] > max)
			max = r->hour_out[h];
	}
	axis(max, &top, &step);
	svg_open(f, "per-hour", CH_TOP + CH_PLOT_H + CH_BOTTOM,
		 "Allowed passages per hour, in and out");
	y_axis(f, top, step, "allowed passages");
	for (int h = 0; h < 24; h++) {
		double x = CH_LEFT + gw * h + 3;

		for (int d = 0; d < 2; d++) {
			int64_t n = d ? r->hour_out[h] : r->hour_in[h];
			double bh = CH_PLOT_H * (double)n / (double)top;

			fprintf(f, "<rect class=\"bar %s\" data-hour=\"%d\" "
				"data-count=\"%lld\" x=\"%.2f\" y=\"%.2f\" "
				"width=\"%.2f\" height=\"%.2f\"><title>%02d:00"
				"-%02d:59 %s: %lld</title></rect>\n",
				d ? "out" : "in", h, (long long)n, x + d * bw,
				base - bh, bw, bh, h, h, d ? "out" : "in",
				(long long)n);
		}
		fprintf(f, "<text class=\"tick x\" x=\"%.2f\" y=\"%.2f\" "
			"text-anchor=\"middle\">%02d</text>\n", x + bw,
			base + 16, h);
	}
	fprintf(f, "<text class=\"axis-title x\" x=\"%.2f\" y=\"%.2f\" "
		"text-anchor=\"middle\">hour of the day (local time)</text>\n",
		CH_LEFT + (CH_W - CH_LEFT - CH_RIGHT) / 2, base + 38);
	/* the legend, top right */
	fprintf(f, "<rect class=\"legend in\" x=\"%.2f\" y=\"6\" width=\"10\" "
		"height=\"10\"/><text class=\"legend\" x=\"%.2f\" y=\"15\">in"
		"</text>\n", CH_W - CH_RIGHT - 96, CH_W - CH_RIGHT - 82);
	fprintf(f, "<rect class=\"legend out\" x=\"%.2f\" y=\"6\" width=\"10\" "
		"height=\"10\"/><text class=\"legend\" x=\"%.2f\" y=\"15\">out"
		"</text>\n", CH_W - CH_RIGHT - 48, CH_W - CH_RIGHT - 34);
	fputs("</svg>\n", f);
}

/* Slots of the histogram: the under bin, a gap, N_BINS, a gap, the over
 * bin. */
#define T_SLOTS (N_BINS + 4)

static double temp_x(double sw, double t)
{
	return CH_LEFT + sw * (2 + (t - T_LO_TENTHS / 10.0) * 10);
}

static void chart_temperatures(FILE *f, const struct report *r)
{
	double sw = (CH_W - CH_LEFT - CH_RIGHT) / T_SLOTS;
	double base = CH_TOP + CH_PLOT_H;
	int64_t max = r->t_under > r->t_over ? r->t_under : r->t_over;
	int64_t top, step;
	char a[40];

	for (int i = 0; i < N_BINS; i++)
		if (r->t_bins[i] > max)
			max = r->t_bins[i];
	axis(max, &top, &step);
	svg_open(f, "temperature", CH_TOP + CH_PLOT_H + CH_BOTTOM + 14,
		 "Temperatures taken, with the fever threshold");
	y_axis(f, top, step, "passages");
	for (int i = -1; i <= N_BINS; i++) {
		int64_t n = i < 0 ? r->t_under : i == N_BINS ? r->t_over :
			    r->t_bins[i];
		double lo = (T_LO_TENTHS + i) / 10.0, bh;
		double x = i < 0 ? CH_LEFT : i == N_BINS ?
			   CH_LEFT + sw * (T_SLOTS - 1) : temp_x(sw, lo);
		int fever = r->has_threshold && i >= 0 &&
			    lo >= r->threshold - 1e-9;

		bh = CH_PLOT_H * (double)n / (double)top;
		fprintf(f, "<rect class=\"bar bin%s\"", i < 0 ? " under" :
			i == N_BINS ? " over" : fever ? " fever" : "");
		if (i >= 0)
			fprintf(f, " data-from=\"%.1f\"", lo);
		if (i < N_BINS)
			fprintf(f, " data-to=\"%.1f\"", lo + 0.1);
		fprintf(f, " data-count=\"%lld\" x=\"%.2f\" y=\"%.2f\" "
			"width=\"%.2f\" height=\"%.2f\"><title>", (long long)n,
			x, base - bh, sw, bh);
		if (i < 0)
			fprintf(f, "below %.1f", lo + 0.1);
		else if (i == N_BINS)
			fprintf(f, "%.1f and above", lo);
		else
			fprintf(f, "%.1f to %.1f", lo, lo + 0.1);
		fprintf(f, " &#176;C: %lld</title></rect>\n", (long long)n);
	}
	for (int d = T_LO_TENTHS; d <= T_HI_TENTHS; d += 10)
		fprintf(f, "<text class=\"tick x\" x=\"%.2f\" y=\"%.2f\" "
			"text-anchor=\"middle\">%d</text>\n",
			temp_x(sw, d / 10.0), base + 16, d / 10);
	/* a row of their own, so they do not run into 34 and 42 */
	fprintf(f, "<text class=\"tick x\" x=\"%.2f\" y=\"%.2f\" "
		"text-anchor=\"start\">&lt; %d</text>\n", CH_LEFT, base + 30,
		T_LO_TENTHS / 10);
	fprintf(f, "<text class=\"tick x\" x=\"%.2f\" y=\"%.2f\" "
		"text-anchor=\"end\">&#8805; %d</text>\n", CH_W - CH_RIGHT,
		base + 30, T_HI_TENTHS / 10);
	fprintf(f, "<text class=\"axis-title x\" x=\"%.2f\" y=\"%.2f\" "
		"text-anchor=\"middle\">temperature (&#176;C), bins of 0.1 "
		"&#176;C</text>\n", CH_LEFT + (CH_W - CH_LEFT - CH_RIGHT) / 2,
		base + 44);
	if (r->has_threshold) {
		/* off the scale: at the end of the scale, labelled with its
		 * value all the same */
		double t = r->threshold, x;

		if (t < T_LO_TENTHS / 10.0)
			t = T_LO_TENTHS / 10.0;
		if (t > T_HI_TENTHS / 10.0)
			t = T_HI_TENTHS / 10.0;
		x = temp_x(sw, t);
		ldb_fmt_num(r->threshold, a, sizeof(a));
		fprintf(f, "<line id=\"threshold\" class=\"threshold\" "
			"data-threshold=\"%s\" x1=\"%.2f\" y1=\"%.2f\" "
			"x2=\"%.2f\" y2=\"%.2f\"/>\n", a, x, CH_TOP - 6, x, base);
		/* right of the line, or left of it near the right end */
		fprintf(f, "<text class=\"threshold-label\" x=\"%.2f\" "
			"y=\"%.2f\" text-anchor=\"%s\">threshold %s &#176;C"
			"</text>\n", x > CH_W - 160 ? x - 4 : x + 4, CH_TOP - 10,
			x > CH_W - 160 ? "end" : "start", a);
	}
	fputs("</svg>\n", f);
}

static void chart_denials(FILE *f, const struct report *r)
{
	double label_w = 200, row = 24, bar_max = CH_W - label_w - 80;
	double h = CH_TOP + row * (double)(r->n_denials ? r->n_denials : 1) + 8;
	int64_t max = 1;

	for (size_t i = 0; i < r->n_denials; i++)
		if (r->denials[i].n > max)
			max = r->denials[i].n;
	svg_open(f, "denials", h, "Denied passages by reason");
	if (r->n_denials == 0)
		fprintf(f, "<text class=\"empty\" x=\"%.2f\" y=\"%.2f\">no "
			"passage was denied</text>\n", label_w, CH_TOP + 12);
	for (size_t i = 0; i < r->n_denials; i++) {
		const struct count *c = &r->denials[i];
		double y = CH_TOP + row * (double)i;
		double w = bar_max * (double)c->n / (double)max;

		fputs("<g class=\"denial\" data-reason=\"", f);
		ldb_put_html(f, c->key);
		fprintf(f, "\" data-count=\"%lld\">\n", (long long)c->n);
		fprintf(f, "<text class=\"label\" x=\"%.2f\" y=\"%.2f\" "
			"text-anchor=\"end\">", label_w - 8, y + 15);
		ldb_put_html(f, c->key);
		fputs("</text>\n<rect class=\"bar deny\" data-reason=\"", f);
		ldb_put_html(f, c->key);
		fprintf(f, "\" data-count=\"%lld\" x=\"%.2f\" y=\"%.2f\" "
			"width=\"%.2f\" height=\"%.2f\"/>\n", (long long)c->n,
			label_w, y + 2, w, row - 6);
		fprintf(f, "<text class=\"count\" x=\"%.2f\" y=\"%.2f\">%lld"
			"</text>\n</g>\n", label_w + w + 6, y + 15,
			(long long)c->n);
	}
	fputs("</svg>\n", f);
}

static void html_counts(FILE *f, const char *id, const char *head,
			const struct count *v, size_t n)
{
	fprintf(f, "<table id=\"%s\"><tr><th>%s</th><th>count</th></tr>\n",
		id, head);
	for (size_t i = 0; i < n; i++) {
		fputs("<tr><td>", f);
		ldb_put_html(f, v[i].key);
		fprintf(f, "</td><td class=\"n\">%lld</td></tr>\n",
			(long long)v[i].n);
	}
	if (n == 0)
		fputs("<tr><td colspan=\"2\">none</td></tr>\n", f);
	fputs("</table>\n", f);
}

static void html_title(FILE *f, const struct report *r)
{
	fputs("wicket report: ", f);
	if (r->site || r->gate) {
		ldb_put_html(f, r->site ? r->site : "-");
		fputs(" / ", f);
		ldb_put_html(f, r->gate ? r->gate : "-");
		fputs(", ", f);
	}
	fputs(r->day, f);
}

static void print_html(FILE *f, const struct report *r)
{
	char a[64], b[64];

	fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
	      "lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>", f);
	html_title(f, r);
	fputs("</title>\n<style>\n"
	      "body { font-family: sans-serif; margin: 2em; color: #222; }\n"
	      "h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }\n"
	      "table { border-collapse: collapse; margin: 0.5em 0; }\n"
	      "th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }\n"
	      "td.n { text-align: right; }\n"
	      "svg.chart { display: block; max-width: 100%; height: auto; }\n"
	      "svg text { font-size: 11px; fill: #333; }\n"
	      "svg .axis-title { font-size: 12px; }\n"
	      "svg .grid { stroke: #e4e4e4; } svg .axis { stroke: #555; }\n"
	      "svg .bar.in, svg .legend.in { fill: #2f6db5; }\n"
	      "svg .bar.out, svg .legend.out { fill: #7fb2e5; }\n"
	      "svg .bar.bin { fill: #6a9f58; stroke: #fff; stroke-width: 0.5; }\n"
	      "svg .bar.bin.fever, svg .bar.bin.over { fill: #c8453b; }\n"
	      "svg .bar.bin.under { fill: #999; }\n"
	      "svg .bar.deny { fill: #c8453b; }\n"
	      "svg .threshold { stroke: #000; stroke-width: 1.5; stroke-dasharray: 4 3; }\n"
	      "svg .threshold-label { font-weight: bold; }\n"
	      ".note { color: #666; font-size: 0.9em; }\n"
	      "</style>\n</head>\n<body>\n<h1>", f);
	html_title(f, r);
	fputs("</h1>\n", f);
	ldb_time_iso(r->start, a, sizeof(a));
	ldb_time_iso(r->end, b, sizeof(b));
	fprintf(f, "<p class=\"note\">The local day from %s to %s (%.0f hours), "
		"from the gate's ledger.</p>\n", a, b, hours_of(r));

	fputs("<table id=\"totals\"><tr><th></th><th>passages</th>"
	      "<th>allowed</th><th>denied</th></tr>\n", f);
	fprintf(f, "<tr><td>all</td><td class=\"n\">%lld</td><td class=\"n\">"
		"%lld</td><td class=\"n\">%lld</td></tr>\n",
		(long long)r->total, (long long)r->allowed, (long long)r->denied);
	fprintf(f, "<tr><td>in</td><td class=\"n\">%lld</td><td class=\"n\">"
		"%lld</td><td class=\"n\">%lld</td></tr>\n", (long long)r->in,
		(long long)r->allowed_in, (long long)r->denied_in);
	fprintf(f, "<tr><td>out</td><td class=\"n\">%lld</td><td class=\"n\">"
		"%lld</td><td class=\"n\">%lld</td></tr>\n</table>\n",
		(long long)r->out, (long long)r->allowed_out,
		(long long)r->denied_out);

	fputs("<h2>Allowed passages per hour</h2>\n", f);
	chart_hours(f, r);
	fprintf(f, "<p class=\"note\">In and out side by side for each hour; "
		"%lld denied passage(s) are not in this chart.</p>\n",
		(long long)r->denied);

	fputs("<h2>Temperatures</h2>\n", f);
	chart_temperatures(f, r);
	fprintf(f, "<p class=\"note\">%lld passage(s) with a temperature",
		(long long)r->t_count);
	if (r->has_threshold) {
		ldb_fmt_num(r->threshold, a, sizeof(a));
		fprintf(f, "; %lld at or above the fever threshold of %s &#176;C "
			"(", (long long)r->t_at_or_above, a);
		ldb_put_html(f, r->threshold_from);
		fputs(")", f);
	} else {
		fputs("; fever threshold unknown: ", f);
		ldb_put_html(f, r->threshold_from);
	}
	fputs(".</p>\n", f);

	fputs("<h2>Denials by reason</h2>\n", f);
	chart_denials(f, r);

	fputs("<h2>Alarms by kind</h2>\n", f);
	html_counts(f, "alarms", "kind", r->alarms, r->n_alarms);

	fputs("<h2>Device faults</h2>\n<table id=\"faults\"><tr><th>device</th>"
	      "<th>faults</th><th>first</th><th>last</th><th>last message</th>"
	      "</tr>\n", f);
	for (size_t i = 0; i < r->n_faults; i++) {
		const struct fault *x = &r->faults[i];

		fputs("<tr><td>", f);
		ldb_put_html(f, x->device);
		clock_of(x->first, a, sizeof(a));
		clock_of(x->last, b, sizeof(b));
		fprintf(f, "</td><td class=\"n\">%lld</td><td>%s</td><td>%s</td>"
			"<td>", (long long)x->n, a, b);
		ldb_put_html(f, x->message);
		fputs("</td></tr>\n", f);
	}
	if (r->n_faults == 0)
		fputs("<tr><td colspan=\"5\">none</td></tr>\n", f);
	fputs("</table>\n</body>\n</html>\n", f);
}

/* --- the command ---------------------------------------------------------- */

static int write_html(const char *file, const struct report *r)
{
	FILE *f = strcmp(file, "-") == 0 ? stdout : fopen(file, "w");
	int bad;

	if (f == NULL) {
		fprintf(stderr, "wicketctl: --html %s: %s\n", file,
			strerror(errno));
		return CTL_FAIL;
	}
	print_html(f, r);
	bad = f == stdout ? fflush(f) != 0 || ferror(f) : fclose(f) != 0;
	if (bad) {
		fprintf(stderr, "wicketctl: --html %s: %s\n", file,
			strerror(errno));
		return CTL_FAIL;
	}
	return CTL_OK;
}

static void print_conf_error(void *ctx, const char *file, int line,
			     const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

int ctl_report(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "html", required_argument, NULL, 'H' },
		{ "rules", required_argument, NULL, 'r' },
		{ "threshold", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *html = NULL, *rules_path = NULL, *day_arg;
	struct report r = { 0 };
	struct conf *cf = NULL;
	double threshold = 0;
	int json = o->json, has_threshold = 0, ch, ret = CTL_FAIL;
	sqlite3 *db = NULL;
	char *path = NULL, err[256], *end;

	optind = 0;
	/* no "+": the options may come after DAY too */
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'H':
			if (*optarg == '\0') {
				fprintf(stderr, "wicketctl: --html: '' is not a "
					"file name\n");
				return CTL_USAGE;
			}
			html = optarg;
			break;
		case 'r':
			rules_path = optarg;
			break;
		case 't':
			errno = 0;
			threshold = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(threshold >= THRESHOLD_MIN &&
			      threshold <= THRESHOLD_MAX)) {
				fprintf(stderr, "wicketctl: --threshold: '%.100s' "
					"is not a temperature from %.0f to %.0f "
					"C\n", optarg, THRESHOLD_MIN,
					THRESHOLD_MAX);
				return CTL_USAGE;
			}
			has_threshold = 1;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "wicketctl: report: no DAY given\n");
		usage(stderr);
		return CTL_USAGE;
	}
	if (argc - optind > 1) {
		fprintf(stderr, "wicketctl: report: unexpected argument '%s'\n",
			argv[optind + 1]);
		usage(stderr);
		return CTL_USAGE;
	}
	day_arg = argv[optind];
	if (ldb_parse_day(day_arg, r.day, sizeof(r.day), &r.start, &r.end, err,
			  sizeof(err)) != 0) {
		fprintf(stderr, "wicketctl: report: %s\n", err);
		return CTL_USAGE;
	}
	if (ldb_open(o, &db, &path) != CTL_OK)
		return CTL_FAIL;
	/* the names and the rules, from the config when there is one to read
	 * (with only --state-dir there is none) */
	if (o->state_dir == NULL || o->config != NULL) {
		const char *file = ctl_config_path(o);

		if (conf_load(file, &cf, print_conf_error, NULL) != 0) {
			fprintf(stderr, "wicketctl: cannot read %s\n", file);
			goto out;
		}
		r.site = cf->site;
		r.gate = cf->gate;
	}
	if (has_threshold) {
		r.has_threshold = 1;
		r.threshold = threshold;
		snprintf(r.threshold_from, sizeof(r.threshold_from),
			 "--threshold");
	} else if (threshold_of(&r, rules_path ? rules_path :
				cf ? cf->rules : NULL, rules_path != NULL) < 0) {
		goto out;
	}
	if (passages(db, path, &r) < 0 ||
	    counts(db, path, "SELECT reason, count(*) FROM event WHERE"
		   " kind = 'passage' AND decision = 'deny' AND time_ms >= ?1"
		   " AND time_ms < ?2 GROUP BY reason", &r, &r.denials,
		   &r.n_denials, NULL) < 0 ||
	    counts(db, path, "SELECT reason, count(*) FROM event WHERE"
		   " kind = 'alarm' AND time_ms >= ?1 AND time_ms < ?2"
		   " GROUP BY reason", &r, &r.alarms, &r.n_alarms,
		   &r.n_alarm_events) < 0 ||
	    faults(db, path, &r) < 0)
		goto out;
	ret = html ? write_html(html, &r) : CTL_OK;
	/* with --html - the page is the output */
	if (json && !(html && strcmp(html, "-") == 0))
		print_json(stdout, &r);
	else if (!(html && strcmp(html, "-") == 0))
		print_text(stdout, &r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "wicketctl: writing the output: %s\n",
			strerror(errno));
		ret = CTL_FAIL;
	}
out:
	report_free(&r);
	conf_free(cf);
	sqlite3_close(db);
	free(path);
	return ret;
}
