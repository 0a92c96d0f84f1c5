/*
 * mbmap: parse the link settings and register maps of the Modbus device
 * kinds from a merged [device] section + profile, and translate credential
 * registers to text and back.
 *
 * Every parser keeps going after a bad value so that one run of `wicketd -t`
 * (or wicket-sim) shows every mistake in a profile, each naming its key and
 * what would have been accepted.  Range and cross-key checks (a register
 * pair that runs past 65535, a ready flag on a read-only table) live here
 * too, so the daemon and the simulator refuse the same profiles.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <wicket/plugin.h>

/* Internal to each plugin .so that links it (see mbdev.c). */
#pragma GCC visibility push(hidden)

#include "confval.h"
#include "mbmap.h"

/* One parse: where errors go and whether there was any. */
struct pc {
	const struct wk_conf *conf;
	unsigned char *used;
	mb_err_fn err;
	void *ctx;
	int bad;
};

#define REG_MAX 65535L

/* The item for key (the last one if the host left duplicates), marking
 * every item of that key used; NULL if absent. */
static const struct wk_conf_item *take(struct pc *p, const char *key)
{
	const struct wk_conf_item *found = NULL;

	for (size_t i = 0; i < p->conf->n_items; i++) {
		const struct wk_conf_item *it = &p->conf->items[i];

		if (it->key != NULL && strcmp(it->key, key) == 0) {
			p->used[i] = 1;
			found = it;
		}
	}
	return found;
}

static const char *sval(const struct wk_conf_item *it)
{
	return it->value != NULL ? it->value : "";
}

static void missing(struct pc *p, const char *key)
{
	p->err(p->ctx, NULL, "missing key '%s'", key);
	p->bad = 1;
}

/* Integer key in min..max.  Returns 1 and sets *out when present and good,
 * 0 when absent (*out untouched), -1 when bad (reported). */
static int get_long(struct pc *p, const char *key, long min, long max,
		    long *out, const struct wk_conf_item **itp)
{
	const struct wk_conf_item *it = take(p, key);
	int r;

	if (itp != NULL)
		*itp = it;
	if (it == NULL)
		return 0;
	r = cv_long(it->value, min, max, out);
	if (r == 0)
		return 1;
	if (r == -ERANGE)
		p->err(p->ctx, it, "%s: %s is out of range, expected %ld..%ld",
		       key, sval(it), min, max);
	else
		p->err(p->ctx, it, "%s: '%s' is not an integer, expected %ld..%ld",
		       key, sval(it), min, max);
	p->bad = 1;
	return -1;
}

static int get_double(struct pc *p, const char *key, double min, double max,
		      double *out, const struct wk_conf_item **itp)
{
	const struct wk_conf_item *it = take(p, key);
	int r;

	if (itp != NULL)
		*itp = it;
	if (it == NULL)
		return 0;
	r = cv_double(it->value, min, max, out);
	if (r == 0)
		return 1;
	if (r == -ERANGE)
		p->err(p->ctx, it, "%s: %s is out of range, expected %g..%g",
		       key, sval(it), min, max);
	else
		p->err(p->ctx, it, "%s: '%s' is not a number, expected %g..%g",
		       key, sval(it), min, max);
	p->bad = 1;
	return -1;
}

static void get_uint(struct pc *p, const char *key, long min, long max,
		     long def, unsigned *out)
{
	long v = def;

	get_long(p, key, min, max, &v, NULL);
	*out = (unsigned)v;
}

/* A register address; -1 when absent or bad. */
static int get_reg(struct pc *p, const char *key,
		   const struct wk_conf_item **itp)
{
	long v;

	return get_long(p, key, 0, REG_MAX, &v, itp) == 1 ? (int)v : -1;
}

/* `table = holding|input` */
static void get_table(struct pc *p, enum mb_table *out)
{
	const struct wk_conf_item *it = take(p, "table");

	*out = MB_HOLDING;
	if (it == NULL || strcmp(sval(it), "holding") == 0)
		return;
	if (strcmp(sval(it), "input") == 0) {
		*out = MB_INPUT;
		return;
	}
	p->err(p->ctx, it, "table: '%s' is not one of holding, input",
	       sval(it));
	p->bad = 1;
}

static void start(struct pc *p, const struct wk_conf *conf,
		  unsigned char *used, mb_err_fn err, void *ctx)
{
	p->conf = conf;
	p->used = used;
	p->err = err;
	p->ctx = ctx;
	p->bad = 0;
	take(p, "description");
}

/* Registers first..first+n-1 and other overlap. */
static int overlaps(int first, int n, int other)
{
	return other >= first && other < first + n;
}

int mbmap_parse_link(const struct wk_conf *conf, unsigned char *used,
		     struct mb_link *out, mb_err_fn err, void *ctx)
{
	struct pc p;
	const struct wk_conf_item *it;
	struct in_addr addr;
	long v;

	start(&p, conf, used, err, ctx);
	memset(out, 0, sizeof(*out));

	it = take(&p, "host");
	if (it == NULL) {
		missing(&p, "host");
	} else if (strlen(sval(it)) >= sizeof(out->host)) {
		err(ctx, it, "host: longer than %zu characters",
		    sizeof(out->host) - 1);
		p.bad = 1;
	} else if (inet_pton(AF_INET, sval(it), &addr) != 1) {
		/* libmodbus 3.1 TCP takes a numeric IPv4 address only */
		err(ctx, it, "host: '%s' is not an IPv4 address (like 192.168.1.20)",
		    sval(it));
		p.bad = 1;
	} else {
		snprintf(out->host, sizeof(out->host), "%s", sval(it));
	}

	v = 502;
	get_long(&p, "port", 1, 65535, &v, NULL);
	out->port = (int)v;
	v = 1;
	get_long(&p, "unit", 0, 247, &v, NULL);
	out->unit = (int)v;
	get_uint(&p, "poll_ms", 10, 600000, 200, &out->poll_ms);
	get_uint(&p, "timeout_ms", 10, 60000, 500, &out->timeout_ms);
	get_uint(&p, "backoff_max_ms", 100, 3600000, 10000,
		 &out->backoff_max_ms);
	return p.bad ? -EINVAL : 0;
}

int mbmap_parse_thermal(const struct wk_conf *conf, unsigned char *used,
			struct mb_thermal_map *out, mb_err_fn err, void *ctx)
{
	struct pc p;
	const struct wk_conf_item *it, *reg_it, *seq_it, *ready_it, *min_it,
		*max_it;
	int width;

	start(&p, conf, used, err, ctx);
	memset(out, 0, sizeof(*out));
	get_table(&p, &out->table);

	out->temperature_register = get_reg(&p, "temperature_register", &reg_it);
	if (reg_it == NULL)
		missing(&p, "temperature_register");

	out->temperature.type = RM_INT16;
	it = take(&p, "temperature_type");
	if (it != NULL && rm_parse_type(sval(it), &out->temperature.type)) {
		err(ctx, it, "temperature_type: '%s' is not one of int16, uint16, int32, uint32, float32",
		    sval(it));
		p.bad = 1;
	}
	out->temperature.order = RM_ABCD;
	it = take(&p, "word_order");
	if (it != NULL && rm_parse_order(sval(it), &out->temperature.order)) {
		err(ctx, it, "word_order: '%s' is not one of abcd, cdab, badc, dcba",
		    sval(it));
		p.bad = 1;
	}
	out->temperature.scale = 1;
	if (get_double(&p, "scale", -1e9, 1e9, &out->temperature.scale,
		       &it) == 1 && out->temperature.scale == 0) {
		err(ctx, it, "scale: must not be 0");
		out->temperature.scale = 1;
		p.bad = 1;
	}
	out->temperature.offset = 0;
	get_double(&p, "offset", -1e9, 1e9, &out->temperature.offset, NULL);

	width = (int)rm_width(out->temperature.type);
	if (out->temperature_register + width - 1 > REG_MAX) {
		err(ctx, reg_it, "temperature_register: %d + %d registers of %s runs past 65535",
		    out->temperature_register, width,
		    rm_type_name(out->temperature.type));
		p.bad = 1;
	}

	out->sequence_register = get_reg(&p, "sequence_register", &seq_it);
	out->ready_register = get_reg(&p, "ready_register", &ready_it);
	if (seq_it != NULL && ready_it != NULL) {
		err(ctx, ready_it, "ready_register: set either sequence_register or ready_register, not both");
		p.bad = 1;
	} else if (seq_it == NULL && ready_it == NULL) {
		err(ctx, NULL, "missing key 'sequence_register' or 'ready_register' (exactly one is needed)");
		p.bad = 1;
	}
	if (ready_it != NULL && out->table == MB_INPUT) {
		err(ctx, ready_it, "ready_register: needs table = holding (wicket writes 0 to it after each reading)");
		p.bad = 1;
	}
	if (out->temperature_register >= 0) {
		if (out->sequence_register >= 0 &&
		    overlaps(out->temperature_register, width,
			     out->sequence_register)) {
			err(ctx, seq_it, "sequence_register: %d overlaps the temperature registers",
			    out->sequence_register);
			p.bad = 1;
		}
		if (out->ready_register >= 0 &&
		    overlaps(out->temperature_register, width,
			     out->ready_register)) {
			err(ctx, ready_it, "ready_register: %d overlaps the temperature registers",
			    out->ready_register);
			p.bad = 1;
		}
	}

	out->calibration = 0;
	get_double(&p, "calibration", -10, 10, &out->calibration, NULL);
	out->plausible_min = 30.0;
	out->plausible_max = 45.0;
	get_double(&p, "plausible_min", -100, 200, &out->plausible_min, &min_it);
	get_double(&p, "plausible_max", -100, 200, &out->plausible_max, &max_it);
	if (out->plausible_min >= out->plausible_max) {
		err(ctx, max_it != NULL ? max_it : min_it,
		    "plausible_max: %g must be above plausible_min %g",
		    out->plausible_max, out->plausible_min);
		p.bad = 1;
	}
	return p.bad ? -EINVAL : 0;
}

int mbmap_parse_gate(const struct wk_conf *conf, unsigned char *used,
		     struct mb_gate_map *out, mb_err_fn err, void *ctx)
{
	struct pc p;
	const struct wk_conf_item *coil_it, *reg_it, *val_it;
	int coil, reg;
	long v;

	start(&p, conf, used, err, ctx);
	memset(out, 0, sizeof(*out));

	coil = get_reg(&p, "open_coil", &coil_it);
	reg = get_reg(&p, "open_register", &reg_it);
	if (coil_it != NULL && reg_it != NULL) {
		err(ctx, reg_it, "open_register: set either open_coil or open_register, not both");
		p.bad = 1;
	} else if (coil_it == NULL && reg_it == NULL) {
		err(ctx, NULL, "missing key 'open_coil' or 'open_register' (exactly one is needed)");
		p.bad = 1;
	}
	out->open_table = reg_it != NULL ? MB_HOLDING : MB_COIL;
	out->open_address = reg_it != NULL ? reg : coil;

	v = 1;
	get_long(&p, "open_value", 1, 65535, &v, &val_it);
	out->open_value = (uint16_t)v;
	if (val_it != NULL && reg_it == NULL && coil_it != NULL) {
		err(ctx, val_it, "open_value: only with open_register (a coil is switched on)");
		p.bad = 1;
	}
	get_uint(&p, "pulse_ms", 10, 60000, 500, &out->pulse_ms);
	out->status_register = get_reg(&p, "status_register", NULL);
	return p.bad ? -EINVAL : 0;
}

int mbmap_parse_reader(const struct wk_conf *conf, unsigned char *used,
		       struct mb_reader_map *out, mb_err_fn err, void *ctx)
{
	struct pc p;
	const struct wk_conf_item *it, *seq_it, *cred_it, *len_it;
	long len;
	int r;

	start(&p, conf, used, err, ctx);
	memset(out, 0, sizeof(*out));
	get_table(&p, &out->table);

	out->sequence_register = get_reg(&p, "sequence_register", &seq_it);
	if (seq_it == NULL)
		missing(&p, "sequence_register");
	out->credential_register = get_reg(&p, "credential_register", &cred_it);
	if (cred_it == NULL)
		missing(&p, "credential_register");

	out->credential_format = MB_CRED_ASCII;
	it = take(&p, "credential_format");
	if (it != NULL) {
		if (strcmp(sval(it), "uint32") == 0) {
			out->credential_format = MB_CRED_UINT32;
		} else if (strcmp(sval(it), "ascii") != 0) {
			err(ctx, it, "credential_format: '%s' is not one of ascii, uint32",
			    sval(it));
			p.bad = 1;
		}
	}

	if (out->credential_format == MB_CRED_UINT32) {
		len = 2;
		r = get_long(&p, "credential_length", 2, 2, &len, &len_it);
		if (r < 0)
			len = 2;
	} else {
		len = 8;
		r = get_long(&p, "credential_length", 1, 31, &len, &len_it);
		if (r < 0)
			len = 8;
	}
	out->credential_length = (int)len;

	if (out->credential_register >= 0 &&
	    out->credential_register + out->credential_length - 1 > REG_MAX) {
		err(ctx, len_it != NULL ? len_it : cred_it,
		    "credential_register: %d + %d registers runs past 65535",
		    out->credential_register, out->credential_length);
		p.bad = 1;
	}
	if (out->credential_register >= 0 && out->sequence_register >= 0 &&
	    overlaps(out->credential_register, out->credential_length,
		     out->sequence_register)) {
		err(ctx, seq_it, "sequence_register: %d overlaps the credential registers %d..%d",
		    out->sequence_register, out->credential_register,
		    out->credential_register + out->credential_length - 1);
		p.bad = 1;
	}
	return p.bad ? -EINVAL : 0;
}

int mbmap_check_unused(const struct wk_conf *conf, const unsigned char *used,
		       mb_err_fn err, void *ctx)
{
	int bad = 0;

	for (size_t i = 0; i < conf->n_items; i++) {
		if (used[i])
			continue;
		err(ctx, &conf->items[i], "unknown key '%s'",
		    conf->items[i].key ? conf->items[i].key : "");
		bad = 1;
	}
	return bad ? -EINVAL : 0;
}

int mbmap_decode_credential(const struct mb_reader_map *m,
			    const uint16_t *regs, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen == 0)
		return -ERANGE;
	out[0] = '\0';
	if (m->credential_format == MB_CRED_UINT32) {
		uint32_t v = ((uint32_t)regs[0] << 16) | regs[1];

		if (v == 0)
			return -EINVAL;	/* the device's "no card" */
		if ((size_t)snprintf(out, outlen, "%lu", (unsigned long)v) >=
		    outlen)
			return -ERANGE;
		return 0;
	}
	for (int i = 0; i < m->credential_length; i++) {
		unsigned char c[2] = { (unsigned char)(regs[i] >> 8),
				       (unsigned char)regs[i] };

		for (int k = 0; k < 2; k++) {
			if (c[k] == '\0')
				goto done;
			if (c[k] < 0x20 || c[k] > 0x7e) {
				out[0] = '\0';
				return -EINVAL;
			}
			if (n + 1 >= outlen) {
				out[0] = '\0';
				return -ERANGE;
			}
			out[n++] = (char)c[k];
		}
	}
done:
	out[n] = '\0';
	return n == 0 ? -EINVAL : 0;
}

int mbmap_encode_credential(const struct mb_reader_map *m, const char *cred,
			    uint16_t *regs)
{
	size_t len = strlen(cred);

	if (m->credential_format == MB_CRED_UINT32) {
		unsigned long long v = 0;

		if (len == 0)
			return -EINVAL;
		for (size_t i = 0; i < len; i++) {
			if (cred[i] < '0' || cred[i] > '9')
				return -EINVAL;
			v = v * 10 + (unsigned long long)(cred[i] - '0');
			if (v > UINT32_MAX)
				return -ERANGE;
		}
		if (v == 0)
			return -EINVAL;
		regs[0] = (uint16_t)(v >> 16);
		regs[1] = (uint16_t)v;
		return 0;
	}
	if (len == 0)
		return -EINVAL;
	if (len > 2 * (size_t)m->credential_length)
		return -ERANGE;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)cred[i] < 0x20 ||
		    (unsigned char)cred[i] > 0x7e)
			return -EINVAL;
	}
	for (int i = 0; i < m->credential_length; i++) {
		size_t k = 2 * (size_t)i;
		unsigned char hi = k < len ? (unsigned char)cred[k] : 0;
		unsigned char lo = k + 1 < len ? (unsigned char)cred[k + 1] : 0;

		regs[i] = (uint16_t)((hi << 8) | lo);
	}
	return 0;
}

#pragma GCC visibility pop
