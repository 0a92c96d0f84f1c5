/*
 * privacy: the person and household references.  ref = the first 16
 * bytes of HMAC-SHA-256(key, "wicket-person:" person id) or of
 * (key, "wicket-household:" household id), in hex.  Without the key a
 * reference tells nothing about the id; with it a community server maps
 * its own registry to references.  The key is a file on the
 * board, made on first start unless one is provisioned.
 *
 * HMAC (RFC 2104) is put together here over OpenSSL's SHA-256 block
 * functions rather than called through EVP/HMAC(): OpenSSL 3 initialises
 * its whole default provider on the first EVP call, which costs wicketd
 * about 2 MB of resident memory for one hash.  The key comes from
 * getrandom() for the same reason.
 */
/* SHA256_Init() and friends are deprecated in OpenSSL 3, kept, and plain */
#define OPENSSL_API_COMPAT 0x10100000L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/random.h>

#include <openssl/sha.h>

#include "confval.h"
#include "privacy.h"

/* Hex text (optionally ending in a newline) becomes bytes; anything else
 * is taken as raw bytes. */
static size_t decode(const unsigned char *buf, size_t n, unsigned char *key)
{
	size_t len = n;

	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len % 2 == 0 && len / 2 <= PRIVACY_KEY_MAX) {
		size_t i;

		for (i = 0; i < len; i += 2) {
			int hi = cv_hexdigit(buf[i]), lo = cv_hexdigit(buf[i + 1]);

			if (hi < 0 || lo < 0)
				break;
			key[i / 2] = (unsigned char)(hi << 4 | lo);
		}
		if (i == len)
			return len / 2;
	}
	if (n > PRIVACY_KEY_MAX)
		n = PRIVACY_KEY_MAX;
	memcpy(key, buf, n);
	return n;
}

/* Write a new key to path.tmp, sync it, rename it into place and sync the
 * directory: a power cut leaves either no key or a whole one, never an
 * empty file that would stop the next start. */
static int create_key(const char *path, char *err, size_t errlen)
{
	unsigned char raw[32];
	char hex[66], tmp[4096], dir[4096], *slash;
	int fd, rc = 0;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		snprintf(err, errlen, "privacy key %s: no random bytes: %s",
			 path, strerror(errno));
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[64] = '\n';
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "privacy key %s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "privacy key %s: cannot create: %s", tmp,
			 strerror(errno));
		return rc;
	}
	if (write(fd, hex, 65) != 65 || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "privacy key %s: cannot write: %s", path,
			 strerror(-rc));
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		fd = open(slash == dir ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	return 0;
}

int privacy_load_key(struct privacy *p, const char *path, int create,
		     char *err, size_t errlen)
{
	unsigned char buf[2 * PRIVACY_KEY_MAX + 2];
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		rc = create_key(path, err, errlen);
		if (rc < 0)
			return rc;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		snprintf(err, errlen, "privacy key %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "privacy key %s: %s", path,
			 strerror(errno));
		return -EIO;
	}
	p->key_len = decode(buf, (size_t)n, p->key);
	if (p->key_len < 16) {
		snprintf(err, errlen,
			 "privacy key %s: %zu bytes; at least 16 are needed",
			 path, p->key_len);
		return -EINVAL;
	}
	return 0;
}

/* HMAC-SHA-256 (RFC 2104): H((K ^ opad) | H((K ^ ipad) | msg)), with K
 * padded to the 64-byte block (keys are at most PRIVACY_KEY_MAX, 64). */
static void hmac_sha256(const unsigned char *key, size_t key_len,
			const unsigned char *msg, size_t len,
			unsigned char mac[SHA256_DIGEST_LENGTH])
{
	unsigned char k[SHA256_CBLOCK] = { 0 }, pad[SHA256_CBLOCK];
	unsigned char inner[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;

	if (key_len > sizeof(k)) {
		SHA256(key, key_len, k);
	} else {
		memcpy(k, key, key_len);
	}
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	SHA256_Init(&c);
	SHA256_Update(&c, pad, sizeof(pad));
	SHA256_Update(&c, msg, len);
	SHA256_Final(inner, &c);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	SHA256_Init(&c);
	SHA256_Update(&c, pad, sizeof(pad));
	SHA256_Update(&c, inner, sizeof(inner));
	SHA256_Final(mac, &c);
}

static void ref(const struct privacy *p, const char *prefix, const char *id,
		char out[PRIVACY_REF_LEN + 1])
{
	unsigned char msg[32 + 64], mac[SHA256_DIGEST_LENGTH];
	size_t np = strlen(prefix), n = strlen(id);

	if (n > 63)
		n = 63;
	memcpy(msg, prefix, np);
	memcpy(msg + np, id, n);
	hmac_sha256(p->key, p->key_len, msg, np + n, mac);
	for (int i = 0; i < PRIVACY_REF_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	out[PRIVACY_REF_LEN] = '\0';
}

void privacy_ref(const struct privacy *p, const char *person_id,
		 char out[PRIVACY_REF_LEN + 1])
{
	ref(p, "wicket-person:", person_id, out);
}

void privacy_household_ref(const struct privacy *p, const char *household_id,
			   char out[PRIVACY_REF_LEN + 1])
{
	ref(p, "wicket-household:", household_id, out);
}
