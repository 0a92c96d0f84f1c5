/* libFuzzer: what a Modbus device or a profile can hand us.
 * The first bytes pick a value type and byte order; the rest are register
 * values for rm_decode and mbmap_decode_credential.  The same bytes, read
 * as `key = value` lines, go through every profile parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbmap.h"
#include "regmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ignore(void *ctx, const struct wk_conf_item *item, const char *fmt,
		  ...)
{
	(void)ctx;
	(void)item;
	(void)fmt;
	return -1;
}

static void registers(const uint8_t *data, size_t size)
{
	uint16_t regs[32] = { 0 };
	struct rm_value v = { .scale = 0.1 };
	struct mb_reader_map m = { 0 };
	char cred[WK_CREDENTIAL_MAX];
	double out;
	size_t n;

	if (size < 3)
		return;
	v.type = (enum rm_type)(data[0] % 5);
	v.order = (enum rm_order)(data[1] % 4);
	m.credential_format = data[2] % 2 ? MB_CRED_UINT32 : MB_CRED_ASCII;
	m.credential_length = m.credential_format == MB_CRED_UINT32 ? 2 : 1 + data[2] % 31;
	data += 3;
	size -= 3;
	n = size / 2 < 32 ? size / 2 : 32;
	for (size_t i = 0; i < n; i++)
		regs[i] = (uint16_t)(data[2 * i] << 8 | data[2 * i + 1]);
	if (rm_decode(&v, regs, &out) == 0) {
		uint16_t back[2];

		rm_encode(&v, out, back);
	}
	mbmap_decode_credential(&m, regs, cred, sizeof(cred));
}

static void profile(const uint8_t *data, size_t size)
{
	struct wk_conf_item items[32];
	struct wk_conf conf = { .name = "fuzz", .file = "fuzz", .line = 1 };
	unsigned char used[32];
	char *text = malloc(size + 1), *p, *save = NULL;
	size_t n = 0;

	if (text == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	for (p = strtok_r(text, "\n", &save); p && n < 32;
	     p = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(p, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		items[n].key = p;
		items[n].value = eq + 1;
		items[n].file = "fuzz";
		items[n].line = (int)n + 1;
		n++;
	}
	conf.n_items = n;
	conf.items = items;
	{
		struct mb_link l;
		struct mb_thermal_map t;
		struct mb_gate_map g;
		struct mb_reader_map r;

		memset(used, 0, sizeof(used));
		mbmap_parse_link(&conf, used, &l, ignore, NULL);
		mbmap_parse_thermal(&conf, used, &t, ignore, NULL);
		mbmap_check_unused(&conf, used, ignore, NULL);
		memset(used, 0, sizeof(used));
		mbmap_parse_gate(&conf, used, &g, ignore, NULL);
		memset(used, 0, sizeof(used));
		mbmap_parse_reader(&conf, used, &r, ignore, NULL);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	registers(data, size);
	profile(data, size);
	return 0;
}
