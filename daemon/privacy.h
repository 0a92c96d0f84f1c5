/*
 * privacy: what of a person leaves the board.  Events carry pseudonymous
 * person and household references, keyed hashes (HMAC-SHA-256) of the
 * registry's ids, that the community servers can map back with the same
 * key; the credential itself
 * and the temperature are sent only where [privacy] publish_fields asks
 * for them.  docs/privacy.md lists every personal datum and where it goes.
 */
#ifndef WICKET_PRIVACY_H
#define WICKET_PRIVACY_H

#include <stddef.h>

#define PRIVACY_KEY_MAX 64
#define PRIVACY_REF_LEN 32	/* hex characters: 128 bits */

struct privacy {
	unsigned char key[PRIVACY_KEY_MAX];
	size_t key_len;
	int publish_credential;
	int publish_temperature;
};

/* Read the key from path (at least 16 bytes; hex text or raw), or, when
 * path does not exist and create is set, write a new random 32-byte key
 * there (mode 0600).  On failure err says what and where. */
int privacy_load_key(struct privacy *p, const char *path, int create,
		     char *err, size_t errlen);
/* out: PRIVACY_REF_LEN hex characters and a NUL. */
void privacy_ref(const struct privacy *p, const char *person_id,
		 char out[PRIVACY_REF_LEN + 1]);
void privacy_household_ref(const struct privacy *p, const char *household_id,
			   char out[PRIVACY_REF_LEN + 1]);

#endif
