/*
 * scenario: parse a wicket-sim scenario into a list of timed steps.
 *
 * A line is split on blanks after cutting a `#` comment; the first field is
 * the time in seconds, the second the device (or `-` for `end`), the third
 * the action.  Each action checks that the device is of the right kind, so
 * "temp on a reader" is reported at its line rather than failing at run
 * time.  `person` expands to a card step and a temperature step 0.3 s later;
 * since that second step may land after the next line's time, the steps are
 * sorted (stably) once the whole file is read.  Line times themselves must
 * never go back: a scenario that does is almost always a typo.
 *
 * No libmodbus and no register maps here (see scenario.h for why).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "confval.h"
#include "scenario.h"

#define MAX_FIELDS 8
#define MAX_SECONDS 1000000.0
#define LINE_MAX_LEN 8192	/* room for a long scanner line, escaped */

#ifdef __GNUC__
#define SCN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SCN_PRINTF(a, b)
#endif

static int bad_line(char *msg, size_t msglen, const char *fmt, ...)
	SCN_PRINTF(3, 4);

static int bad_line(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *scn_action_name(enum scn_action a)
{
	switch (a) {
	case SCN_CARD: return "card";
	case SCN_TEMP: return "temp";
	case SCN_RAW: return "raw";
	case SCN_FAULT: return "fault";
	case SCN_STATE: return "state";
	case SCN_END: return "end";
	case SCN_DOOR: return "door";
	case SCN_PRESS: return "press";
	case SCN_FIRE: return "fire";
	case SCN_WIEGAND: return "wiegand";
	case SCN_WIEGAND34: return "wiegand34";
	case SCN_WIEGAND_BITS: return "wiegand-bits";
	case SCN_SCAN: return "scan";
	case SCN_SCAN_RAW: return "scan-raw";
	}
	return "?";
}

const char *scn_fault_name(enum scn_fault f)
{
	switch (f) {
	case SCN_FAULT_NONE: return "none";
	case SCN_FAULT_SILENT: return "silent";
	case SCN_FAULT_EXCEPTION: return "exception";
	case SCN_FAULT_LATE: return "late";
	case SCN_FAULT_CRC: return "crc";
	case SCN_FAULT_GARBAGE: return "garbage";
	case SCN_FAULT_DISCONNECT: return "disconnect";
	}
	return "?";
}

const char *scn_kind_name(enum sim_kind k)
{
	switch (k) {
	case SIM_THERMAL: return "thermal";
	case SIM_READER: return "reader";
	case SIM_GATE: return "gate";
	case SIM_KIT: return "kit";
	case SIM_SCANNER: return "scanner";
	}
	return "?";
}

const char *scn_input_name(enum scn_input in)
{
	switch (in) {
	case SCN_IN_DOOR: return "door";
	case SCN_IN_EXIT_BUTTON: return "exit_button";
	case SCN_IN_FIRE_ALARM: return "fire_alarm";
	case SCN_IN_OVERRIDE: return "override";
	}
	return "?";
}

static unsigned ones(uint64_t v)
{
	unsigned n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

/* H10301 and its 34-bit sibling: a leading even parity bit over the first
 * half of the data, a trailing odd one over the second half. */
uint64_t scn_wiegand_frame(unsigned nbits, uint32_t facility, uint32_t card)
{
	unsigned half = (nbits - 2) / 2;
	uint64_t data, hmask = (1ULL << half) - 1;
	uint64_t even, odd;

	data = ((uint64_t)facility << 16 | (card & 0xffff)) &
	       ((1ULL << (nbits - 2)) - 1);
	even = ones(data >> half & hmask) & 1;
	odd = !(ones(data & hmask) & 1);
	return even << (nbits - 1) | data << 1 | odd;
}

/* Split buf in place; returns the field count or -1 if there are more than
 * max. */
static int split(char *buf, char **fields, int max)
{
	int n = 0;
	char *p = buf;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0')
			return n;
		if (n == max)
			return -1;
		fields[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' &&
		       *p != '\n')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
}

static int find_dev(const struct scn_dev *devs, size_t n_devs,
		    const char *name)
{
	for (size_t i = 0; i < n_devs; i++)
		if (strcmp(devs[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The device named s, which must be of kind k for action. */
static int need_dev(const struct scn_dev *devs, size_t n_devs, const char *s,
		    enum sim_kind k, const char *action, int *out, char *msg,
		    size_t msglen)
{
	int d = find_dev(devs, n_devs, s);

	if (d < 0)
		return bad_line(msg, msglen, "unknown device '%s'", s);
	if (devs[d].kind != k)
		return bad_line(msg, msglen,
			    "'%s' needs a %s device; %s is a %s", action,
			    scn_kind_name(k), s, scn_kind_name(devs[d].kind));
	*out = d;
	return 0;
}

static int parse_temp(const char *s, struct scn_step *st, char *msg,
		      size_t msglen)
{
	if (cv_double(s, -1000.0, 1000.0, &st->temp) < 0)
		return bad_line(msg, msglen,
			    "bad temperature '%s': expected degrees Celsius",
			    s);
	snprintf(st->text, sizeof(st->text), "%s", s);
	return 0;
}

static int parse_card(const char *s, struct scn_step *st, char *msg,
		      size_t msglen)
{
	size_t len = strlen(s);

	if (len >= SCN_CARD_MAX)
		return bad_line(msg, msglen,
			    "credential longer than %d characters",
			    SCN_CARD_MAX - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return bad_line(msg, msglen,
				    "credential '%s' has a non-printable or "
				    "non-ASCII character", s);
	memcpy(st->text, s, len + 1);
	return 0;
}

static int parse_raw(char **args, int n, struct scn_step *st, char *msg,
		     size_t msglen)
{
	size_t used = 0;

	if (n < 1 || n > SCN_RAW_MAX)
		return bad_line(msg, msglen, "raw takes 1 to %d register values",
			    SCN_RAW_MAX);
	for (int i = 0; i < n; i++) {
		long v;
		int w;

		if (cv_long(args[i], -32768, 65535, &v) < 0)
			return bad_line(msg, msglen,
				    "bad register value '%s': expected "
				    "-32768 to 65535", args[i]);
		st->raw[i] = (uint16_t)(v & 0xffff);
		w = snprintf(st->text + used, sizeof(st->text) - used, "%s%s",
			     i ? "," : "", args[i]);
		if (w < 0 || (size_t)w >= sizeof(st->text) - used)
			return bad_line(msg, msglen, "raw values too long");
		used += (size_t)w;
	}
	st->n_raw = (size_t)n;
	return 0;
}

/* `fault KIND [ARG]`: args point at KIND.  Only exception (optional code)
 * and late (required delay) take an argument. */
static int parse_fault(char **args, int n, struct scn_step *st, char *msg,
		       size_t msglen)
{
	static const enum scn_fault all[] = {
		SCN_FAULT_NONE, SCN_FAULT_SILENT, SCN_FAULT_EXCEPTION,
		SCN_FAULT_LATE, SCN_FAULT_CRC, SCN_FAULT_GARBAGE,
		SCN_FAULT_DISCONNECT,
	};
	const char *kind = args[0];
	size_t i;
	long v;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(kind, scn_fault_name(all[i])) == 0)
			break;
	if (i == sizeof(all) / sizeof(all[0]))
		return bad_line(msg, msglen,
			    "unknown fault '%s' (expected none, silent, "
			    "exception [CODE], late MS, crc, garbage or "
			    "disconnect)", kind);
	st->fault = all[i];
	switch (st->fault) {
	case SCN_FAULT_EXCEPTION:
		st->fault_arg = SCN_EXCEPTION_DEFAULT;
		if (n > 2)
			return bad_line(msg, msglen,
				    "'fault exception' takes at most one "
				    "argument (the exception code)");
		if (n == 2) {
			if (cv_long(args[1], 1, 255, &v) < 0)
				return bad_line(msg, msglen,
					    "bad exception code '%s': expected "
					    "1 to 255", args[1]);
			st->fault_arg = (unsigned)v;
		}
		break;
	case SCN_FAULT_LATE:
		if (n != 2)
			return bad_line(msg, msglen,
				    "'fault late' takes one argument: the "
				    "delay in milliseconds (1 to %d)",
				    SCN_LATE_MAX_MS);
		if (cv_long(args[1], 1, SCN_LATE_MAX_MS, &v) < 0)
			return bad_line(msg, msglen,
				    "bad delay '%s' for 'fault late': "
				    "expected 1 to %d milliseconds", args[1],
				    SCN_LATE_MAX_MS);
		st->fault_arg = (unsigned)v;
		break;
	default:
		if (n != 1)
			return bad_line(msg, msglen,
				    "'fault %s' takes no argument", kind);
		break;
	}
	if (n == 2)
		snprintf(st->text, sizeof(st->text), "%s,%.20s", kind, args[1]);
	else
		snprintf(st->text, sizeof(st->text), "%s", kind);
	return 0;
}

static int parse_state(const char *s, struct scn_step *st, char *msg,
		       size_t msglen)
{
	long v;

	if (strcmp(s, "open") == 0)
		v = 1;
	else if (strcmp(s, "closed") == 0)
		v = 0;
	else if (cv_long(s, 0, 65535, &v) < 0)
		return bad_line(msg, msglen,
			    "bad state '%s' (expected open, closed or a "
			    "register value 0 to 65535)", s);
	st->state = (uint16_t)v;
	snprintf(st->text, sizeof(st->text), "%s", s);
	return 0;
}

/* `door open|closed`, `fire on|off`: a level of one input. */
static int parse_level(const char *s, enum scn_input in, const char *on,
		       const char *off, struct scn_step *st, char *msg,
		       size_t msglen)
{
	if (strcmp(s, on) == 0)
		st->state = 1;
	else if (strcmp(s, off) == 0)
		st->state = 0;
	else
		return bad_line(msg, msglen, "bad %s '%s' (expected %s or %s)",
			    scn_action_name(st->action), s, on, off);
	st->input = in;
	snprintf(st->text, sizeof(st->text), "%s", s);
	return 0;
}

/* `press exit_button|override [MS]` (args point at the input). */
static int parse_press(char **args, int n, struct scn_step *st, char *msg,
		       size_t msglen)
{
	long v = SCN_PRESS_DEFAULT_MS;

	if (n < 1 || n > 2)
		return bad_line(msg, msglen,
			    "'press' takes exit_button or override and an "
			    "optional time in milliseconds");
	if (strcmp(args[0], "exit_button") == 0)
		st->input = SCN_IN_EXIT_BUTTON;
	else if (strcmp(args[0], "override") == 0)
		st->input = SCN_IN_OVERRIDE;
	else
		return bad_line(msg, msglen,
			    "cannot press '%s' (expected exit_button or "
			    "override)", args[0]);
	if (n == 2 && cv_long(args[1], 1, SCN_PRESS_MAX_MS, &v) < 0)
		return bad_line(msg, msglen,
			    "bad time '%s' for 'press': expected 1 to %d "
			    "milliseconds", args[1], SCN_PRESS_MAX_MS);
	st->ms = (unsigned)v;
	st->state = 1;
	snprintf(st->text, sizeof(st->text), "%s,%u",
		 scn_input_name(st->input), st->ms);
	return 0;
}

/* `wiegand F:C` (26-bit) and `wiegand34 F:C`. */
static int parse_wiegand(const char *s, unsigned nbits, struct scn_step *st,
			 char *msg, size_t msglen)
{
	long fmax = nbits == 26 ? 255 : 65535, f, c;
	const char *colon = strchr(s, ':');
	char fs[32];
	size_t flen;

	if (colon == NULL || colon == s ||
	    (flen = (size_t)(colon - s)) >= sizeof(fs))
		return bad_line(msg, msglen,
			    "bad card '%s' for '%s': expected FACILITY:CARD",
			    s, scn_action_name(st->action));
	memcpy(fs, s, flen);
	fs[flen] = '\0';
	if (cv_long(fs, 0, fmax, &f) < 0)
		return bad_line(msg, msglen,
			    "bad facility '%s': a %u-bit frame holds 0 to %ld",
			    fs, nbits, fmax);
	if (cv_long(colon + 1, 0, 65535, &c) < 0)
		return bad_line(msg, msglen,
			    "bad card number '%s': expected 0 to 65535",
			    colon + 1);
	st->nbits = nbits;
	st->bits = scn_wiegand_frame(nbits, (uint32_t)f, (uint32_t)c);
	snprintf(st->text, sizeof(st->text), "%s", s);
	return 0;
}

static int parse_bits(const char *s, struct scn_step *st, char *msg,
		      size_t msglen)
{
	size_t n = strlen(s);

	if (n > SCN_BITS_MAX)
		return bad_line(msg, msglen,
			    "%zu bits; a frame has at most %d", n,
			    SCN_BITS_MAX);
	st->bits = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '0' && s[i] != '1')
			return bad_line(msg, msglen,
				    "bad bits '%s': only 0 and 1", s);
		st->bits = st->bits << 1 | (uint64_t)(s[i] - '0');
	}
	st->nbits = (unsigned)n;
	snprintf(st->text, sizeof(st->text), "%s", s);
	return 0;
}

/* A scanner line: \\ is a backslash, \xHH any byte; everything else as
 * written (a scenario field has no blanks and no '#'). */
static int parse_scan(const char *s, struct scn_step *st, char *msg,
		      size_t msglen)
{
	size_t n = 0, len = strlen(s);

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '\\') {
			int hi, lo;

			if (s[i + 1] == '\\') {
				i++;
			} else if (s[i + 1] == 'x' &&
				   (hi = cv_hexdigit(s[i + 2])) >= 0 &&
				   (lo = cv_hexdigit(s[i + 3])) >= 0) {
				c = hi << 4 | lo;
				i += 3;
			} else {
				return bad_line(msg, msglen,
					    "bad escape at character %zu of "
					    "'%.40s' (expected \\\\ or "
					    "\\xHH)", i + 1, s);
			}
		}
		if (n == SCN_DATA_MAX)
			return bad_line(msg, msglen,
				    "scanner line longer than %d bytes",
				    SCN_DATA_MAX);
		st->data[n++] = (uint8_t)c;
	}
	st->data_len = n;
	if (len < sizeof(st->text))
		memcpy(st->text, s, len + 1);
	else
		snprintf(st->text, sizeof(st->text), "%.*s...",
			 (int)sizeof(st->text) - 4, s);
	return 0;
}

static int nargs(int have, int want, const char *action, char *msg,
		 size_t msglen)
{
	if (have == want)
		return 0;
	if (want == 0)
		return bad_line(msg, msglen, "'%s' takes no argument", action);
	return bad_line(msg, msglen, "'%s' takes %d argument%s, got %d", action,
		    want, want == 1 ? "" : "s", have);
}

/* `person READER THERMAL CARD|- TEMP|-` (args point at READER). */
static int parse_person(char **args, int n, int64_t at,
			const struct scn_dev *devs, size_t n_devs,
			struct scn_step out[2], char *msg, size_t msglen)
{
	struct scn_step card = out[0], temp = out[0];
	int k = 0, rc;

	if (n != 4)
		return bad_line(msg, msglen,
			    "'person' takes 4 arguments (reader thermal "
			    "card|- temp|-), got %d", n);
	if ((rc = need_dev(devs, n_devs, args[0], SIM_READER, "person",
			   &card.device, msg, msglen)) < 0)
		return rc;
	if ((rc = need_dev(devs, n_devs, args[1], SIM_THERMAL, "person",
			   &temp.device, msg, msglen)) < 0)
		return rc;
	if (strcmp(args[2], "-") == 0 && strcmp(args[3], "-") == 0)
		return bad_line(msg, msglen,
			    "'person' needs a card or a temperature");
	if (strcmp(args[2], "-") != 0) {
		card.action = SCN_CARD;
		card.at_ms = at;
		if ((rc = parse_card(args[2], &card, msg, msglen)) < 0)
			return rc;
		out[k++] = card;
	}
	if (strcmp(args[3], "-") != 0) {
		temp.action = SCN_TEMP;
		temp.at_ms = k ? at + SCN_PERSON_GAP_MS : at;
		if ((rc = parse_temp(args[3], &temp, msg, msglen)) < 0)
			return rc;
		out[k++] = temp;
	}
	return k;
}

int scn_parse_line(const char *line, const struct scn_dev *devs,
		   size_t n_devs, struct scn_step out[2], char *msg,
		   size_t msglen)
{
	char buf[LINE_MAX_LEN];
	char *f[MAX_FIELDS + 1];
	struct scn_step *st = &out[0];
	double secs;
	const char *action, *dev;
	char **args;
	int n, n_args, rc;
	size_t len = strcspn(line, "#");

	if (len >= sizeof(buf))
		return bad_line(msg, msglen, "line longer than %zu characters",
			    sizeof(buf) - 1);
	memcpy(buf, line, len);
	buf[len] = '\0';
	n = split(buf, f, MAX_FIELDS);
	if (n == 0)
		return 0;
	if (n < 0)
		return bad_line(msg, msglen, "too many fields (at most %d)",
			    MAX_FIELDS);
	memset(out, 0, 2 * sizeof(out[0]));
	if (cv_double(f[0], 0.0, MAX_SECONDS, &secs) < 0)
		return bad_line(msg, msglen,
			    "bad time '%s': expected seconds since the start "
			    "(0 to %.0f)", f[0], MAX_SECONDS);
	st->at_ms = (int64_t)llround(secs * 1000.0);
	st->device = -1;
	if (n < 2)
		return bad_line(msg, msglen, "expected 'TIME DEVICE ACTION [ARGS]'");
	/* `person` has no device column of its own; `- person` is allowed
	 * too, for symmetry with `- end`. */
	if (strcmp(f[1], "person") == 0)
		return parse_person(f + 2, n - 2, st->at_ms, devs, n_devs, out,
				    msg, msglen);
	if (n < 3)
		return bad_line(msg, msglen, "expected 'TIME DEVICE ACTION [ARGS]'");
	dev = f[1];
	action = f[2];
	args = f + 3;
	n_args = n - 3;
	if (strcmp(dev, "-") == 0) {
		if (strcmp(action, "person") == 0)
			return parse_person(args, n_args, st->at_ms, devs,
					    n_devs, out, msg, msglen);
		if (strcmp(action, "end") != 0)
			return bad_line(msg, msglen,
				    "device '-' only goes with 'end' or "
				    "'person'");
		if ((rc = nargs(n_args, 0, action, msg, msglen)) < 0)
			return rc;
		st->action = SCN_END;
		return 1;
	}
	if (strcmp(action, "end") == 0)
		return bad_line(msg, msglen, "'end' takes '-' as its device");
	if (strcmp(action, "person") == 0)
		return bad_line(msg, msglen,
			    "write 'TIME person READER THERMAL CARD|- TEMP|-'");
	if (strcmp(action, "card") == 0) {
		st->action = SCN_CARD;
		if ((rc = need_dev(devs, n_devs, dev, SIM_READER, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = nargs(n_args, 1, action, msg, msglen)) < 0 ||
		    (rc = parse_card(args[0], st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "temp") == 0) {
		st->action = SCN_TEMP;
		if ((rc = need_dev(devs, n_devs, dev, SIM_THERMAL, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = nargs(n_args, 1, action, msg, msglen)) < 0 ||
		    (rc = parse_temp(args[0], st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "raw") == 0) {
		st->action = SCN_RAW;
		if ((rc = need_dev(devs, n_devs, dev, SIM_THERMAL, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = parse_raw(args, n_args, st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "state") == 0) {
		st->action = SCN_STATE;
		if ((rc = need_dev(devs, n_devs, dev, SIM_GATE, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = nargs(n_args, 1, action, msg, msglen)) < 0 ||
		    (rc = parse_state(args[0], st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "fault") == 0) {
		st->action = SCN_FAULT;
		st->device = find_dev(devs, n_devs, dev);
		if (st->device < 0)
			return bad_line(msg, msglen, "unknown device '%s'", dev);
		if (n_args < 1)
			return bad_line(msg, msglen,
				    "'fault' takes a kind (none, silent, "
				    "exception [CODE], late MS, crc, garbage, "
				    "disconnect)");
		if ((rc = parse_fault(args, n_args, st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "door") == 0) {
		st->action = SCN_DOOR;
		if ((rc = need_dev(devs, n_devs, dev, SIM_KIT, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = nargs(n_args, 1, action, msg, msglen)) < 0 ||
		    (rc = parse_level(args[0], SCN_IN_DOOR, "open", "closed",
				      st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "fire") == 0) {
		st->action = SCN_FIRE;
		if ((rc = need_dev(devs, n_devs, dev, SIM_KIT, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = nargs(n_args, 1, action, msg, msglen)) < 0 ||
		    (rc = parse_level(args[0], SCN_IN_FIRE_ALARM, "on", "off",
				      st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "press") == 0) {
		st->action = SCN_PRESS;
		if ((rc = need_dev(devs, n_devs, dev, SIM_KIT, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = parse_press(args, n_args, st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "wiegand") == 0 ||
		   strcmp(action, "wiegand34") == 0) {
		st->action = action[7] ? SCN_WIEGAND34 : SCN_WIEGAND;
		if ((rc = need_dev(devs, n_devs, dev, SIM_KIT, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = nargs(n_args, 1, action, msg, msglen)) < 0 ||
		    (rc = parse_wiegand(args[0], action[7] ? 34 : 26, st, msg,
					msglen)) < 0)
			return rc;
	} else if (strcmp(action, "wiegand-bits") == 0) {
		st->action = SCN_WIEGAND_BITS;
		if ((rc = need_dev(devs, n_devs, dev, SIM_KIT, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = nargs(n_args, 1, action, msg, msglen)) < 0 ||
		    (rc = parse_bits(args[0], st, msg, msglen)) < 0)
			return rc;
	} else if (strcmp(action, "scan") == 0 ||
		   strcmp(action, "scan-raw") == 0) {
		st->action = action[4] ? SCN_SCAN_RAW : SCN_SCAN;
		if ((rc = need_dev(devs, n_devs, dev, SIM_SCANNER, action,
				   &st->device, msg, msglen)) < 0 ||
		    (rc = nargs(n_args, 1, action, msg, msglen)) < 0 ||
		    (rc = parse_scan(args[0], st, msg, msglen)) < 0)
			return rc;
	} else {
		return bad_line(msg, msglen,
			    "unknown action '%s' (expected card, temp, raw, "
			    "state, fault, person, door, press, fire, "
			    "wiegand, wiegand34, wiegand-bits, scan, scan-raw "
			    "or end)", action);
	}
	return 1;
}

struct reader {
	const char *name;
	const struct scn_env *env;
	int *n_errors;
};

static void report(struct reader *r, int line, const char *fmt, ...)
	SCN_PRINTF(3, 4);

static void report(struct reader *r, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(*r->n_errors)++;
	if (r->env->err)
		r->env->err(r->env->ctx, r->name, line, msg);
}

static int add_step(struct scenario *scn, size_t *cap,
		    const struct scn_step *st)
{
	if (scn->n_steps == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;
		struct scn_step *p = realloc(scn->steps, ncap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		scn->steps = p;
		*cap = ncap;
	}
	scn->steps[scn->n_steps++] = *st;
	return 0;
}

/* Stable: steps of one time keep their file order. */
static void sort_steps(struct scenario *scn)
{
	for (size_t i = 1; i < scn->n_steps; i++) {
		struct scn_step st = scn->steps[i];
		size_t j = i;

		while (j > 0 && scn->steps[j - 1].at_ms > st.at_ms) {
			scn->steps[j] = scn->steps[j - 1];
			j--;
		}
		scn->steps[j] = st;
	}
}

int scn_read(FILE *f, const char *name, const struct scn_env *env,
	     struct scenario **out, int *n_errors)
{
	struct reader r = { name, env, n_errors };
	struct scenario *scn;
	char *line = NULL;
	size_t linecap = 0, cap = 0;
	ssize_t len;
	int lineno = 0, prev_line = 0, end_line = 0, errors = 0, rc = 0;
	int64_t prev_ms = 0, end_ms = 0;

	*out = NULL;
	scn = calloc(1, sizeof(*scn));
	if (scn == NULL)
		return -ENOMEM;
	while ((len = getline(&line, &linecap, f)) >= 0) {
		struct scn_step st[2];
		char msg[256];
		int n;

		lineno++;
		if (strlen(line) != (size_t)len) {
			report(&r, lineno, "NUL byte in line");
			errors++;
			continue;
		}
		n = scn_parse_line(line, env->devs, env->n_devs, st, msg,
				   sizeof(msg));
		if (n < 0) {
			report(&r, lineno, "%s", msg);
			errors++;
			continue;
		}
		if (n == 0)
			continue;
		if (end_line) {
			report(&r, lineno, "step after 'end' (line %d)",
			       end_line);
			errors++;
			continue;
		}
		if (prev_line && st[0].at_ms < prev_ms) {
			report(&r, lineno,
			       "time %.3f is before %.3f of line %d; times "
			       "must not decrease", (double)st[0].at_ms / 1000,
			       (double)prev_ms / 1000, prev_line);
			errors++;
			continue;
		}
		prev_ms = st[0].at_ms;
		prev_line = lineno;
		if (st[0].action == SCN_END) {
			end_line = lineno;
			end_ms = st[0].at_ms;
		}
		for (int i = 0; i < n; i++) {
			st[i].line = lineno;
			if (env->check != NULL &&
			    env->check(env->ctx, &st[i], msg, sizeof(msg)) < 0) {
				report(&r, lineno, "%s", msg);
				errors++;
				continue;
			}
			if (add_step(scn, &cap, &st[i]) < 0) {
				rc = -ENOMEM;
				goto out;
			}
		}
	}
	if (ferror(f)) {
		report(&r, lineno, "read error");
		rc = -EIO;
		goto out;
	}
	for (size_t i = 0; end_line && i < scn->n_steps; i++) {
		if (scn->steps[i].at_ms > end_ms) {
			report(&r, scn->steps[i].line,
			       "this step's %s at %.3f comes after 'end' at "
			       "%.3f (line %d)",
			       scn_action_name(scn->steps[i].action),
			       (double)scn->steps[i].at_ms / 1000,
			       (double)end_ms / 1000, end_line);
			errors++;
		}
	}
	if (errors)
		rc = -EINVAL;
	else
		sort_steps(scn);
out:
	free(line);
	if (rc < 0) {
		scn_free(scn);
		return rc;
	}
	*out = scn;
	return 0;
}

int scn_load(const char *path, const struct scn_env *env,
	     struct scenario **out, int *n_errors)
{
	FILE *f = fopen(path, "r");
	int rc;

	*out = NULL;
	if (f == NULL) {
		struct reader r = { path, env, n_errors };

		rc = -errno;
		report(&r, 0, "cannot open: %s", strerror(-rc));
		return rc;
	}
	rc = scn_read(f, path, env, out, n_errors);
	fclose(f);
	return rc;
}

void scn_free(struct scenario *scn)
{
	if (scn == NULL)
		return;
	free(scn->steps);
	free(scn);
}
