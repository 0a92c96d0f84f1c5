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
 *   8.0        kit1      door open           (open | closed)
 *   8.5        kit1      press exit_button   (exit_button | override [MS])
 *   9.0        kit1      fire on             (on | off)
 *   9.5        kit1      wiegand 123:45678   (26-bit; wiegand34 F:C: 34-bit)
 *   9.6        kit1      wiegand-bits 0101   (raw bits, for bad frames)
 *   9.8        scanner1  scan WKP1.ABC       (one line; \\ and \xHH escapes)
 *   9.9        scanner1  scan-raw 12\x0d      (bytes, no terminator added)
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

/* thermal, reader, gate: Modbus devices; kit: a client of a simulated
 * GPIO chip (the gpio and wiegand plugins' lines); scanner: a serial QR
 * or barcode scanner, writing its lines to a tty. */
enum sim_kind { SIM_THERMAL, SIM_READER, SIM_GATE, SIM_KIT, SIM_SCANNER };

enum scn_action {
	SCN_CARD, SCN_TEMP, SCN_RAW, SCN_FAULT, SCN_STATE, SCN_END,
	/* kit */
	SCN_DOOR,		/* input DOOR, state 1 open / 0 closed */
	SCN_PRESS,		/* input EXIT_BUTTON or OVERRIDE for ms */
	SCN_FIRE,		/* input FIRE_ALARM, state 1 on / 0 off */
	SCN_WIEGAND,		/* 26-bit frame: nbits, bits */
	SCN_WIEGAND34,		/* 34-bit frame */
	SCN_WIEGAND_BITS,	/* the bits as written */
	/* scanner */
	SCN_SCAN,		/* data[0..data_len) and the terminator */
	SCN_SCAN_RAW,		/* data[0..data_len) alone */
};

/* The inputs of a kit a scenario drives (logical: 1 = active). */
enum scn_input {
	SCN_IN_DOOR,		/* active: the door is open */
	SCN_IN_EXIT_BUTTON,	/* active: pressed */
	SCN_IN_FIRE_ALARM,	/* active: alarm */
	SCN_IN_OVERRIDE,	/* active: the key is turned */
};
#define SCN_IN_N 4

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
#define SCN_TEXT_MAX 80
#define SCN_CARD_MAX 64		/* a credential: 63 characters */
#define SCN_DATA_MAX 2048	/* a scanner line, terminator not counted */
/* `person` puts the temperature this long after the card */
#define SCN_PERSON_GAP_MS 300
/* `press` holds an input active this long unless told */
#define SCN_PRESS_DEFAULT_MS 200
#define SCN_PRESS_MAX_MS 600000
#define SCN_BITS_MAX 64

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
	uint16_t state;		/* SCN_STATE; SCN_DOOR, SCN_FIRE: 1 active */
	enum scn_input input;	/* SCN_DOOR, SCN_PRESS, SCN_FIRE */
	unsigned ms;		/* SCN_PRESS */
	unsigned nbits;		/* SCN_WIEGAND* */
	uint64_t bits;		/* the first bit sent the highest */
	size_t data_len;	/* SCN_SCAN, SCN_SCAN_RAW */
	/* The argument(s) as written, for the log (raw values, a fault's
	 * kind and argument, a press's input and time joined by ','; a long
	 * scanner line cut, ending in "..."); for SCN_CARD it is the
	 * credential itself. */
	char text[SCN_TEXT_MAX];
	uint8_t data[SCN_DATA_MAX];	/* SCN_SCAN*: escapes undone */
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
/* "door", "exit_button", "fire_alarm", "override": the kit's keys. */
const char *scn_input_name(enum scn_input in);
/* The bits of a 26-bit (facility 0..255) or 34-bit (facility 0..65535)
 * Wiegand frame with both parity bits right, the first bit sent the
 * highest; nbits must be 26 or 34. */
uint64_t scn_wiegand_frame(unsigned nbits, uint32_t facility, uint32_t card);

#endif
