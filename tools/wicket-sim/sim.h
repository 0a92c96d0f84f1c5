/*
 * wicket-sim: state shared by the simulator's files, and their prototypes,
 * grouped by file.  One thread owns all of it: main.c's poll loop.
 *
 *   main.c     argv, signals, the poll loop, the scenario clock, output
 *   serve.c    the transports: TCP listeners and their clients, serial
 *              lines, bytes in and out, late replies, disconnect faults
 *   frame.c    the Modbus wire format and the register responder (pure;
 *              see frame.h)
 *   config.c   the sim config and the device profiles -> struct sim
 *   device.c   what a simulated device does: its registers, scenario steps,
 *              requests routed to it and its faults, gate commands
 *   kit.c      the gate kit's devices that are not Modbus: a kit drives
 *              the lines of a simulated GPIO chip (door, buttons, fire
 *              alarm, Wiegand reader) and reports its outputs (relay,
 *              lights, buzzer); a scanner writes lines to a tty
 *   scenario.c the scenario parser (pure; see scenario.h)
 */
#ifndef WICKET_SIM_H
#define WICKET_SIM_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "mbmap.h"
#include "scenario.h"

#define SIM_HOST_MAX 32		/* an IPv4 literal */
#define SIM_ADDR_MAX 64		/* "a.b.c.d:port" and then some */
#define SIM_OUT_MAX 4096	/* bytes waiting for a slow reader */

/* Bytes both ways on one fd: a TCP client or a serial line. */
struct sim_conn {
	int fd;			/* -1 while closed */
	struct frame_parser in;
	size_t out_len;
	uint8_t out[SIM_OUT_MAX];
};

/* One listening socket; several devices may share it (routed by unit). */
struct sim_listener {
	char addr[SIM_ADDR_MAX];	/* as configured, for messages */
	char host[SIM_HOST_MAX];	/* IPv4 literal, "0.0.0.0" for any */
	int port;
	int fd;			/* -1 until bound */
	unsigned n_clients;
	int cut;		/* a device here has fault disconnect */
	uint8_t unknown_units[32];	/* units already reported, one bit each */
};

/* One serial line; several devices may share it (routed by unit). */
struct sim_line {
	char *path;
	unsigned baud;
	int cfg_line;		/* of the device that named it first */
	struct sim_conn conn;
	int64_t last_rx_us;	/* for the quiet-line flush */
	int64_t reopen_us;	/* while lost: next try to open it again */
	int lost;		/* closed after a hangup or read error */
	int cut;		/* a device here has fault disconnect */
	int reported_framing;	/* the first framing error was logged */
	uint8_t unknown_units[32];
};

enum sim_link { SIM_TCP, SIM_RTU };

/* The outputs of a kit, as the gpio plugin names them. */
enum kit_output { KIT_RELAY, KIT_GREEN, KIT_RED, KIT_BUZZER };
#define KIT_OUT_N 4
#define KIT_IN_BUF 4096
#define KIT_OUT_BUF 16384
#define KIT_SENT_MAX 256	/* commands awaiting their reply */
#define KIT_CMD_MAX 160

/* A client of a simulated GPIO chip (the socket protocol of gpiosim.c).
 * Offsets are -1 when the kit has no such line. */
struct sim_kit {
	char *chip;		/* the chip's socket */
	int in_off[SCN_IN_N];
	int in_active_low[SCN_IN_N];
	int d0, d1;
	unsigned wg_interval_us, wg_width_us;
	int out_off[KIT_OUT_N];
	int out_active_low[KIT_OUT_N];

	int fd;			/* -1 while not connected */
	int connecting;		/* connect() in progress */
	int ever;		/* was connected once */
	int64_t retry_us;	/* next connect attempt while not connected */
	int level[SCN_IN_N];	/* the logical levels the scenario wants */
	int64_t release_us[SCN_IN_N];	/* when a press ends, or -1 */
	size_t in_len, out_len;
	char in[KIT_IN_BUF];
	char out[KIT_OUT_BUF];
	/* the commands sent, oldest first, to name one that failed */
	size_t sent_head, n_sent;
	char sent[KIT_SENT_MAX][KIT_CMD_MAX];
};

enum scanner_term { TERM_CR, TERM_LF, TERM_CRLF };

/* A serial scanner: writes its lines to a tty. */
struct sim_scanner {
	char *path;
	unsigned baud;
	enum scanner_term term;
	int fd;			/* -1 while closed */
	int64_t reopen_us;	/* while lost: next try */
	int lost;
	size_t out_len;
	uint8_t out[KIT_OUT_BUF];
};

struct sim_dev {
	char *name;
	enum sim_kind kind;
	const char *file;	/* the sim config, for messages */
	int line;		/* of the [device] section */
	int unit;
	enum sim_link link;
	size_t port;		/* index into sim.listeners or sim.lines */
	union {
		struct mb_thermal_map th;
		struct mb_reader_map rd;
		struct mb_gate_map gate;
	} m;
	struct frame_map map;	/* its registers, from address 0 */
	struct sim_kit *kit;	/* SIM_KIT, owned */
	struct sim_scanner *scanner;	/* SIM_SCANNER, owned */
	enum scn_fault fault;
	unsigned fault_arg;	/* exception code, late milliseconds */
	uint16_t seq;		/* readings so far (sequence register) */
	uint16_t shown_seq;	/* the last one a `read seq=` line showed */
	int contacted;		/* RTU: got a request (start = connect) */
};

struct sim_client {
	struct sim_conn conn;
	uint64_t id;		/* never reused: late replies find it */
	size_t listener;
	int dead;		/* closed, to be compacted away */
	char peer[SIM_ADDR_MAX];
};

/* A reply held back by fault late. */
struct sim_pending {
	int64_t due_us;
	enum sim_link link;
	size_t port;		/* the line (RTU) */
	uint64_t client;	/* the client's id (TCP) */
	size_t dev;		/* index of the device answering */
	long seq;		/* what a read seq= line would show, or -1 */
	size_t len;
	uint8_t data[FRAME_ADU_MAX];
};

/* What a device does with one request (dev_request's answer). */
struct sim_reply {
	int answer;		/* 0: no answer at all */
	int bad_check;		/* spoil the CRC (RTU) or the tid (TCP) */
	unsigned delay_ms;	/* 0: at once */
	long seq;		/* sequence value the reply carries, or -1 */
	size_t pdu_len;
	uint8_t pdu[FRAME_PDU_MAX];
};

enum sim_start { SIM_START_CONNECT, SIM_START_NOW };

struct sim {
	char *config_file;
	char *scenario_file;	/* NULL: no scenario, serve until stopped */
	char *profile_dir;
	enum sim_start start;
	int verbose;

	struct sim_dev *devs;
	size_t n_devs;
	struct sim_listener *listeners;
	size_t n_listeners;
	struct sim_line *lines;
	size_t n_lines;
	struct sim_client **clients;
	size_t n_clients, cap_clients;
	uint64_t next_client_id;
	struct sim_pending *pending;
	size_t n_pending, cap_pending;

	struct scenario *scn;
	size_t next_step;
	int64_t clock_ms;	/* CLOCK_MONOTONIC at the scenario start, -1 before */

	unsigned long opens, closes;
};

/* Whether d speaks Modbus (thermal, reader, gate): has a link, a port and
 * a unit. */
static inline int sim_is_modbus(const struct sim_dev *d)
{
	return d->kind == SIM_THERMAL || d->kind == SIM_READER ||
	       d->kind == SIM_GATE;
}

/* main.c */
/* One stdout line: "wicket-sim: t=SECONDS " fmt. */
void sim_out(struct sim *sim, const char *fmt, ...) WK_PRINTF(2, 3);
/* CLOCK_MONOTONIC in microseconds (the mono_us of the output lines). */
int64_t sim_now_us(void);

/* config.c */
/* Read the config (and profiles, and scenario) into sim, whose
 * scenario_file / profile_dir may be preset from the command line.  Every
 * error goes to stderr as "file:line: message"; returns 0 or -EINVAL. */
int simconf_load(struct sim *sim, const char *path);
/* Free what simconf_load and the loop allocated; sim itself is the
 * caller's. */
void simconf_free(struct sim *sim);

/* device.c */
/* Allocate dev->map sized to cover its profile's addresses. */
int dev_init(struct sim_dev *dev);
/* Free dev->map; accepts a device dev_init never saw (zeroed map). */
void dev_free(struct sim_dev *dev);
/* Whether step fits the device's profile; the reason in msg if not. */
int dev_check_step(const struct sim_dev *dev, const struct scn_step *st,
		   char *msg, size_t msglen);
/* Carry out a scenario step on its device. */
void dev_apply(struct sim *sim, struct sim_dev *dev,
	       const struct scn_step *st);
/* The device on (link, port) with unit, or NULL. */
struct sim_dev *dev_find(struct sim *sim, enum sim_link link, size_t port,
			 int unit);
/* What dev does with req, which had wholly arrived at t_us: carries out
 * writes (or logs them ignored) and says in *out what to answer. */
void dev_request(struct sim *sim, struct sim_dev *dev,
		 const struct frame_req *req, int64_t t_us,
		 struct sim_reply *out);
/* A reply dev built with seq (see sim_reply) has just been written. */
void dev_replied(struct sim *sim, struct sim_dev *dev, long seq);

/* kit.c */
/* A kit or scanner with nothing open, as config.c fills it in. */
int kit_new(struct sim_kit **out);
int scanner_new(struct sim_scanner **out);
void kit_free(struct sim_kit *kit);	/* closes it too; accepts NULL */
void scanner_free(struct sim_scanner *sc);
const char *kit_output_name(enum kit_output o);
/* Open the scanners' ttys (kits connect from kit_timers); -1 (after a
 * message on stderr) if one cannot be opened. */
int kit_open(struct sim *sim);
void kit_close(struct sim *sim);
/* Whether a kit or scanner counts as connected for start = connect. */
int kit_connected(const struct sim_dev *dev);
/* The step fits the kit's or scanner's lines (dev_check_step's part). */
int kit_check_step(const struct sim_dev *dev, const struct scn_step *st,
		   char *msg, size_t msglen);
/* Carry out a step on a kit or scanner (dev_apply's part). */
void kit_apply(struct sim *sim, struct sim_dev *dev,
	       const struct scn_step *st);
/* The same interface to the poll loop as serve.c's. */
size_t kit_n_fds(const struct sim *sim);
size_t kit_fill(struct sim *sim, struct pollfd *pfd);
void kit_events(struct sim *sim, const struct pollfd *pfd, size_t n);
int64_t kit_timers(struct sim *sim);

/* serve.c */
/* Whether baud is a speed the serial lines can be set to. */
int serve_baud_ok(unsigned baud);
/* Bind the listeners and open the serial lines; -1 (after a message on
 * stderr) if one cannot be. */
int serve_open(struct sim *sim);
/* Close everything serve_open and the loop opened. */
void serve_close(struct sim *sim);
/* Whether every device has its client (TCP) or its first request (RTU). */
int serve_all_connected(const struct sim *sim);
/* Bring the ports in line with the devices' disconnect faults. */
void serve_apply_faults(struct sim *sim);
/* The pollfds to wait on: how many were written to pfd (which has room for
 * serve_n_fds entries). */
size_t serve_n_fds(const struct sim *sim);
size_t serve_fill(struct sim *sim, struct pollfd *pfd);
/* Handle what poll said about the fds serve_fill gave it (same order). */
void serve_events(struct sim *sim, const struct pollfd *pfd, size_t n);
/* Run the timers that are due (late replies, quiet lines, reopening lost
 * lines); returns the next deadline in CLOCK_MONOTONIC microseconds, or
 * -1 if none. */
int64_t serve_timers(struct sim *sim);

#endif
