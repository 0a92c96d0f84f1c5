/*
 * scenario: the parser of wicket-sim's scenario files.  Pure: it knows the
 * device names and kinds, not their register maps, so whether a value fits
 * a profile (a temperature the encoding cannot hold, a credential too long)
 * is checked afterwards by the caller, per step, with the step's line.
 *
 *   # seconds  device    action  [args]
 *   1.0        reader1   card 1001
 *   1.2        thermal1  temp 36.6
 *   3.0        thermal1  raw 32767
 *   5.0        thermal1  fault silent        (see enum scn_fault)
 *   5.5        thermal1  fault late 800      (answer 800 ms late)
 *   6.0        gate1     state open          (open | closed | 0..65535)
 *   7.0        person reader1 thermal1 1002 38.4   (card, temp 0.3 s later)
 *   10.0       -         end
 *
 * tests/unit/test_scenario.c includes scenario.c directly, so this module
 * must depend on nothing but libc and daemon/confval.
 */
#ifndef WICKET_SIM_SCENARIO_H
#define WICKET_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum sim_kind { SIM_THERMAL, SIM_READER, SIM_GATE };

enum scn_action { SCN_CARD, SCN_TEMP, SCN_RAW, SCN_FAULT, SCN_STATE, SCN_END };

/* What a device does wrong, from `DEVICE fault KIND [ARG]`:
 *   none                answers normally
 *   silent              consumes requests, never answers
 *   exception [CODE]    answers exception CODE (1..255, default 4)
 *   late MS             the right answer MS ms late (1..60000)
 *   crc                 RTU: a wrong CRC; TCP: a wrong transaction id
 *   garbage             a well-framed answer to some other request
 *   disconnect          TCP: connections closed; RTU: the line goes dead */
enum scn_fault {
	SCN_FAULT_NONE,
	SCN_FAULT_SILENT,
	SCN_FAULT_EXCEPTION,
	SCN_FAULT_LATE,
	SCN_FAULT_CRC,
	SCN_FAULT_GARBAGE,
	SCN_FAULT_DISCONNECT,
};

#define SCN_EXCEPTION_DEFAULT 4	/* server device failure */
#define SCN_LATE_MAX_MS 60000

#define SCN_RAW_MAX 4
#define SCN_TEXT_MAX 64
/* `person` puts the temperature this long after the card */
#define SCN_PERSON_GAP_MS 300

/* A device as the scenario sees it. */
struct scn_dev {
	const char *name;
	enum sim_kind kind;
};

struct scn_step {
	int64_t at_ms;		/* since the scenario clock started */
	int line;
	int device;		/* index into the device table; -1 for end */
	enum scn_action action;
	double temp;		/* SCN_TEMP */
	size_t n_raw;		/* SCN_RAW */
	uint16_t raw[SCN_RAW_MAX];
	enum scn_fault fault;	/* SCN_FAULT */
	unsigned fault_arg;	/* exception: its code; late: milliseconds */
	uint16_t state;		/* SCN_STATE */
	/* The argument(s) as written, for the log (raw values and a fault's
	 * kind and argument joined by ','); for SCN_CARD it is the credential
	 * itself. */
	char text[SCN_TEXT_MAX];
};

/* The steps in the order they run (by time, then by line). */
struct scenario {
	size_t n_steps;
	struct scn_step *steps;
};

typedef void (*scn_error_fn)(void *ctx, const char *file, int line,
			     const char *msg);
/* A check of one parsed step against what the parser cannot know (the
 * device's profile): 0, or -EINVAL with the reason in msg. */
typedef int (*scn_check_fn)(void *ctx, const struct scn_step *st, char *msg,
			    size_t msglen);

/* What a scenario is read against, and where its errors go. */
struct scn_env {
	const struct scn_dev *devs;
	size_t n_devs;
	scn_check_fn check;	/* may be NULL */
	scn_error_fn err;	/* may be NULL */
	void *ctx;		/* for check and err */
};

/* Parse one line (no newline needed) into out[0..1].  Returns the number of
 * steps it holds (0 for a blank or comment line, 2 for a person with both a
 * card and a temperature) or -EINVAL with the reason in msg. */
int scn_parse_line(const char *line, const struct scn_dev *devs,
		   size_t n_devs, struct scn_step out[2], char *msg,
		   size_t msglen);

/* Read a whole scenario from f; name is used in messages.  Every bad line
 * (and every step env->check refuses) is reported through env->err and
 * counted in *n_errors; on any error the result is -EINVAL and *out is
 * NULL.  Times must not decrease, nothing may follow `end`.  Returns 0,
 * -EINVAL, -ENOMEM or -EIO. */
int scn_read(FILE *f, const char *name, const struct scn_env *env,
	     struct scenario **out, int *n_errors);
/* scn_read on a file; an unreadable file is reported at line 0. */
int scn_load(const char *path, const struct scn_env *env,
	     struct scenario **out, int *n_errors);
/* Accepts NULL. */
void scn_free(struct scenario *scn);

const char *scn_action_name(enum scn_action a);
const char *scn_fault_name(enum scn_fault f);
const char *scn_kind_name(enum sim_kind k);

#endif
