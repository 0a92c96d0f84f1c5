/*
 * gatepass: what the gate makes of a signed QR pass (pass.h) read at a
 * lane.  Pure apart from one registry.db read: the core hands it the code
 * a scanner sent, the time, the issuer keys and its registry connection,
 * and gets back the pass's verdict, the facts for the rules (a reg_match,
 * so that reg_facts() works as for a card), a short credential string for
 * the ledger and MQTT, and a message for the log.  docs/passes.md, "At the
 * gate", is the operator's description.
 *
 * The subject is read from registry.db (reg_db_person, reg_db_household),
 * not from the loaded copy, which keeps no ids: one indexed query, about
 * 5 us at a million persons, no memory; registry.h says why the two are
 * not mixed.
 *
 * Verdicts, in the order they are found (the first one wins):
 *   pass_malformed .. pass_expired, pass_internal_error  pass_verify()'s
 *   pass_unknown_subject  the signature and window are good, but the
 *                         person or household is not in the registry, or
 *                         the household has no members
 *   pass_internal_error   also: no registry connection, or it failed
 *
 * The facts (out->match):
 *   - a good person pass: the person's, exactly as a valid card of theirs
 *     gives them (reg_db_person): their own validity window, role,
 *     household, host, quarantine, observation, blocked.  The pass's
 *     window was checked by pass_verify(); the person's still applies.
 *   - a good household pass: credential VALID, pid 0 (no one person),
 *     hid the household, and what is safe whoever of its members holds it,
 *     since the gate cannot tell which one does:
 *       blocked, quarantine, observation  if any member is (a pass must
 *                        not walk a blocked or quarantined member out);
 *       role             the most restricted of the members' roles:
 *                        courier, then visitor, tenant, resident, staff
 *                        (the shipped rules keep couriers out, limit
 *                        visitors most, count residents' and tenants'
 *                        outings in lockdown, and staff's not; a tenancy
 *                        ends, so tenant ranks after resident);
 *       host             set only if every member has one;
 *       person           valid while at least one member's own
 *                        registration is valid (else not yet valid if one
 *                        is, else expired): members whose tenancy ended
 *                        do not shut out the household.
 *     Members are the persons whose household it is, not the visitors it
 *     hosts.  Passback cannot apply (pid 0); a quota counts the household.
 *   - an expired or not-yet-valid pass: its signature was checked before
 *     its window (pass.h), so its subject is known: the facts as above
 *     with credential EXPIRED or NOT_YET_VALID, like a card outside its
 *     window; UNKNOWN if the subject is not in the registry.
 *   - any other refusal: credential UNKNOWN, no person.
 *
 * The rules then decide as for a card; gp_refine() gives a refused pass
 * its own reason code where the rules denied it for its credential state.
 *
 * The credential string: "pass KEYID SERIAL" ("pass ops-2026 3735928559"),
 * or "pass malformed" when the token did not parse; a key id longer than
 * 47 characters is cut to 38, "~" and 8 hex digits of its FNV-1a hash, so
 * the string is at most 63 bytes (the ledger's field).  The space makes it
 * impossible as a registry credential value (printable ASCII without
 * spaces, docs/registry.md), so a pass can never be mistaken in the ledger for a
 * card the registry could hold; "~" is not a key id character, so a cut
 * id is recognisable.  Issuer and serial are what wicketctl pass
 * issue/verify print, so an operator can find the pass; the token itself
 * (its subject id decodes from it) is never logged, recorded or
 * published, nor is the subject id in the message (docs/privacy.md: ids
 * stay on the board, in the ledger's id columns).
 *
 * In the core, for a code that gp_is_pass(): gp_check() with the time of
 * the read, reg_facts(&r.match, &f) where a card has reg_lookup() and
 * reg_facts(), the history by r.match.pid and r.match.hid, rules_eval(),
 * then gp_refine(&r, &v); record r.credential as the credential and the
 * names of r.match.pid / r.match.hid; log r.message.
 */
#ifndef WICKET_GATEPASS_H
#define WICKET_GATEPASS_H

#include <stddef.h>
#include <stdint.h>

#include "pass.h"
#include "registry.h"
#include "rules.h"

#define GP_CODE_MAX 1024	/* what a reader hands over (WK_CODE_MAX) */
#define GP_CREDENTIAL_MAX 64	/* bytes with the NUL: the ledger's field */
#define GP_MESSAGE_MAX 160

enum gp_verdict {
	GP_OK = 0,
	GP_MALFORMED,
	GP_UNKNOWN_ISSUER,
	GP_TAMPERED,
	GP_NOT_YET_VALID,
	GP_EXPIRED,
	GP_INTERNAL,		/* not a verdict on the pass: deny all the same */
	GP_UNKNOWN_SUBJECT,
};

struct gp_result {
	enum gp_verdict verdict;
	/* parsed: the token parsed, so kind .. valid_until hold its word;
	 * verified: and its signature checked out, so they are the issuer's
	 * word (OK, NOT_YET_VALID, EXPIRED, UNKNOWN_SUBJECT, and INTERNAL
	 * when the registry failed) */
	int parsed, verified;
	enum pass_kind kind;
	char key_id[PASS_KEY_ID_MAX + 1];
	uint32_t serial;
	int64_t valid_from, valid_until;
	size_t members;		/* a household pass's members found */
	char credential[GP_CREDENTIAL_MAX];	/* "pass KEYID SERIAL" */
	char message[GP_MESSAGE_MAX];	/* for the log; no ids, no token */
	struct reg_match match;	/* for reg_facts() */
};

/* A code of len bytes is a pass, not a card number, when it starts with
 * "WKP1." in any case: a token whose case a scanner changed is then
 * refused as malformed instead of being looked up (and recorded) as a
 * card.  So no card value may start with it. */
int gp_is_pass(const char *code, size_t len);

/* Verify the code of len bytes (no NUL needed) at Unix time now_s against
 * keys (NULL: none) and find its subject in db (NULL: none; a good pass is
 * then pass_internal_error).  Always fills *out.  Returns 0 for GP_OK,
 * -EACCES for a refusal of the pass, or -errno for GP_INTERNAL (-ENOMEM,
 * -EIO, -EBUSY, -ENODEV without db).  The first call loads OpenSSL's
 * default provider (pass.h).  Loop thread: db's thread. */
int gp_check(const struct pass_keys *keys, const char *code, size_t len,
	     int64_t now_s, struct reg_db *db, struct gp_result *out);

/* "ok", "pass_malformed", "pass_unknown_issuer", "pass_tampered",
 * "pass_not_yet_valid", "pass_expired", "pass_internal_error",
 * "pass_unknown_subject" */
const char *gp_code(enum gp_verdict v);

/* After rules_eval() on the facts of r: when the pass was refused and the
 * rules denied it for its credential state (reason unknown_credential,
 * revoked_credential, expired_credential or not_yet_valid_credential),
 * the reason becomes the pass's own code.  Any other verdict (an
 * emergency open, a fever, a good pass) is left as the rules gave it. */
void gp_refine(const struct gp_result *r, struct rules_verdict *v);

#endif
