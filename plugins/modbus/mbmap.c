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
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <wicket/plugin.h>

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

/* The keys that only make sense on one transport, to refuse on the other. */
static const char *const tcp_only[] = { "port", NULL };
static const char *const rtu_only[] = { "baud", "parity", "data_bits",
					"stop_bits", "rs485", NULL };

static void refuse_keys(struct pc *p, const char *const *keys,
			const char *why)
{
	for (size_t i = 0; keys[i] != NULL; i++) {
		const struct wk_conf_item *it = take(p, keys[i]);

		if (it != NULL) {
			p->err(p->ctx, it, "%s: %s", keys[i], why);
			p->bad = 1;
		}
	}
}

/* A name or address for getaddrinfo: printable, no spaces. */
static int host_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

/* 3.5 characters of silence at the line's speed (the RTU frame end),
 * rounded up to whole ms, at least 2 ms; above 19200 baud the spec fixes
 * it at 1.75 ms. */
static unsigned rtu_gap_ms(const struct mb_link *l)
{
	unsigned bits = 1 + (unsigned)l->data_bits + (l->parity != 'N') +
			(unsigned)l->stop_bits;
	unsigned us = l->baud > 19200 ? 1750
				      : (unsigned)((35ull * bits * 100000ull +
						    l->baud - 1) / l->baud);
	unsigned ms = (us + 999) / 1000;

	return ms < 2 ? 2 : ms;
}

static void parse_rtu(struct pc *p, const struct wk_conf_item *serial,
		      struct mb_link *out)
{
	static const long bauds[] = { 1200, 2400, 4800, 9600, 14400, 19200,
				      38400, 57600, 115200, 230400 };
	const struct wk_conf_item *it;
	long v;

	out->transport = MB_RTU;
	if (sval(serial)[0] != '/' || strlen(sval(serial)) >= sizeof(out->serial)) {
		p->err(p->ctx, serial, "serial: '%s' is not a device path (like /dev/ttyUSB0), at most %zu characters",
		       sval(serial), sizeof(out->serial) - 1);
		p->bad = 1;
	} else {
		snprintf(out->serial, sizeof(out->serial), "%s", sval(serial));
	}
	v = 9600;
	if (get_long(p, "baud", 50, 4000000, &v, &it) == 1) {
		size_t i;

		for (i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
			if (bauds[i] == v)
				break;
		if (i == sizeof(bauds) / sizeof(bauds[0])) {
			p->err(p->ctx, it, "baud: %ld is not a serial speed libmodbus sets (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400)",
			       v);
			p->bad = 1;
			v = 9600;
		}
	}
	out->baud = (unsigned)v;
	out->parity = 'N';
	it = take(p, "parity");
	if (it != NULL) {
		if (strcmp(sval(it), "none") == 0)
			out->parity = 'N';
		else if (strcmp(sval(it), "even") == 0)
			out->parity = 'E';
		else if (strcmp(sval(it), "odd") == 0)
			out->parity = 'O';
		else {
			p->err(p->ctx, it, "parity: '%s' is not one of none, even, odd",
			       sval(it));
			p->bad = 1;
		}
	}
	v = 8;
	get_long(p, "data_bits", 7, 8, &v, NULL);
	out->data_bits = (int)v;
	v = 1;
	get_long(p, "stop_bits", 1, 2, &v, NULL);
	out->stop_bits = (int)v;
	out->rs485 = MB_RS485_AUTO;
	it = take(p, "rs485");
	if (it != NULL) {
		if (strcmp(sval(it), "auto") == 0)
			out->rs485 = MB_RS485_AUTO;
		else if (strcmp(sval(it), "on") == 0)
			out->rs485 = MB_RS485_ON;
		else if (strcmp(sval(it), "off") == 0)
			out->rs485 = MB_RS485_OFF;
		else {
			p->err(p->ctx, it, "rs485: '%s' is not one of auto, on, off",
			       sval(it));
			p->bad = 1;
		}
	}
	v = 1;
	get_long(p, "unit", 1, 247, &v, NULL);
	out->unit = (int)v;
	get_uint(p, "frame_gap_ms", 0, 1000, rtu_gap_ms(out),
		 &out->frame_gap_ms);
	refuse_keys(p, tcp_only, "only for Modbus TCP (host =); this device is on a serial line");
}

static void parse_tcp(struct pc *p, const struct wk_conf_item *host,
		      struct mb_link *out)
{
	const struct wk_conf_item *it;
	long v;

	out->transport = MB_TCP;
	if (strlen(sval(host)) >= sizeof(out->host) || !host_ok(sval(host))) {
		p->err(p->ctx, host, "host: '%s' is not a host name or address",
		       sval(host));
		p->bad = 1;
	} else {
		snprintf(out->host, sizeof(out->host), "%s", sval(host));
	}
	v = 502;
	get_long(p, "port", 1, 65535, &v, NULL);
	out->port = (int)v;
	v = 1;
	/* libmodbus takes 0..247 and 255 (the "no unit" of a plain TCP
	 * device) on TCP */
	if (get_long(p, "unit", 0, 255, &v, &it) == 1 && v > 247 && v < 255) {
		p->err(p->ctx, it, "unit: %ld is reserved on Modbus TCP, expected 0..247 or 255",
		       v);
		p->bad = 1;
		v = 1;
	}
	out->unit = (int)v;
	get_uint(p, "frame_gap_ms", 0, 1000, 0, &out->frame_gap_ms);
	refuse_keys(p, rtu_only, "only for Modbus RTU (serial =); this device is on TCP");
}

int mbmap_parse_link(const struct wk_conf *conf, unsigned char *used,
		     struct mb_link *out, mb_err_fn err, void *ctx)
{
	const struct wk_conf_item *host, *serial;
	struct pc p;

	start(&p, conf, used, err, ctx);
	memset(out, 0, sizeof(*out));

	host = take(&p, "host");
	serial = take(&p, "serial");
	if (host != NULL && serial != NULL) {
		err(ctx, serial, "serial: and host = %s: a device is on a serial line (serial) or on TCP (host), not both",
		    sval(host));
		p.bad = 1;
		parse_tcp(&p, host, out);
	} else if (serial != NULL) {
		parse_rtu(&p, serial, out);
	} else if (host != NULL) {
		parse_tcp(&p, host, out);
	} else {
		err(ctx, NULL, "missing key 'host' (Modbus TCP) or 'serial' (Modbus RTU)");
		p.bad = 1;
	}
	get_uint(&p, "poll_ms", 10, 600000, 200, &out->poll_ms);
	get_uint(&p, "timeout_ms", 10, 60000, 500, &out->timeout_ms);
	get_uint(&p, "retries", 0, 5, 1, &out->retries);
	get_uint(&p, "backoff_max_ms", 100, 3600000, 10000,
		 &out->backoff_max_ms);
	return p.bad ? -EINVAL : 0;
}

void mbmap_bus_name(const struct mb_link *l, char *out, size_t len)
{
	if (l->transport == MB_RTU)
		snprintf(out, len, "rtu %s", l->serial);
	else
		snprintf(out, len, "tcp %s:%d", l->host, l->port);
}

const char *mbmap_link_conflict(const struct mb_link *a,
				const struct mb_link *b)
{
	/* the line keys first: the default gap follows from them */
	if (a->transport != MB_RTU)
		return a->frame_gap_ms != b->frame_gap_ms ? "frame_gap_ms" : NULL;
	if (a->baud != b->baud)
		return "baud";
	if (a->parity != b->parity)
		return "parity";
	if (a->data_bits != b->data_bits)
		return "data_bits";
	if (a->stop_bits != b->stop_bits)
		return "stop_bits";
	if (a->rs485 != b->rs485)
		return "rs485";
	if (a->frame_gap_ms != b->frame_gap_ms)
		return "frame_gap_ms";
	return NULL;
}

void mbmap_bus_value(const struct mb_link *l, const char *key, char *out,
		     size_t len)
{
	static const char *const rs485[] = { "auto", "on", "off" };

	if (strcmp(key, "frame_gap_ms") == 0)
		snprintf(out, len, "%u", l->frame_gap_ms);
	else if (strcmp(key, "baud") == 0)
		snprintf(out, len, "%u", l->baud);
	else if (strcmp(key, "parity") == 0)
		snprintf(out, len, "%s", l->parity == 'E' ? "even" :
			 l->parity == 'O' ? "odd" : "none");
	else if (strcmp(key, "data_bits") == 0)
		snprintf(out, len, "%d", l->data_bits);
	else if (strcmp(key, "stop_bits") == 0)
		snprintf(out, len, "%d", l->stop_bits);
	else if (strcmp(key, "rs485") == 0)
		snprintf(out, len, "%s", rs485[l->rs485]);
	else
		snprintf(out, len, "?");
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

