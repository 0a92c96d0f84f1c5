/*
 * wicketctl: the operator's command line.  main.c reads the global options
 * and hands the rest of argv to one subcommand's file.
 *
 * Exit codes (every subcommand): 0 done, 1 the work failed or found a
 * problem (an invalid file, a test case that did not match), 2 bad usage,
 * 3 the daemon cannot be reached (no socket, refused, no answer).
 */
#ifndef WICKET_CTL_H
#define WICKET_CTL_H

#include <stddef.h>

#define CTL_OK 0
#define CTL_FAIL 1
#define CTL_USAGE 2
#define CTL_UNREACHABLE 3

struct ctl_opts {
	const char *config;	/* -c; the default config when NULL */
	const char *state_dir;	/* --state-dir, else the config's */
	int json;		/* --json (before the command, or the command's own) */
	const char *socket;	/* --socket; else control_socket of the config */
};

#define CTL_DEFAULT_CONFIG WICKET_SYSCONFDIR "/wicket/wicketd.conf"

/* An SQLite URI for path with query ("?mode=ro") appended, path
 * percent-encoded where a URI needs it; malloc'd, NULL when out of
 * memory.  For the read-only opens of ledger.db and registry.db. */
char *ctl_file_uri(const char *path, const char *query);

/* The config file: -c, or CTL_DEFAULT_CONFIG. */
const char *ctl_config_path(const struct ctl_opts *o);

/* The state directory: --state-dir, or state_dir of the config file.
 * Returns a malloc'd path or NULL after printing why. */
char *ctl_state_dir(const struct ctl_opts *o);

/* argv[0] is the subcommand's name ("rules", "persons", ...).  Each
 * prints its own --help and accepts --json after its name too. */
int ctl_rules(const struct ctl_opts *o, int argc, char **argv);
int ctl_persons(const struct ctl_opts *o, int argc, char **argv);
/* ledger.c: ledger query, ledger export (reads STATE_DIR/ledger.db) */
int ctl_ledger(const struct ctl_opts *o, int argc, char **argv);
/* report.c: report DAY [--html FILE] (reads STATE_DIR/ledger.db) */
int ctl_report(const struct ctl_opts *o, int argc, char **argv);
/* live.c: status, watch, open, mode (through the control socket) */
int ctl_status(const struct ctl_opts *o, int argc, char **argv);
int ctl_watch(const struct ctl_opts *o, int argc, char **argv);
int ctl_open(const struct ctl_opts *o, int argc, char **argv);
int ctl_mode(const struct ctl_opts *o, int argc, char **argv);
/* sign.c: keygen, sign (remote administration; files only) */
int ctl_keygen(const struct ctl_opts *o, int argc, char **argv);
int ctl_sign(const struct ctl_opts *o, int argc, char **argv);

/* What sign is to build, for push: sign's options as strings (NULL: not
 * given), checked as sign checks them; gate NULL with all set. */
struct sign_req {
	const char *key, *key_id, *site, *gate;
	int all;
	const char *kind;		/* rules, lists, rollback, cmd */
	const char *version, *expires;	/* as --version, --expires */
	const char *input;		/* the rules or lists file; "-": stdin */
	const char *cmd, *lane, *mode, *id;	/* --kind cmd */
};

/* Sign in memory: CTL_OK with *envelope (malloc'd, NUL-terminated, one
 * line without a newline; the caller frees it) and *len, or CTL_FAIL /
 * CTL_USAGE after printing why (the messages say "wicketctl sign"). */
int ctl_sign_build(const struct sign_req *r, char **envelope, size_t *len);

/* sign.c: the Ed25519 private key at path (wicketctl keygen); NULL after
 * printing why, as "wicketctl CMD: --key PATH: ...".  An EVP_PKEY. */
struct evp_pkey_st;
struct evp_pkey_st *ctl_load_key(const char *cmd, const char *path);

/* push.c: push (sign, publish to the gates over MQTT, collect answers) */
int ctl_push(const struct ctl_opts *o, int argc, char **argv);

/* pass.c: pass issue, pass verify (signed QR passes; files only) */
int ctl_pass(const struct ctl_opts *o, int argc, char **argv);

#endif
